"""Fingerprint of a signal at one or several STFT scales: views, then metrics, batched."""

from dataclasses import dataclass

import torch

from .metrics import Anchors, window_metrics
from .stft import bin_frequencies, hop_length, stft
from .views import compute_views, pooled_frequencies


@dataclass
class ScaleFingerprint:
    """The metrics of the 19 views at one scale.

    full: (17, windows, 425) for views 0-16; pooled: (2, windows // 2, 425) for views 17-18;
    anchors_full / anchors_pooled: the fundamentals and formant bins found in each window.
    """

    n_fft: int
    hop: int
    full: torch.Tensor
    pooled: torch.Tensor
    anchors_full: Anchors
    anchors_pooled: Anchors

    def view(self, k):
        """The (windows, 425) metrics of view k (0-18)."""
        return self.full[k] if k < self.full.shape[0] else self.pooled[k - self.full.shape[0]]


def scale_metrics(mag, n_fft, sr, anchors=None, views=None):
    """Views and metrics of a magnitude spectrogram (windows, bins) of one scale.

    anchors: optional (anchors_full, anchors_pooled) to measure at instead of searching.
    views: the view numbers wanted (default all 19; see compute_views for the order).
    Returns (full, pooled, anchors_full, anchors_pooled).
    """
    freqs = bin_frequencies(n_fft, sr).to(mag.device)
    full_v, pooled_v = compute_views(mag, views)
    a_full, a_pooled = anchors if anchors is not None else (None, None)
    full, a_full = window_metrics(full_v, freqs, sr, a_full)
    pooled, a_pooled = window_metrics(pooled_v, pooled_frequencies(freqs), sr, a_pooled)
    return full, pooled, a_full, a_pooled


def fingerprint_scale(signal, sr, n_fft, hop_fraction=0.5):
    """ScaleFingerprint of a 1-D signal (numpy or torch) at one scale, without gradients."""
    hop = hop_length(n_fft, hop_fraction)
    with torch.no_grad():
        x = torch.as_tensor(signal, dtype=torch.float32)
        mag = stft(x, n_fft, hop).abs()
        full, pooled, a_full, a_pooled = scale_metrics(mag, n_fft, sr)
    return ScaleFingerprint(n_fft, hop, full, pooled, a_full, a_pooled)


def fingerprint_signal(signal, sr, scales=(2048, 1024, 512), hop_fraction=0.5):
    """{n_fft: ScaleFingerprint} for every scale."""
    return {n: fingerprint_scale(signal, sr, n, hop_fraction) for n in scales}
