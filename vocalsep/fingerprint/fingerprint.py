"""Fingerprint of a signal at one or several STFT scales: views, then metrics, batched."""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..parallel import SERIAL, Workers
from ..stft import bin_frequencies, hop_length, stft
from .metrics import Anchors, window_metrics
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

    def view(self, k: int) -> torch.Tensor:
        """The metrics of one view.

        Args:
            k: the view number, 0-18 (see views.VIEW_NAMES).

        Returns:
            Its metrics, (windows, 425), or (windows // 2, 425) for the pooled views 17 and 18.
        """
        return self.full[k] if k < self.full.shape[0] else self.pooled[k - self.full.shape[0]]


HALO = 2                 # windows of context on each side of a block (the 5x5 blob kernel needs 2)
BLOCK_CELLS = 1 << 18    # windows x bins per block: small enough to stay in the CPU caches
MAX_BLOCK_WINDOWS = 512


def window_blocks(n_windows: int, n_bins: int) -> Iterator[tuple[int, int]]:
    """Consecutive blocks of windows, of about BLOCK_CELLS windows x bins each.

    Each block but the last holds an even number of windows, so that 2x2 pooling pairs the same
    windows as on the whole. (Splitting a short signal into more blocks, one per thread, is
    slower: a block's thousands of operations hand Python's lock over between the threads at
    every one of them.)

    Args:
        n_windows: the spectrogram's number of windows.
        n_bins: its number of frequency bins.

    Yields:
        (start, stop) of each block, in order, covering 0..n_windows.
    """
    size = max(8, min(MAX_BLOCK_WINDOWS, BLOCK_CELLS // max(n_bins, 1)) // 2 * 2)
    for start in range(0, n_windows, size):
        yield start, min(n_windows, start + size)


def block_views(mag: torch.Tensor, a: int, b: int,
                views: Iterable[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """compute_views(mag, views) restricted to windows a..b, from those windows and HALO more.

    The HALO neighbours on each side give the kernels their context, so the values are the same
    as on the whole spectrogram.

    Args:
        mag: magnitude spectrograms, (..., windows, bins).
        a: the first window, even (so that 2x2 pooling pairs the same windows as on the whole).
        b: the window after the last.
        views: the view numbers wanted (default all 19).

    Returns:
        (full, pooled) as compute_views gives them, of windows a..b and a // 2..b // 2.
    """
    lo, hi = max(0, a - HALO), min(mag.shape[-2], b + HALO)
    full, pooled = compute_views(mag[..., lo:hi, :], views)
    p0 = (a - lo) // 2
    return full[..., a - lo : b - lo, :], pooled[..., p0 : p0 + (b - a) // 2, :]


def block_metrics(mag: torch.Tensor, a: int, b: int, freqs: torch.Tensor, sr: int,
                  views: Iterable[int] | None = None,
                  anchors: Sequence[Anchors] | None = None) -> tuple[list[torch.Tensor], list[Anchors]]:
    """Views and metrics of windows a..b of a magnitude spectrogram.

    Args:
        mag: the magnitude spectrogram, (windows, bins).
        a: the first window, even.
        b: the window after the last.
        freqs: the bin centre frequencies in Hz, (bins,).
        sr: the sample rate, in Hz.
        views: the view numbers wanted (default all 19).
        anchors: (anchors_full, anchors_pooled) of the whole spectrogram, as `scale_metrics`
            takes them, to measure at (cut to the block here); None to search.

    Returns:
        ([full, pooled], [anchors_full, anchors_pooled]) of the block, in the layout of
        `scale_metrics`.
    """
    spans = ((a, b), (a // 2, a // 2 + (b - a) // 2))
    metrics, found = [], []
    for views_block, f, anc, (i, j) in zip(block_views(mag, a, b, views), (freqs, pooled_frequencies(freqs)),
                                            anchors or (None, None), spans):
        sub = None if anc is None else Anchors(anc.f0_hz[:, i:j], anc.formant_bins[:, i:j])
        m, got = window_metrics(views_block, f, sr, sub)
        rows = views_block.shape[:-1]
        metrics.append(m)
        found.append(Anchors(got.f0_hz.reshape(rows), got.formant_bins.reshape(*rows, 3)))
    return metrics, found


def scale_metrics(mag: torch.Tensor, n_fft: int, sr: int, anchors: Sequence[Anchors] | None = None,
                  views: Iterable[int] | None = None,
                  workers: Workers = SERIAL) -> tuple[torch.Tensor, torch.Tensor, Anchors, Anchors]:
    """Views and metrics of a magnitude spectrogram of one scale, block by block.

    Args:
        mag: the magnitude spectrogram, (windows, bins).
        n_fft: its STFT size (the bins are those of `bin_frequencies(n_fft, sr)`).
        sr: the sample rate, in Hz.
        anchors: optional (anchors_full, anchors_pooled) to measure at instead of searching, each
            with one row per (view, window), views first.
        views: the view numbers wanted (default all 19; see compute_views for the order).
        workers: the threads the blocks are spread over.

    Returns:
        (full, pooled, anchors_full, anchors_pooled): metrics (views, windows, 425) and the
        anchors, f0_hz (views, windows) and formant_bins (views, windows, 3).
    """
    freqs = bin_frequencies(n_fft, sr).to(mag.device)
    n_win = mag.shape[-2]
    given = None if anchors is None else [
        Anchors(a.f0_hz.reshape(-1, rows), a.formant_bins.reshape(-1, rows, 3))
        for a, rows in zip(anchors, (n_win, n_win // 2))]
    blocks = window_blocks(n_win, mag.shape[-1])
    parts = list(workers.map(lambda ab: block_metrics(mag, *ab, freqs, sr, views, given), blocks))
    result = []
    for k in range(2):
        m = torch.cat([p[0][k] for p in parts], dim=1)
        result.append((m, Anchors(*(torch.cat([getattr(p[1][k], f) for p in parts], dim=1)
                                    for f in ("f0_hz", "formant_bins")))))
    (full, a_full), (pooled, a_pooled) = result
    return full, pooled, a_full, a_pooled


def fingerprint_scale(signal: np.ndarray | torch.Tensor, sr: int, n_fft: int,
                      hop_fraction: float = 0.5) -> ScaleFingerprint:
    """The fingerprint of a signal at one scale, without gradients.

    Args:
        signal: the samples, 1-D.
        sr: the sample rate, in Hz.
        n_fft: the STFT size.
        hop_fraction: the hop as a fraction of n_fft.

    Returns:
        The metrics of its 19 views.
    """
    hop = hop_length(n_fft, hop_fraction)
    with torch.no_grad():
        x = torch.as_tensor(signal, dtype=torch.float32)
        mag = stft(x, n_fft, hop).abs()
        full, pooled, a_full, a_pooled = scale_metrics(mag, n_fft, sr)
    return ScaleFingerprint(n_fft, hop, full, pooled, a_full, a_pooled)


def fingerprint_signal(signal: np.ndarray | torch.Tensor, sr: int, scales: Sequence[int] = (2048, 1024, 512),
                       hop_fraction: float = 0.5) -> dict[int, ScaleFingerprint]:
    """`fingerprint_scale` at several scales.

    Args:
        signal, sr, hop_fraction: as `fingerprint_scale`.
        scales: the STFT sizes.

    Returns:
        {n_fft: ScaleFingerprint} for every scale.
    """
    return {n: fingerprint_scale(signal, sr, n, hop_fraction) for n in scales}
