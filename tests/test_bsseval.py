"""vocalsep.bsseval against museval itself: the same BSS Eval v4 numbers, block-wise correlations."""

import warnings
from concurrent.futures import ThreadPoolExecutor

import museval
import numpy as np
import pytest
from museval import metrics as mm

from vocalsep.bsseval import BssEvalV4, criteria, windows, xcorr
from vocalsep.evaluate import score, score_methods


def test_xcorr_is_the_linear_cross_correlation():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(1000), rng.standard_normal(1000)
    lags = 7
    full = np.correlate(x, y, mode="full")  # full[k + len(y) - 1] = sum_n x[n + k] y[n]
    want = full[len(y) - 1 - (lags - 1) : len(y) + lags - 1]
    for block in (64, 333, 5000):
        np.testing.assert_allclose(xcorr(x, y, lags, block), want, rtol=1e-10, atol=1e-9)
    # several signals at once: every pair, as one pair at a time
    xs, ys = rng.standard_normal((3, 900)), rng.standard_normal((2, 1000))
    many = xcorr(xs, ys, lags, 256)
    assert many.shape == (3, 2, 2 * lags - 1)
    for i, j in np.ndindex(3, 2):
        np.testing.assert_allclose(many[i, j], xcorr(xs[i], ys[j], lags, 256), rtol=1e-12, atol=1e-12)
        full = np.correlate(xs[i], ys[j], mode="full")
        np.testing.assert_allclose(many[i, j], full[len(ys[j]) - lags : len(ys[j]) + lags - 1], atol=1e-9)


def _pair(sr, seconds, seed=0):
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n)
    vocal = rng.standard_normal(n) * np.sin(t / 700.0) ** 2
    vocal[2 * sr : 3 * sr] = 0.0  # a silent window: NaN in both
    acc = 0.5 * rng.standard_normal(n) + np.sin(2 * np.pi * 110 * t / sr)
    return vocal, acc


@pytest.mark.parametrize("block, batch", [(3000, 32), (1 << 16, 4)])
def test_same_numbers_as_museval_evaluate(block, batch, monkeypatch):
    """Windows decomposed in batches of `batch` (several batches, a short last one) as museval does."""
    monkeypatch.setattr("vocalsep.bsseval.WINDOW_BATCH", batch)
    sr = 8000
    vocal, acc = _pair(sr, 6.4)
    rng = np.random.default_rng(2)
    est = np.convolve(vocal + 0.3 * acc, [0.9, 0.2, -0.1])[: len(vocal)] + 0.02 * rng.standard_normal(len(vocal))
    refs, ests = np.stack([vocal, acc]), np.stack([est, vocal + acc - est])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = museval.evaluate(refs[:, :, None], ests[:, :, None], win=sr, hop=sr)
    got = BssEvalV4(refs, sr, sr, block=block)(ests)
    for name, w, g in zip(("SDR", "ISR", "SIR", "SAR"), want, got):
        assert g.shape == w.shape == (2, 6), name
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        assert np.isnan(g[:, 2]).all()  # the silent window
        np.testing.assert_allclose(g[~np.isnan(g)], w[~np.isnan(w)], atol=1e-8, err_msg=name)


def test_score_methods_shares_references_and_pads_like_museval():
    sr = 8000
    vocal, acc = _pair(sr, 4.0, seed=3)
    mix = vocal + acc
    short = (0.8 * vocal)[:-500]  # museval pads a short estimate with zeros
    many = score_methods(vocal, acc, iter([("good", (0.8 * vocal, mix - 0.8 * vocal)), ("floor", (mix, mix)),
                                           ("short", (short, mix[: len(short)] - short))]), sr)
    assert list(many) == ["good", "floor", "short"]
    assert many["good"] == score(vocal, acc, 0.8 * vocal, mix - 0.8 * vocal, sr)
    assert many["good"]["vocals"]["SDR"] == pytest.approx(20 * np.log10(1 / 0.2), abs=0.1)  # 0.8 v: error 0.2 v
    assert many["floor"]["vocals"]["SDR"] < 5
    padded = np.zeros_like(vocal)
    padded[: len(short)] = short
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sdr = museval.evaluate(np.stack([vocal, acc])[:, :, None],
                               np.stack([padded, mix - padded])[:, :, None], win=sr, hop=sr)[0]
    assert many["short"]["vocals"]["SDR"] == pytest.approx(float(np.nanmedian(sdr[0])), abs=1e-8)


