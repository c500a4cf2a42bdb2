"""BSS Eval v4 as museval computes it, with memory bounded on long songs.

museval's v4 mode (`museval.evaluate(..., mode="v4")`, i.e. `museval.metrics.bss_eval` with
time-invariant filters and no permutation search) fits its 512-tap distortion filters on the
whole signal: it takes one FFT of every reference and every estimate at the next power of two
above the song's length: on a 10-minute song at 22.05 kHz, 2^24 complex128 values per signal.
The filters only need the signals' auto- and
cross-correlations at lags -511..511, so this module sums those correlations block by block
(exactly the same sums, in another order) and then runs museval's own per-window decomposition
and criteria (`_bss_decomp_mtifilt`, `_bss_crit`, `Framing`) unchanged. The references'
correlations, and the LU factors of the filters' normal equations (museval solves the same
matrix again for every estimate), are computed once and shared by every estimate scored
against them.
tests/test_bsseval.py checks the numbers against `museval.evaluate` itself.

Mono signals only (one channel), which is what this pipeline scores.
"""

import itertools
import warnings

import numpy as np
import scipy.linalg
import scipy.signal
from museval import metrics as mm

FILTERS_LEN = 512
BLOCK = 1 << 16  # samples of the second signal per correlation block


def xcorr(x: np.ndarray, y: np.ndarray, lags: int, block: int = BLOCK) -> np.ndarray:
    """Linear (not circular) cross-correlation of two signals at small lags, computed block by block.

    Memory stays bounded by the block, whatever the signals' length: the sum over n is split over
    blocks of y, each correlated (by FFT) with the stretch of x it meets.

    Args:
        x: samples (n_x,), zero outside.
        y: samples (n_y,), zero outside.
        lags: the number of non-negative lags; lags -(lags - 1) .. lags - 1 are computed.
        block: samples of y per block.

    Returns:
        float64 r (2 * lags - 1,): r[k + lags - 1] = sum_n x[n + k] y[n].
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    r = np.zeros(2 * lags - 1)
    pad = lags - 1
    for a in range(0, n, block):
        b = min(n, a + block)
        seg = np.zeros(b - a + 2 * pad)
        lo, hi = max(0, a - pad), min(len(x), b + pad)
        if hi > lo:
            seg[lo - (a - pad) : hi - (a - pad)] = x[lo:hi]
        r += scipy.signal.correlate(seg, y[a:b], mode="valid", method="fft")
    return r


class BssEvalV4:
    """museval's BSS Eval v4 against fixed references (nsrc, samples), mono.

    Call with estimates (nsrc, samples), estimate j being of reference j; returns
    (sdr, isr, sir, sar) in dB, each (nsrc, windows), NaN in windows where a reference or an
    estimate is silent, as museval returns them.

    Args:
        references: the true sources (nsrc, samples).
        win: the window of the per-window criteria, in samples.
        hop: the hop between windows, in samples.
        filters_len: taps of the distortion filters (museval's 512).
        block: samples per correlation block (see `xcorr`).
    """

    def __init__(
        self, references: np.ndarray, win: int, hop: int, filters_len: int = FILTERS_LEN, block: int = BLOCK
    ) -> None:
        self.refs = np.asarray(references, dtype=np.float64)
        self.win, self.hop, self.L, self.block = int(win), int(hop), int(filters_len), int(block)
        nsrc, L = self.refs.shape[0], self.L
        # museval: G[j, i] = toeplitz(c=[r_ji[0], r_ji[-1], ...], r=r_ji[0 .. L-1]), G[i, j] = its transpose
        G = np.zeros((nsrc, nsrc, 1, 1, L, L))
        for i, j in itertools.combinations_with_replacement(range(nsrc), 2):
            r = xcorr(self.refs[j], self.refs[i], L, self.block)  # r[k + L - 1] = sum s_j[n + k] s_i[n]
            ss = scipy.linalg.toeplitz(r[L - 1 :: -1], r[L - 1 :])
            G[j, i, 0, 0] = ss
            G[i, j, 0, 0] = ss.T
        self.G = G
        self._lu = {}

    def _factor(self, sources: list[int]) -> tuple[np.ndarray, tuple | None]:
        """(G, LU factors of G + eps I, or None where a pivot is exactly zero) of these sources, once."""
        key = tuple(sources)
        if key not in self._lu:
            G = mm._reshape_G(self.G[np.ix_(sources, sources)])
            A = G + np.finfo(float).eps * np.eye(G.shape[0])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
                lu, piv = scipy.linalg.lu_factor(A, check_finite=False)
            # np.linalg.solve (museval) raises LinAlgError on an exactly zero pivot: lstsq then
            self._lu[key] = (G, None if np.any(np.diag(lu) == 0) else (lu, piv))
        return self._lu[key]

    def _filters(self, sources: list[int], estimate: np.ndarray) -> np.ndarray:
        """museval's _compute_projection_filters(G[sources], sf[sources], estimate), mono: the same
        LAPACK LU solve (getrf + getrs, as np.linalg.solve's gesv), the factors kept."""
        L = self.L
        G, factors = self._factor(sources)
        D = np.stack([xcorr(self.refs[j], estimate, L, self.block)[L - 1 :: -1] for j in sources])
        D = D.reshape(len(sources) * L, 1)
        if factors is not None:
            C = scipy.linalg.lu_solve(factors, D, check_finite=False)
        else:
            C = np.linalg.lstsq(G, D, rcond=None)[0]
        return C.reshape(len(sources), 1, L, 1)

    def __call__(self, estimates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        estimates = np.asarray(estimates, dtype=np.float64)
        refs = self.refs
        nsrc, nsampl = refs.shape
        if estimates.shape != refs.shape:
            raise ValueError(f"estimates have shape {estimates.shape}, references {refs.shape}")
        everyone = list(range(nsrc))
        C = [self._filters(everyone, estimates[j]) for j in range(nsrc)]
        Cj = [self._filters([j], estimates[j])[0] for j in range(nsrc)]
        framer = mm.Framing(self.win, self.hop, nsampl)
        out = np.full((4, nsrc, framer.nwin), np.nan)
        r3, e3 = refs[:, :, None], estimates[:, :, None]
        for t, win in enumerate(framer):
            if mm._any_source_silent(r3[:, win]) or mm._any_source_silent(e3[:, win]):
                continue
            for j in range(nsrc):
                parts = mm._bss_decomp_mtifilt(r3[:, win], e3[j, win], j, C[j], Cj[j])
                out[:, j, t] = mm._bss_crit(*parts, False)
        sdr, isr, sir, sar = out
        return sdr, isr, sir, sar
