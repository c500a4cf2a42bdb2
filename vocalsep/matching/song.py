"""The per-song job of fingerprint matching (rule fingerprint_match): the matching, the baselines
on the same STFT, their BSS Eval scores, the wavs and the pictures, for one paired song."""

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .. import SAMPLE_RATE
from ..audio import load_mono, write_wav
from ..baselines import iter_baselines, render
from ..errors import InputError
from ..evaluate import references, score_methods, write_metrics
from ..fingerprint.views import VIEW_NAMES
from ..plots import loss_plot, spectrogram_plot
from ..stft import stft
from .history import checked_views, loss_reduction
from .optimise import match
from .render import render_gain
from .settings import MatchSettings

log = logging.getLogger(__name__)

MATCHING = "fingerprint_matching"
MATCHING_MAGNITUDE = "fingerprint_matching_magnitude"  # the matched mask itself, when rendered otherwise


def load_pair(mix_path: str | Path, vocal_path: str | Path, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """A prepared pair, read as mono signals of equal length.

    Args:
        mix_path: the prepared mix.
        vocal_path: the prepared vocal of the same song.
        sr: the sample rate to read them at, in Hz.

    Returns:
        (mix, vocal), 1-D float32 arrays of equal length.

    Raises:
        InputError: when the lengths differ or the vocal is silent.
    """
    mix = load_mono(mix_path, sr)
    vocal = load_mono(vocal_path, sr)
    if len(mix) != len(vocal):
        raise InputError(vocal_path, f"has {len(vocal)} samples but its mix {mix_path} has {len(mix)}: "
                         "a prepared pair must have equal lengths (rerun the preparation)")
    if not np.any(vocal):
        raise InputError(vocal_path, "is silent: there is no vocal to match")
    return mix, vocal


def separate_song(mix_path: str | Path, vocal_path: str | Path, outputs: Mapping[str, str | Path], song: str,
                  mode: str, settings: MatchSettings, repet_segment_seconds: float = 30.0,
                  device: torch.device | str = "cpu", sr: int = SAMPLE_RATE,
                  vocal_fingerprint: str | Path | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Run matching and the baselines on one pair, score them and write every output.

    Writes the extracted vocal and accompaniment, the mix and target wavs, metrics.json, the
    loss plot and the spectrograms. With more than one torch thread, the baselines are made and
    scored on a thread of their own while the matching runs (the same numbers as on one).

    Args:
        mix_path: the prepared mix.
        vocal_path: the prepared vocal of the same song.
        outputs: file paths under the keys vocal, accompaniment, mixture, target, loss_plot,
            spectrograms and metrics (as `output_paths` makes them).
        song: the song's name in metrics.json.
        mode: the dataset mode in metrics.json ("100-window" or "no-limit").
        settings: the matching settings.
        repet_segment_seconds: REPET-SIM's segment length in seconds.
        device: where to optimise.
        sr: the sample rate in Hz.
        vocal_fingerprint: the vocal's cache folder, read by the matching instead of
            fingerprinting the vocal again.

    Returns:
        {method: score}: each method's scores, as evaluate.score_methods returns them.
    """
    mix, vocal = load_pair(mix_path, vocal_path, sr)
    accompaniment = mix - vocal
    evaluator = references(vocal, accompaniment, sr)

    def baselines() -> dict[str, dict[str, dict[str, float]]]:
        t = time.perf_counter()
        scores = score_methods(vocal, accompaniment, iter_baselines(
            mix, vocal, sr, settings.mask_n_fft, settings.mask_hop, repet_segment_seconds), sr, evaluator)
        log.info("baselines and their scores: %.1f s", time.perf_counter() - t)
        return scores

    # With threads to spare, the baselines (numpy, mostly one core) are made and scored on a
    # thread of their own while the matching runs: the matching alone leaves a core half idle.
    with _beside(torch.get_num_threads() > 1) as side:
        theirs = side.submit(baselines) if side else None
        t0 = time.perf_counter()
        est, mask, history = match(mix, vocal, sr, settings, device=device, vocal_fingerprint=vocal_fingerprint)
        seconds = time.perf_counter() - t0
        log.info("matching: %.1f s for %.1f s of audio", seconds, len(mix) / sr)
        write_wav(outputs["vocal"], est, sr)
        write_wav(outputs["accompaniment"], mix - est, sr)
        write_wav(outputs["mixture"], mix, sr)
        write_wav(outputs["target"], vocal, sr)
        t1 = time.perf_counter()
        ours = [(MATCHING, (est, mix - est))]
        if settings.render != "magnitude":  # also score the matched mask itself: what the fingerprint saw
            ours.append((MATCHING_MAGNITUDE, _render_magnitude(mix, mask, settings)))
        methods = score_methods(vocal, accompaniment, ours, sr, evaluator)
        log.info("matching's scores: %.1f s", time.perf_counter() - t1)
        reduction = loss_reduction(history)
        evaluated_on = checked_views(history)
        loss_plot(history, VIEW_NAMES, settings.scales, outputs["loss_plot"], evaluated_on=evaluated_on,
                  reduction=reduction)
        _spectrograms(mix, vocal, est, mask, history, settings, outputs["spectrograms"], sr)
        methods.update(theirs.result() if theirs else baselines())
    write_metrics(outputs["metrics"], song, mode, methods, extra={
        "method_columns": {MATCHING: {"fingerprint_loss_reduction": reduction}},
        "fingerprint_loss": {"initial": history["initial"], "final": history["final"],
                             "reduction": reduction, "evaluated_on": evaluated_on,
                             "note": "1 - final/initial fingerprint loss of the mix masked by the matched mask "
                                     "(both on the same views, every scale): not a separation quality measure"},
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.__dict__.items()},
        "seconds": {"matching": seconds, "audio": len(mix) / sr},
    })
    return methods


def _spectrograms(mix: np.ndarray, vocal: np.ndarray, est: np.ndarray, mask: np.ndarray, history: dict,
                  settings: MatchSettings, path: str | Path, sr: int) -> None:
    """The picture of the vocal's, the mix's and the estimate's spectrograms and the gain applied."""
    with torch.no_grad():
        spec = [stft(torch.from_numpy(np.asarray(x, dtype=np.float32)), settings.mask_n_fft,
                     settings.mask_hop).numpy() for x in (vocal, mix, est)]
    if history.get("refined"):  # stage 3: no one gain on this STFT made the vocal, so show what it amounts to
        gain = np.clip(np.abs(spec[2]) / np.maximum(np.abs(spec[1]), 1e-9), 0.0, 1.0)
        sizes = " and ".join(map(str, history["refined"]))
        title = f"|extracted| / |mix| (fingerprint matching: stage 3, the mean of the n_fft {sizes} renders)"
    else:
        gain = render_gain(mask, settings.render, history["accompaniment_mask"])
        title = f"Gain applied (fingerprint matching, {settings.render})"
    spectrogram_plot(*spec, gain, sr, settings.mask_hop, path, mask_title=title)


@contextlib.contextmanager
def _beside(wanted: bool) -> Iterator[ThreadPoolExecutor | None]:
    """One thread for work beside the caller's, when wanted (else None)."""
    if not wanted:
        yield None
        return
    with ThreadPoolExecutor(1, thread_name_prefix="baselines") as pool:
        yield pool


def _render_magnitude(mix: np.ndarray, mask: np.ndarray, settings: MatchSettings) -> tuple[np.ndarray, np.ndarray]:
    """(vocal, accompaniment) rendered with the matched mask itself on the mix STFT."""
    with torch.no_grad():
        X = stft(torch.from_numpy(np.asarray(mix, dtype=np.float32)), settings.mask_n_fft, settings.mask_hop)
    vocal = render(X, mask, settings.mask_n_fft, settings.mask_hop, len(mix))
    return vocal, mix - vocal


def output_paths(folder: str | Path) -> dict[str, Path]:
    """The outputs of separate_song inside one results folder.

    Args:
        folder: the results folder.

    Returns:
        {output key: path}, as separate_song's `outputs`.
    """
    folder = Path(folder)
    return {
        "vocal": folder / "extracted_vocal.wav", "accompaniment": folder / "extracted_accompaniment.wav",
        "mixture": folder / "1_original_mixture.wav", "target": folder / "2_target_vocal.wav",
        "loss_plot": folder / "optimization_loss.png", "spectrograms": folder / "spectrograms.png",
        "metrics": folder / "metrics.json",
    }
