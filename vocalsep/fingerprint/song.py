"""The per-song job of the fingerprint cache (rule fingerprint): one prepared source (mix or
vocal), 19 views x all scales."""

import logging
import time

from .. import SAMPLE_RATE
from ..audio import load_mono
from .cache import write_fingerprint

log = logging.getLogger(__name__)


def fingerprint_song(audio_path, out_dir, scales, hop_fraction, sr=SAMPLE_RATE):
    """Write the fingerprint cache of one prepared wav; returns the .npy paths."""
    signal = load_mono(audio_path, sr)
    t0 = time.perf_counter()
    paths = write_fingerprint(signal, sr, out_dir, scales, hop_fraction)
    log.info("%s: %d views in %.1f s (%.1f s of audio)", audio_path, len(paths), time.perf_counter() - t0,
             len(signal) / sr)
    return paths
