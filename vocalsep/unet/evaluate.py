"""Scores of the vocal U-Net: one song's metrics.json, and the held-out comparison with REPET-SIM.

Both use vocalsep.evaluate.score (museval BSS Eval v4), the scoring of every other method.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ..audio import load_mono, write_text
from ..evaluate import score, write_metrics


def song_metrics(mix_path: str | Path, reference_path: str | Path, vocal_path: str | Path,
                 accompaniment_path: str | Path, out_path: str | Path, song: str, mode: str,
                 separation: str | Path | None = None, sr: int = 22050) -> dict:
    """Write metrics.json of one paired song: method "unet" scored against the prepared isolated vocal.

    The reference accompaniment is the mix minus the reference vocal; all signals are loaded mono
    at `sr` and cut to the shortest.

    Args:
        mix_path: the prepared mix.
        reference_path: the prepared isolated vocal.
        vocal_path: the U-Net's vocal estimate.
        accompaniment_path: the U-Net's accompaniment estimate.
        out_path: the metrics.json to write.
        song: the song's name, stored in metrics.json.
        mode: the pair's mode, stored in metrics.json.
        separation: the separation.json that `separate_to_files` wrote (model name and settings),
            copied into metrics.json and shown in the report's "model" column.
        sr: sample rate of the scoring, in Hz.

    Returns:
        The score, as vocalsep.evaluate.score gives it.
    """
    mix = load_mono(mix_path, sr)
    reference = load_mono(reference_path, sr)
    vocal = load_mono(vocal_path, sr)
    accompaniment = load_mono(accompaniment_path, sr)
    n = min(len(mix), len(reference), len(vocal), len(accompaniment))
    result = score(reference[:n], mix[:n] - reference[:n], vocal[:n], accompaniment[:n], sr)
    info = json.loads(Path(separation).read_text(encoding="utf-8")) if separation else {}
    label = f"{info['model']} (postprocess {info['postprocess']})" if info else None
    write_metrics(out_path, song, mode, {"unet": result},
                  extra={"separation": info, "method_columns": {"unet": {"model": label}}})
    return result


COMPARED = ("unet", "REPET-SIM", "IRM2", "mixture")


class _Separates(Protocol):
    """What compare_on_pairs needs of a vocalsep.unet.separate.Separator."""

    def separate(self, signal: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]: ...


def compare_on_pairs(pairs_dir: str | Path, separator: _Separates | None, split: str = "test", n_fft: int = 1024,
                     hop: int = 256, limit: int | None = None, progress: bool = True,
                     methods: Sequence[str] = COMPARED, every: int = 1) -> list[dict]:
    """Per-track vocal scores of the U-Net, REPET-SIM, the IRM2 oracle and the mixture floor.

    With the open corpus's test split every voice recording and piece of music is one the model
    never saw. The baselines run on the STFT the report's baselines use (1024 / 256 at 22050 Hz).

    Args:
        pairs_dir: a folder in the MUSDB18-HQ layout (the open corpus).
        separator: a vocalsep.unet.separate.Separator; may be None when "unet" is not in `methods`.
        split: the split folder scored; no other is read.
        n_fft: FFT size of the baselines' STFT.
        hop: hop of the baselines' STFT, in samples.
        limit: score only the first `limit` tracks (after `every`); None or 0: all.
        progress: show a progress bar.
        methods: the methods scored, among COMPARED.
        every: score every n-th track only (a fixed, evenly spread subset, to save time).

    Returns:
        One dict per track: "track" and, per method, "<method>_SDR" and "<method>_SI-SDR" in dB.
    """
    from tqdm import tqdm

    from ..baselines import baselines

    sr = 22050
    tracks = sorted(p for p in (Path(pairs_dir) / split).glob("*") if p.is_dir())[::every]
    if limit:
        tracks = tracks[:limit]
    rows = []
    for track in tqdm(tracks, desc=f"scoring {split}", disable=not progress):
        mix = load_mono(track / "mixture.wav", sr)
        vocal = load_mono(track / "vocals.wav", sr)
        accomp = mix - vocal
        estimates = {}
        if "unet" in methods:
            est, _ = separator.separate(mix, sr)
            estimates["unet"] = (est, mix - est)
        if set(methods) - {"unet"}:
            base = baselines(mix, vocal, sr, n_fft, hop)
            estimates.update({k: base[k] for k in methods if k != "unet"})
        row = {"track": track.name}
        for name, (v, a) in estimates.items():
            s = score(vocal, accomp, v, a, sr)
            row[f"{name}_SDR"] = s["vocals"]["SDR"]
            row[f"{name}_SI-SDR"] = s["vocals"]["SI-SDR"]
        rows.append(row)
    return rows


def summarise(rows: list[dict]) -> dict:
    """Medians of every column, and the U-Net's margin over REPET-SIM in median vocal SDR.

    Args:
        rows: compare_on_pairs' rows (at least one).

    Returns:
        Column -> median (NaN skipped); with both methods, "unet_minus_repet_sdr" (difference of
        the medians) and "unet_beats_repet_by_sdr_median_of_differences"; "tracks": the row count.
    """
    keys = [k for k in rows[0] if k != "track"]
    med = {k: float(np.nanmedian([r[k] for r in rows])) for k in keys}
    if "unet_SDR" in med and "REPET-SIM_SDR" in med:
        med["unet_minus_repet_sdr"] = med["unet_SDR"] - med["REPET-SIM_SDR"]
        med["unet_beats_repet_by_sdr_median_of_differences"] = float(
            np.nanmedian([r["unet_SDR"] - r["REPET-SIM_SDR"] for r in rows]))
    med["tracks"] = len(rows)
    return med


def write_comparison(rows: list[dict], csv_path: str | Path, summary_path: str | Path) -> dict:
    """Write compare_on_pairs' rows as CSV and their summary as JSON.

    Args:
        rows: compare_on_pairs' rows (at least one).
        csv_path: the per-track scores file to write.
        summary_path: the summary JSON file to write.

    Returns:
        The summary (`summarise`).
    """
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(csv_path, buf.getvalue())
    summary = summarise(rows)
    write_text(summary_path, json.dumps(summary, indent=2) + "\n")
    return summary
