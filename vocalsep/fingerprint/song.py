"""The per-song job of the fingerprint cache (rule fingerprint): one prepared source (mix or
vocal), 19 views x all scales."""

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from .. import SAMPLE_RATE
from ..audio import load_mono
from .cache import write_fingerprint

log = logging.getLogger(__name__)


def fingerprint_song(audio_path: str | Path, out_dir: str | Path, scales: Sequence[int], hop_fraction: float,
                     sr: int = SAMPLE_RATE) -> list[Path]:
    """Write the fingerprint cache of one prepared wav (read as mono at sr).

    Args:
        audio_path: the audio file (any format the audio module reads).
        out_dir: the cache's folder.
        scales: the STFT sizes.
        hop_fraction: the hop as a fraction of n_fft.
        sr: the sample rate to fingerprint at, in Hz.

    Returns:
        The .npy paths written.
    """
    signal = load_mono(audio_path, sr)
    t0 = time.perf_counter()
    paths = write_fingerprint(signal, sr, out_dir, scales, hop_fraction)
    log.info("%s: %d views in %.1f s (%.1f s of audio)", audio_path, len(paths), time.perf_counter() - t0,
             len(signal) / sr)
    return paths
