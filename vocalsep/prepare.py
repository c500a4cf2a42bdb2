"""Preparation of a song into rtg/: mono, 22050 Hz, 4.7 s clips or whole songs, one gain per pair.

Order of operations for a pair: read both files (any format, rate, channels, bit depth), take the
channel mean, resample, align the stem to the mix (lag, polarity), fit the stem to the mix's
length, trim or zero-pad to 4.7 s in 100-window mode, and normalise BOTH signals by the gain that
brings the mix's peak to `peak`. One gain keeps mix = vocal + accompaniment true, which every
metric after this step relies on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import align
from .audio import load, resample, to_mono, write_text, write_wav
from .errors import InputError

if TYPE_CHECKING:
    import argparse

log = logging.getLogger(__name__)
SILENCE = 1e-6  # peak amplitude below which a file counts as silent


def _read(path, sr):
    """Mono samples of an audio file at rate sr, and a description of the file as read."""
    data, file_sr = load(path)
    info = {"path": str(path), "sample_rate": file_sr, "channels": int(data.shape[1]), "frames": int(data.shape[0])}
    mono = resample(to_mono(data), file_sr, sr)
    if np.abs(mono).max() < SILENCE:
        raise InputError(path, "is silent (peak below -120 dBFS)")
    return mono, info


def fit_length(signal: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad a 1-D signal to exactly `length` samples.

    Args:
        signal: 1-D signal, shape (n,).
        length: samples wanted.

    Returns:
        The signal, shape (length,): a view when trimmed, a new array when padded.
    """
    if len(signal) >= length:
        return signal[:length]
    return np.pad(signal, (0, length - len(signal)))


def target_length(mode: str, n: int, prep: Mapping[str, Any]) -> int:
    """Length in samples a prepared song gets: one window in 100-window mode, else the song's own.

    Args:
        mode: "100-window" or "no-limit".
        n: the song's length in samples.
        prep: the config's `prepare` settings (window_seconds, sample_rate).

    Returns:
        Samples to trim or pad the song to.
    """
    return int(round(prep["window_seconds"] * prep["sample_rate"])) if mode == "100-window" else n


def prepare_pair(
    mix_path: str | Path,
    stem_path: str | Path,
    mode: str,
    prep: Mapping[str, Any],
    alignment_cfg: Mapping[str, Any],
    out: Mapping[str, str | Path],
) -> dict[str, Any]:
    """Prepare a (mix, stem) pair: align the stem, fit both to length, normalise by one gain, write.

    Args:
        mix_path: the full mix, any format soundfile or ffmpeg reads.
        stem_path: the isolated vocal (acapella) of the same song.
        mode: "100-window" (one clip of window_seconds) or "no-limit" (the whole song).
        prep: the config's `prepare` settings.
        alignment_cfg: the config's `alignment` settings.
        out: paths to write, under the keys 'mix', 'vocal', 'alignment' and 'report'.

    Returns:
        The report written to out['report']: mode, rate, length, gain and what was read.

    Raises:
        InputError: a file is silent, or the stem is much shorter than the mix.
    """
    sr = prep["sample_rate"]
    mix, mix_info = _read(mix_path, sr)
    stem, stem_info = _read(stem_path, sr)
    if len(stem) < prep["min_stem_ratio"] * len(mix):
        raise InputError(
            stem_path,
            f"is much shorter than its mix ({len(stem) / sr:.2f} s against {len(mix) / sr:.2f} s; "
            f"at least {prep['min_stem_ratio']:.0%} of the mix's length is needed)",
        )
    stem = fit_length(stem, len(mix))
    found = align.estimate(
        mix, stem, sr,
        max_lag_seconds=alignment_cfg["max_lag_seconds"],
        min_peak_ratio=alignment_cfg["min_peak_ratio"],
        max_null_db=alignment_cfg["max_null_db"],
    )
    for message in found.warnings:
        log.warning("%s / %s: %s", mix_path, stem_path, message)
    if alignment_cfg["correct"]:
        stem = align.apply(stem, found, apply_gain=alignment_cfg["apply_gain"])
    log.info("alignment of %s: lag %d samples (%.1f ms), polarity %+d, gain %.3f, null %.1f dB (uncorrected %.1f dB)",
             stem_path, found.lag_samples, found.lag_ms, found.polarity, found.gain, found.null_db,
             found.null_db_uncorrected)

    length = target_length(mode, len(mix), prep)
    padded = length > len(mix)
    mix, stem = fit_length(mix, length), fit_length(stem, length)
    gain = prep["peak"] / float(np.abs(mix).max())
    mix, stem = (mix * gain).astype(np.float32), (stem * gain).astype(np.float32)

    write_wav(out["mix"], mix, sr)
    write_wav(out["vocal"], stem, sr)
    alignment = {**found.as_dict(), "corrected": alignment_cfg["correct"], "gain_applied": alignment_cfg["apply_gain"],
                 "sample_rate": sr, "mix": str(mix_path), "stem": str(stem_path)}
    write_text(out["alignment"], json.dumps(alignment, indent=2) + "\n")
    report = {"mode": mode, "sample_rate": sr, "samples": length, "seconds": length / sr,
              "normalisation_gain": gain, "peak": prep["peak"], "mix": mix_info, "stem": stem_info,
              "padded": padded}
    write_text(out["report"], json.dumps(report, indent=2) + "\n")
    return report


