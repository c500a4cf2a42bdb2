"""Separation quality: BSS Eval v4 (as museval computes it, 1 s windows, median) and SI-SDR.

Every method (fingerprint matching, oracles, REPET-SIM, U-Net, the mixture floor)
is scored by `score`, so their numbers are comparable.
"""

import json

import numpy as np

from .audio import write_text

METRIC_NAMES = ("SDR", "SIR", "SAR", "SI-SDR")


def si_sdr(reference, estimate, eps=1e-12):
    """Scale-invariant SDR in dB (Le Roux et al. 2019), of 1-D signals."""
    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    n = min(len(reference), len(estimate))
    reference, estimate = reference[:n], estimate[:n]
    alpha = np.dot(estimate, reference) / (np.dot(reference, reference) + eps)
    target = alpha * reference
    noise = estimate - target
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def _median(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def score(vocal_ref, accomp_ref, vocal_est, accomp_est, sr):
    """Score a two-source estimate.

    Returns {"vocals": {SDR, SIR, SAR, SI-SDR}, "accompaniment": {...}}, the first three from
    BSS Eval v4 as museval computes it, with 1 s windows and hops (median over windows, silent
    windows skipped as museval does), SI-SDR over the whole signal.
    """
    return score_methods(vocal_ref, accomp_ref, {"estimate": (vocal_est, accomp_est)}, sr)["estimate"]


def score_methods(vocal_ref, accomp_ref, estimates, sr):
    """{method: score(...)} of several (vocal, accompaniment) estimates of the same references.

    The references' correlations are computed once for all of them (vocalsep.bsseval: museval's
    BSS Eval v4 with the whole-song filters fitted block by block, so a long song's memory stays
    bounded). `estimates` may be any iterable of (method, (vocal, accompaniment)) pairs or a dict,
    so that estimates can be made one at a time.
    """
    from .bsseval import BssEvalV4

    refs = [np.asarray(x, dtype=np.float64) for x in (vocal_ref, accomp_ref)]
    n = min(len(x) for x in refs)
    evaluator = BssEvalV4(np.stack([x[:n] for x in refs]), win=sr, hop=sr)
    items = estimates.items() if isinstance(estimates, dict) else estimates
    result = {}
    for method, (vocal_est, accomp_est) in items:
        # museval pads a short estimate with zeros and truncates a long one to the references' length
        ests = np.zeros((2, n))
        for i, x in enumerate((vocal_est, accomp_est)):
            x = np.asarray(x, dtype=np.float64)[:n]
            ests[i, : len(x)] = x
        sdr, _isr, sir, sar = evaluator(ests)
        result[method] = {
            name: {"SDR": _median(sdr[i]), "SIR": _median(sir[i]), "SAR": _median(sar[i]),
                   "SI-SDR": si_sdr(refs[i][:n], ests[i])}
            for i, name in enumerate(("vocals", "accompaniment"))
        }
    return result


def write_metrics(path, song, mode, methods, extra=None):
    """Write a song's metrics.json: {"song", "mode", "methods": {method: score(...)}, **extra}."""
    payload = {"song": song, "mode": mode, "methods": methods}
    payload.update(extra or {})
    write_text(path, json.dumps(payload, indent=2, allow_nan=True) + "\n")
