"""Separation quality: BSS Eval v4 (as museval computes it, 1 s windows, median) and SI-SDR.

Every method (fingerprint matching, oracles, REPET-SIM, U-Net, the mixture floor)
is scored by `score`, so their numbers are comparable.
"""

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .audio import write_text

if TYPE_CHECKING:
    from .bsseval import BssEvalV4

METRIC_NAMES = ("SDR", "SIR", "SAR", "SI-SDR")

# {"vocals": {metric: dB}, "accompaniment": {metric: dB}}, as score returns it
Score = dict[str, dict[str, float]]


def si_sdr(reference: np.ndarray, estimate: np.ndarray, eps: float = 1e-12) -> float:
    """Scale-invariant SDR (Le Roux et al. 2019) of an estimate of a 1-D signal.

    Args:
        reference: the true signal, 1-D.
        estimate: its estimate, 1-D (both are cut to the shorter length).
        eps: keeps the ratio finite for silent signals.

    Returns:
        The SI-SDR in dB.
    """
    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    n = min(len(reference), len(estimate))
    reference, estimate = reference[:n], estimate[:n]
    alpha = np.dot(estimate, reference) / (np.dot(reference, reference) + eps)
    target = alpha * reference
    noise = estimate - target
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def _median(values: np.ndarray) -> float:
    """Median of the finite values (NaN when there are none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def score(vocal_ref: np.ndarray, accomp_ref: np.ndarray, vocal_est: np.ndarray, accomp_est: np.ndarray,
          sr: int) -> Score:
    """Score a two-source estimate.

    Args:
        vocal_ref: the true vocal, 1-D.
        accomp_ref: the true accompaniment, 1-D.
        vocal_est: the vocal estimate, 1-D (padded with zeros or cut to the references' length).
        accomp_est: the accompaniment estimate, 1-D (likewise).
        sr: the sample rate in Hz (the BSS Eval windows are 1 s).

    Returns:
        {"vocals": {SDR, SIR, SAR, SI-SDR}, "accompaniment": {...}} in dB, the first three from
        BSS Eval v4 as museval computes it, with 1 s windows and hops (median over windows, silent
        windows skipped as museval does), SI-SDR over the whole signal.
    """
    return score_methods(vocal_ref, accomp_ref, {"estimate": (vocal_est, accomp_est)}, sr)["estimate"]


def references(vocal_ref: np.ndarray, accomp_ref: np.ndarray, sr: int) -> "BssEvalV4":
    """BSS Eval v4 against one song's true sources, to share between calls of `score_methods`.

    Args:
        vocal_ref: the true vocal, 1-D.
        accomp_ref: the true accompaniment, 1-D (both are cut to the shorter length).
        sr: the sample rate in Hz (the windows and hops are 1 s).

    Returns:
        A bsseval.BssEvalV4 (safe to call from several threads at once).
    """
    from .bsseval import BssEvalV4

    refs = [np.asarray(x, dtype=np.float64) for x in (vocal_ref, accomp_ref)]
    n = min(len(x) for x in refs)
    return BssEvalV4(np.stack([x[:n] for x in refs]), win=sr, hop=sr)


def score_methods(vocal_ref: np.ndarray, accomp_ref: np.ndarray,
                  estimates: dict[str, tuple[np.ndarray, np.ndarray]]
                  | Iterable[tuple[str, tuple[np.ndarray, np.ndarray]]], sr: int,
                  evaluator: "BssEvalV4 | None" = None) -> dict[str, Score]:
    """Score several (vocal, accompaniment) estimates of the same references, as `score` does.

    The references' correlations are computed once for all of them (vocalsep.bsseval: museval's
    BSS Eval v4 with the whole-song filters fitted block by block, so a long song's memory stays
    bounded), and once for several calls that share an `evaluator`.

    Args:
        vocal_ref: the true vocal, 1-D.
        accomp_ref: the true accompaniment, 1-D.
        estimates: {method: (vocal, accompaniment)}, or any iterable of (method, (vocal,
            accompaniment)) pairs, so that estimates can be made one at a time.
        sr: the sample rate in Hz.
        evaluator: `references(vocal_ref, accomp_ref, sr)`, made by the caller to share it
            (default: made here).

    Returns:
        {method: score}, each as `score` returns it.
    """
    evaluator = evaluator or references(vocal_ref, accomp_ref, sr)
    refs = [np.asarray(x, dtype=np.float64) for x in (vocal_ref, accomp_ref)]
    n = evaluator.refs.shape[1]
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


def write_metrics(path: str | Path, song: str, mode: str, methods: dict[str, Score],
                  extra: dict[str, Any] | None = None) -> None:
    """Write a song's metrics.json: {"song", "mode", "methods": {method: score(...)}, **extra}.

    Args:
        path: the file to write.
        song: the song's name.
        mode: the dataset mode ("100-window" or "no-limit").
        methods: {method: score}, as `score_methods` returns them.
        extra: more top-level entries (they override the ones above of the same name).
    """
    payload = {"song": song, "mode": mode, "methods": methods}
    payload.update(extra or {})
    write_text(path, json.dumps(payload, indent=2, allow_nan=True) + "\n")