def prepare_mix(
    mix_path: str | Path, mode: str, prep: Mapping[str, Any], out: Mapping[str, str | Path]
) -> dict[str, Any]:
    """Prepare a mix that has no stem: fit it to length, normalise its peak, write.

    Args:
        mix_path: the full mix, any format soundfile or ffmpeg reads.
        mode: "100-window" or "no-limit".
        prep: the config's `prepare` settings.
        out: paths to write, under the keys 'mix' and 'report'.

    Returns:
        The report written to out['report'] (its 'stem' is None).

    Raises:
        InputError: the mix is silent.
    """
    sr = prep["sample_rate"]
    mix, mix_info = _read(mix_path, sr)
    length = target_length(mode, len(mix), prep)
    padded = length > len(mix)
    mix = fit_length(mix, length)
    gain = prep["peak"] / float(np.abs(mix).max())
    write_wav(out["mix"], (mix * gain).astype(np.float32), sr)
    report = {"mode": mode, "sample_rate": sr, "samples": length, "seconds": length / sr,
              "normalisation_gain": gain, "peak": prep["peak"], "mix": mix_info, "stem": None, "padded": padded}
    write_text(out["report"], json.dumps(report, indent=2) + "\n")
    return report


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `vocalsep prepare MIX [STEM] -o DIR`: one song outside the workflow, with default settings.

    Args:
        subparsers: the `vocalsep` command's subcommands.
    """
    p = subparsers.add_parser("prepare", help="prepare one song (mix and optional stem) into a folder")
    p.add_argument("mix", help="full mix, any format soundfile or ffmpeg reads")
    p.add_argument("stem", nargs="?", help="isolated vocal (acapella) of the same song")
    p.add_argument("-o", "--out", required=True, help="output folder (stereo_mixture.wav, isolated_vocal.wav, ...)")
    p.add_argument("--mode", choices=["100-window", "no-limit"], default="no-limit")
    p.add_argument("--config", default=None, help="config.yaml to take prepare/alignment settings from")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    """Run `vocalsep prepare` with the parsed arguments; prints the report."""
    import yaml

    config_path = Path(args.config) if args.config else Path(__file__).resolve().parent.parent / "config.yaml"
    if not config_path.is_file():
        raise InputError(config_path, "not found: give the workflow's config.yaml with --config")
    config = yaml.safe_load(config_path.read_text())
    out_dir = Path(args.out)
    if args.stem:
        report = prepare_pair(args.mix, args.stem, args.mode, config["prepare"], config["alignment"], {
            "mix": out_dir / "stereo_mixture.wav", "vocal": out_dir / "isolated_vocal.wav",
            "alignment": out_dir / "alignment.json", "report": out_dir / "prepare.json"})
    else:
        report = prepare_mix(args.mix, args.mode, config["prepare"],
                             {"mix": out_dir / "stereo_mixture.wav", "report": out_dir / "prepare.json"})
    print(json.dumps(report, indent=2))
    return 0
