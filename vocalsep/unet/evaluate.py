"""Scores of the vocal U-Net: one song's metrics.json, and the held-out comparison with REPET-SIM.

Both use vocalsep.evaluate.score (museval BSS Eval v4), the scoring of every other method.
"""

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..audio import load_mono, write_text
from ..evaluate import score, write_metrics


def song_metrics(mix_path, reference_path, vocal_path, accompaniment_path, out_path, song, mode, separation=None,
                 sr=22050):
    """metrics.json of one paired song: method "unet" scored against the prepared isolated vocal.

    separation: the separation.json that `separate_to_files` wrote (model name and settings),
    copied into metrics.json and shown in the report's "model" column.
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


def compare_on_pairs(pairs_dir, separator, split="test", n_fft=1024, hop=256, limit=None, progress=True,
                     methods=COMPARED, every=1):
    """Per-track vocal scores of the U-Net, REPET-SIM, the IRM2 oracle and the mixture floor.

    pairs_dir: a folder in the MUSDB18-HQ layout (the open corpus); only `split` is used, so with
    the corpus's test split every voice recording and piece of music is one the model never saw.
    The baselines run on the STFT the report's baselines use (1024 / 256 at 22050 Hz).
    every: score every n-th track only (a fixed, evenly spread subset, to save time).
    separator may be None when "unet" is not among `methods`.
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


def summarise(rows):
    """Medians of every column, and the U-Net's margin over REPET-SIM in median vocal SDR."""
    keys = [k for k in rows[0] if k != "track"]
    med = {k: float(np.nanmedian([r[k] for r in rows])) for k in keys}
    if "unet_SDR" in med and "REPET-SIM_SDR" in med:
        med["unet_minus_repet_sdr"] = med["unet_SDR"] - med["REPET-SIM_SDR"]
        med["unet_beats_repet_by_sdr_median_of_differences"] = float(
            np.nanmedian([r["unet_SDR"] - r["REPET-SIM_SDR"] for r in rows]))
    med["tracks"] = len(rows)
    return med


def write_comparison(rows, csv_path, summary_path):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(csv_path, buf.getvalue())
    summary = summarise(rows)
    write_text(summary_path, json.dumps(summary, indent=2) + "\n")
    return summary
