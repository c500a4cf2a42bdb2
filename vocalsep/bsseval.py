"""BSS Eval v4 as museval computes it, with memory bounded on long songs.

museval's v4 mode (`museval.evaluate(..., mode="v4")`, i.e. `museval.metrics.bss_eval` with
time-invariant filters and no permutation search) fits its 512-tap distortion filters on the
whole signal: it takes one FFT of every reference and every estimate at the next power of two
above the song's length: on a 10-minute song at 22.05 kHz, 2^24 complex128 values per signal.
The filters only need the signals' auto- and
cross-correlations at lags -511..511, so this module sums those correlations block by block
(exactly the same sums, in another order). The references' correlations, and the LU factors of
the filters' normal equations (museval solves the same matrix again for every estimate), are
computed once and shared by every estimate scored against them.

Each 1 s window is then decomposed as museval's `_bss_decomp_mtifilt` defines it: the window's
true source (zero-padded by the filter length), its projection through the estimate's own
filter, the projection through all the references' filters, and what is left of the estimate;
and scored with museval's v4 criteria (`criteria`: SDR, ISR, SIR and SAR as energy ratios of
those parts). The windows (`windows`) and the silent-window rule are museval's too. museval
itself is not imported here: its package pulls in pandas, musdb and scipy.signal, whose imports
every scoring job would pay (README: the measurements). The projections are the same linear convolutions of
each window's reference samples, computed by FFT for a batch of windows at once, with the
references' transforms shared by the estimates of one call (museval convolves window by window,
source by source, estimate by estimate): the numbers agree to rounding.
tests/test_bsseval.py checks the numbers against `museval.evaluate` itself.

Mono signals only (one channel), which is what this pipeline scores.
"""

import itertools
import threading
import warnings

import numpy as np
import scipy.fft
import scipy.linalg

FILTERS_LEN = 512
BLOCK = 1 << 16  # samples of the second signal per correlation block
WINDOW_BATCH = 32  # windows decomposed at once (bounds memory: 32 x 1 s windows is ~6 MB per array)


def xcorr(xs: np.ndarray, ys: np.ndarray, lags: int, block: int = BLOCK) -> np.ndarray:
    """Linear (not circular) cross-correlations of signals at small lags, computed block by block.

    Memory stays bounded by the block, whatever the signals' length: the sum over n is split over
    blocks of y, each correlated (by FFT) with the stretch of x it meets. Every pair (x, y) is
    computed in one pass, each stretch's and each block's transform taken once.

    Args:
        xs: samples (n_x,), or signals (count_x, n_x), zero outside.
        ys: samples (n_y,), or signals (count_y, n_y), zero outside.
        lags: the number of non-negative lags; lags -(lags - 1) .. lags - 1 are computed.
        block: samples of y per block.

    Returns:
        float64 r (2 * lags - 1,) for two 1-D signals, else (count_x, count_y, 2 * lags - 1):
        r[..., k + lags - 1] = sum_n x[n + k] y[n].
    """
    single = np.ndim(xs) == 1 and np.ndim(ys) == 1
    xs = np.atleast_2d(np.asarray(xs, dtype=np.float64))
    ys = np.atleast_2d(np.asarray(ys, dtype=np.float64))
    n, n_x = ys.shape[1], xs.shape[1]
    pad = lags - 1
    r = np.zeros((len(xs), len(ys), 2 * lags - 1))
    for a in range(0, n, block):
        b = min(n, a + block)
        nfft = scipy.fft.next_fast_len(b - a + 2 * pad, real=True)
        seg = np.zeros((len(xs), b - a + 2 * pad))  # x[a - pad .. b + pad), zero outside x
        lo, hi = max(0, a - pad), min(n_x, b + pad)
        if hi > lo:
            seg[:, lo - (a - pad) : hi - (a - pad)] = xs[:, lo:hi]
        spectra_x = scipy.fft.rfft(seg, nfft, axis=-1)[:, None, :]
        spectra_y = np.conj(scipy.fft.rfft(ys[:, a:b], nfft, axis=-1))[None, :, :]
        # circular correlation at shifts 0 .. 2 pad: no wrap, since nfft >= the stretch's length
        r += scipy.fft.irfft(spectra_x * spectra_y, nfft, axis=-1)[..., : 2 * pad + 1]
    return r[0, 0] if single else r


def windows(win: int, hop: int, length: int) -> list[slice]:
    """museval's framing of a signal into BSS Eval windows.

    Args:
        win: the window in samples.
        hop: the hop between windows in samples.
        length: the signal's length in samples.

    Returns:
        The windows as slices: floor((length - win + hop) / hop) of them, each `win` long, when
        `win` is shorter than the signal; else one window over the whole signal.
    """
    count = (length - win + hop) // hop if win < length else 1
    return [slice(t * hop, min(t * hop + win, length)) for t in range(count)]


def criteria(s_true: np.ndarray, e_spat: np.ndarray, e_interf: np.ndarray,
             e_artif: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """BSS Eval v4's images criteria (museval's `_bss_crit` in v4 mode), over the last axis.

    Args:
        s_true: the true source's part of the estimate (..., samples).
        e_spat: the spatial (filtering) distortion, the same shape.
        e_interf: the interference of the other sources, the same shape.
        e_artif: the artefacts, the same shape.

    Returns:
        (sdr, isr, sir, sar) in dB, each of the leading shape; +inf where the error's energy is 0.
    """
    def db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den == 0, np.inf, 10 * np.log10(num / np.where(den == 0, 1.0, den)))

    def energy(x: np.ndarray) -> np.ndarray:
        return np.sum(x**2, axis=-1)

    target = energy(s_true)
    sdr = db(target, energy(e_spat + e_interf + e_artif))
    isr = db(target, energy(e_spat))
    sir = db(energy(s_true + e_spat), energy(e_interf))
    sar = db(energy(s_true + e_spat + e_interf), energy(e_artif))
    return sdr, isr, sir, sar