def test_windows_are_museval_framing():
    for win, hop, length in [(8000, 8000, 51200), (8000, 8000, 48000), (8000, 4000, 30001), (8000, 8000, 5000),
                             (8000, 8000, 8000), (22050, 22050, 103635)]:
        assert windows(win, hop, length) == list(mm.Framing(win, hop, length)), (win, hop, length)


def test_criteria_are_museval_bss_crit_v4():
    """Batched over windows, the same numbers as museval's per-window _bss_crit, +inf on a zero error."""
    rng = np.random.default_rng(7)
    parts = rng.standard_normal((4, 3, 900))
    parts[1:, 2] = 0.0  # a window with no error at all: every criterion is +inf
    got = criteria(*parts)
    for b in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = mm._bss_crit(*(x[b][:, None] for x in parts), False)
        np.testing.assert_allclose([g[b] for g in got], want, atol=1e-10)
    assert np.isinf([g[2] for g in got]).all()


def test_the_scoring_and_the_baselines_import_neither_librosa_nor_matplotlib():
    """Nor museval, pandas or scipy.signal: seconds of start-up in every scoring job for nothing."""
    import subprocess
    import sys

    code = ("import sys; import vocalsep.evaluate, vocalsep.bsseval, vocalsep.baselines, vocalsep.fingerprint.song, "
            "vocalsep.matching; "
            "print(sorted(m for m in ('librosa', 'numba', 'matplotlib', 'museval', 'pandas', 'scipy.signal') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_signal_shorter_than_the_window_as_museval():
    """One window, shorter than `win`: museval scores the whole signal; so does the batched decomposition."""
    sr = 8000
    rng = np.random.default_rng(5)
    vocal, acc = rng.standard_normal(5000), rng.standard_normal(5000)
    est = np.convolve(0.8 * vocal + 0.1 * acc, [1.0, 0.3])[:5000] + 0.05 * rng.standard_normal(5000)
    refs, ests = np.stack([vocal, acc]), np.stack([est, vocal + acc - est])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = museval.evaluate(refs[:, :, None], ests[:, :, None], win=sr, hop=sr)
    got = BssEvalV4(refs, sr, sr)(ests)
    for w, g in zip(want, got):
        assert g.shape == w.shape == (2, 1)
        np.testing.assert_allclose(g, w, atol=1e-8)


def test_one_evaluator_scores_on_several_threads_at_once_with_the_serial_numbers():
    """The match job scores the baselines on a thread beside its own: one evaluator, shared.

    scipy's `lu_solve` wrapper turns the shared pivots 1-based and back in place around LAPACK's
    getrs, so solves that overlap on one pivot array go wrong; each solve takes a copy."""
    sr = 8000
    vocal, acc = _pair(sr, 3.0, seed=5)
    rng = np.random.default_rng(5)
    estimates = [np.stack([g * vocal + 0.05 * rng.standard_normal(len(vocal)), acc + (1 - g) * vocal])
                 for g in (0.5, 0.7, 0.9, 1.1)]
    refs = np.stack([vocal, acc])
    serial = [BssEvalV4(refs, sr, sr)(e) for e in estimates]
    for _ in range(6):
        shared = BssEvalV4(refs, sr, sr)
        with ThreadPoolExecutor(4) as pool:
            futures = [[pool.submit(shared, e) for e in estimates] for _ in range(3)]
            for row in futures:
                for want, future in zip(serial, row):
                    for w, g in zip(want, future.result()):
                        np.testing.assert_array_equal(g, w)
