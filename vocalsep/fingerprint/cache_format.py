"""What the fingerprint cache's sidecars hold: the settings of a view's file, and the signal's checksum.

The writer (`cache`) stores this dict beside every .npy; the reader (`cache_reader`) rebuilds it
from the settings of its run and compares: one definition serves both.
"""

import hashlib

import numpy as np
import torch

from .. import __version__
from .metrics import COLUMNS, GROUPS, N_METRICS, NOT_DIFFERENTIABLE, PROFILE_POINTS
from .views import POOLED, VIEW_DESCRIPTIONS, VIEW_NAMES


def signal_digest(signal: np.ndarray | torch.Tensor) -> str:
    """SHA-256 of a signal's float32 samples: the sidecars name the signal they were made from.

    Args:
        signal: the samples (any shape; converted to little-endian float32 first).

    Returns:
        The hex digest.
    """
    return hashlib.sha256(np.ascontiguousarray(signal, dtype="<f4").data).hexdigest()


def sidecar(n_fft: int, hop: int, sr: int, k: int, windows: int, samples: int, signal_sha256: str | None) -> dict:
    """The settings and column names stored beside view k of one scale.

    Args:
        n_fft: the scale's STFT size.
        hop: its hop, in samples.
        sr: the sample rate, in Hz.
        k: the view number, 0-18.
        windows: the rows of the view's file (half the STFT windows for the pooled views).
        samples: the signal's length, in samples.
        signal_sha256: the signal's `signal_digest` (None where a reader does not check it).

    Returns:
        The sidecar, a JSON-ready dict.
    """
    pooled = k in POOLED
    return {
        "vocalsep_version": __version__,
        "view": k, "view_name": VIEW_NAMES[k], "view_description": VIEW_DESCRIPTIONS[VIEW_NAMES[k]],
        "sample_rate": sr, "n_fft": n_fft, "hop": hop, "window": "hann", "centered": True,
        "samples": samples, "windows": windows, "signal_sha256": signal_sha256,
        "window_hop_seconds": (2 * hop if pooled else hop) / sr,
        "profile_points": PROFILE_POINTS, "profile_grid_hz": [0.0, sr / 2],
        "dtype": "float32", "shape": [windows, N_METRICS],
        "groups": {g: [s.start, s.stop] for g, s in GROUPS.items()},
        "not_differentiable": list(NOT_DIFFERENTIABLE),
        "columns": list(COLUMNS),
    }