class BssEvalV4:
    """museval's BSS Eval v4 against fixed references (nsrc, samples), mono.

    Call with estimates (nsrc, samples), estimate j being of reference j; returns
    (sdr, isr, sir, sar) in dB, each (nsrc, windows), NaN in windows where a reference or an
    estimate is silent, as museval returns them. One instance may score estimates on several
    threads at once: they share the references' correlations and the factors.

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
        rr = xcorr(self.refs, self.refs, L, self.block)  # rr[j, i, k + L - 1] = sum s_j[n + k] s_i[n]
        for i, j in itertools.combinations_with_replacement(range(nsrc), 2):
            r = rr[j, i]
            ss = scipy.linalg.toeplitz(r[L - 1 :: -1], r[L - 1 :])
            G[j, i, 0, 0] = ss
            G[i, j, 0, 0] = ss.T
        self.G = G
        self._lu = {}
        self._lu_lock = threading.Lock()  # estimates scored on several threads factor each matrix once

    def _factor(self, sources: list[int]) -> tuple[np.ndarray, tuple | None]:
        """(G, LU factors of G + eps I, or None where a pivot is exactly zero) of these sources, once."""
        key = tuple(sources)
        with self._lu_lock:
            if key not in self._lu:
                L = self.L  # museval's _reshape_G, mono: block (a, b) of the matrix is G[a, b]
                G = self.G[np.ix_(sources, sources)][:, :, 0, 0].transpose(0, 2, 1, 3)
                G = G.reshape(len(sources) * L, len(sources) * L)
                A = G + np.finfo(float).eps * np.eye(G.shape[0])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
                    lu, piv = scipy.linalg.lu_factor(A, check_finite=False)
                # np.linalg.solve (museval) raises LinAlgError on an exactly zero pivot: lstsq then
                self._lu[key] = (G, None if np.any(np.diag(lu) == 0) else (lu, piv))
            return self._lu[key]

    def _filters(self, sources: list[int], correlations: np.ndarray) -> np.ndarray:
        """museval's _compute_projection_filters(G[sources], sf[sources], estimate), mono: the same
        LAPACK LU solve (getrf + getrs, as np.linalg.solve's gesv), the factors kept.

        correlations: (nsrc, L), every reference's correlation with the estimate at lags 0 .. L - 1
        (museval's D)."""
        L = self.L
        G, factors = self._factor(sources)
        D = correlations[sources]
        D = D.reshape(len(sources) * L, 1)
        if factors is not None:
            lu, piv = factors
            # a copy of the pivots for each solve: scipy's getrs wrapper turns them 1-based and back
            # in place around the LAPACK call, so threads solving with one array at once corrupt them
            C = scipy.linalg.lu_solve((lu, piv.copy()), D, check_finite=False)
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
        L = self.L
        correlations = xcorr(refs, estimates, L, self.block)[:, :, L - 1 :: -1]  # (refs, estimates, L)
        C = [self._filters(everyone, correlations[:, j])[:, 0, :, 0] for j in range(nsrc)]
        Cj = [self._filters([j], correlations[:, j])[0, 0, :, 0] for j in range(nsrc)]
        framing = windows(self.win, self.hop, nsampl)
        out = np.full((4, nsrc, len(framing)), np.nan)
        by_length = {}
        for t, win in enumerate(framing):
            # museval skips a window where any reference or any estimate is silent throughout
            if np.any(refs[:, win], axis=1).all() and np.any(estimates[:, win], axis=1).all():
                by_length.setdefault(win.stop - win.start, []).append(t)
        for length, scored in by_length.items():
            for a in range(0, len(scored), WINDOW_BATCH):
                batch = scored[a : a + WINDOW_BATCH]
                starts = [framing[t].start for t in batch]
                out[:, :, batch] = self._score_windows(estimates, starts, length, C, Cj)
        sdr, isr, sir, sar = out
        return sdr, isr, sir, sar

    def _score_windows(self, estimates: np.ndarray, starts: list[int], length: int, C: list[np.ndarray],
                       Cj: list[np.ndarray]) -> np.ndarray:
        """museval's decomposition and criteria of every source in a batch of windows of one length.

        C[j]: estimate j's filters on every reference (nsrc, L); Cj[j]: on its own (L,). Returns
        (sdr, isr, sir, sar) stacked: (4, nsrc, windows of the batch)."""
        L = self.L
        out = np.empty((4, len(C), len(starts)))
        n = length + L - 1  # a window's samples and its projections' tails
        nfft = scipy.fft.next_fast_len(n, real=True)
        refs = np.stack([self.refs[:, s : s + length] for s in starts], axis=1)  # (nsrc, batch, length)
        ests = np.stack([estimates[:, s : s + length] for s in starts], axis=1)
        spectra = scipy.fft.rfft(refs, nfft, axis=-1)  # every estimate's projections use these
        for j in range(len(C)):
            own = scipy.fft.irfft(spectra[j] * scipy.fft.rfft(Cj[j], nfft), nfft, axis=-1)[:, :n]
            filters = scipy.fft.rfft(C[j], nfft, axis=-1)[:, None, :]
            every = scipy.fft.irfft((spectra * filters).sum(axis=0), nfft, axis=-1)[:, :n]
            s_true = np.zeros((len(starts), n))
            s_true[:, :length] = refs[j]
            e_spat = own - s_true
            e_interf = every - s_true - e_spat
            e_artif = -s_true - e_spat - e_interf
            e_artif[:, :length] += ests[j]
            out[:, j, :] = criteria(s_true, e_spat, e_interf, e_artif)
        return out
