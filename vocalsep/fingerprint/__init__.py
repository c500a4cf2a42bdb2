"""Multi-scale spectral fingerprint: 19 views x 3 STFT scales x 425 metrics per window.

One code path in torch serves the cached fingerprint (no gradient) and the differentiable
matching loss (vocalsep.matching.loss), which imports this package (never the other way).
"""

from ..stft import bin_frequencies, hop_length, istft, stft
from .fingerprint import ScaleFingerprint, fingerprint_scale, fingerprint_signal
from .metrics import COLUMNS, GROUPS, N_METRICS, NOT_DIFFERENTIABLE, window_metrics
from .views import N_VIEWS, POOLED, VIEW_DESCRIPTIONS, VIEW_NAMES, compute_views, pooled_frequencies

__all__ = [
    "COLUMNS", "GROUPS", "N_METRICS", "NOT_DIFFERENTIABLE", "N_VIEWS", "POOLED", "VIEW_DESCRIPTIONS",
    "VIEW_NAMES", "ScaleFingerprint", "bin_frequencies", "compute_views", "fingerprint_scale",
    "fingerprint_signal", "hop_length", "istft", "pooled_frequencies", "stft", "window_metrics",
]
