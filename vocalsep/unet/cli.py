"""Command line of the vocal U-Net: `separate` any file, `unet-train`, `unet-corpus`, `unet-eval`.

    python -m vocalsep separate SONG_OR_FOLDER... -o DIR [--postprocess default|none] [--format wav|flac]
writes DIR/<song name>/vocal.<format> and accompaniment.<format> at the input's sample rate and
channels; a folder stands for every audio file in it. Existing outputs are kept unless --force.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..audio import AUDIO_EXTENSIONS
from ..errors import InputError

if TYPE_CHECKING:
    import argparse

SUBTYPES = {"wav": ("FLOAT", "PCM_16", "PCM_24", "PCM_32"), "flac": ("PCM_16", "PCM_24")}


def songs_of(paths: list[str]) -> list[Path]:
    """The audio files named, a folder standing for every audio file directly inside it.

    Args:
        paths: files and folders, as given on the command line.

    Returns:
        The files in the order given, each folder's audio files sorted by name.

    Raises:
        InputError: a path does not exist, or a folder holds no audio file.
    """
    songs = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower().lstrip(".") in AUDIO_EXTENSIONS)
            if not found:
                raise InputError(path, f"holds no audio file ({', '.join(AUDIO_EXTENSIONS)})")
            songs += found
        elif path.is_file():
            songs.append(path)
        else:
            raise InputError(path, "does not exist")
    return songs


def _separate(args: argparse.Namespace) -> int:
    """`vocalsep separate`: every song to DIR/<song>/; exit status 2 if a file could not be read."""
    from tqdm import tqdm

    from ..audio import load, write_audio
    from .separate import Separator

    subtype = args.subtype or ("FLOAT" if args.format == "wav" else "PCM_24")
    if subtype not in SUBTYPES[args.format]:
        raise InputError("--subtype", f"{subtype} cannot be written as {args.format} "
                                      f"(choose {', '.join(SUBTYPES[args.format])})")
    songs = songs_of(args.songs)
    out_dirs = [Path(args.output) / song.stem for song in songs]
    names = ("vocal", "accompaniment")
    existing = [d / f"{n}.{args.format}" for d in out_dirs for n in names if (d / f"{n}.{args.format}").exists()]
    if existing and not args.force:
        raise InputError(existing[0], f"exists ({len(existing)} output file(s) in all); nothing was written. "
                                      "Use --force to overwrite, or another -o folder")
    sep = Separator(args.model, postprocess=args.postprocess, device=args.device)
    failed = 0
    files = tqdm(list(zip(songs, out_dirs)), desc="songs", unit="song", disable=args.quiet or len(songs) < 2)
    for song, out in files:
        try:
            data, sr = load(song)
        except InputError as err:
            failed += 1
            tqdm.write(f"error: {err}", file=sys.stderr)
            continue
        with tqdm(total=sep.segments(len(data), sr, data.shape[1]), desc=song.name, unit="segment",
                  leave=False, disable=args.quiet) as bar:
            vocal, accompaniment = sep.separate(data, sr, progress=bar.update)
        for name, signal in zip(names, (vocal, accompaniment)):
            write_audio(out / f"{name}.{args.format}", signal, sr, subtype=subtype)
        tqdm.write(f"{song}: {out}/{{{','.join(names)}}}.{args.format}")
    if failed:
        sys.stderr.write(f"error: {failed} of {len(songs)} file(s) could not be separated (see above)\n")
        return 2
    return 0


def _train(args: argparse.Namespace) -> int:
    """`vocalsep unet-train`: train (or resume) and export the model file."""
    from .train import TrainSettings, run_training

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    cfg = TrainSettings.from_dict(json.loads(args.settings) if args.settings else {})
    record = run_training(args.out_dir, args.model_out, cfg, args.rtg, args.musdb, args.corpus,
                          valid_fraction=args.valid_fraction, device=args.device)
    print(f"model: {args.model_out} (epoch {record['epoch']}, validation SDR {record['valid_sdr']:.2f} dB)")
    return 0


def _corpus(args: argparse.Namespace) -> int:
    """`vocalsep unet-corpus`: download the packages and build the open corpus."""
    from .. import corpus

    root = corpus.fetch(args.cache)
    pairs = corpus.build(root, args.output, seconds=args.seconds, seed=args.seed)
    print(f"{len(pairs)} pairs in {args.output}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the `separate`, `unet-train`, `unet-corpus` and `unet-eval` commands to the command line.

    Args:
        subparsers: the `vocalsep` parser's subcommands, from ArgumentParser.add_subparsers.
    """
    p = subparsers.add_parser("separate", help="separate the vocal of audio files with the vocal U-Net")
    p.add_argument("songs", nargs="+", metavar="SONG", help="audio files or folders of them (any format "
                                                             "soundfile or ffmpeg reads)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (DIR/<song>/...)")
    p.add_argument("--model", default=None, help="model file of `unet-train` (default: Deezer's Spleeter "
                                                  "2-stem weights, spleeter-2stems)")
    p.add_argument("--postprocess", default="default", choices=["default", "none"],
                   help="none: exactly Spleeter's computation; default: see the model card")
    p.add_argument("--format", default="wav", choices=sorted(SUBTYPES), help="output format")
    p.add_argument("--subtype", default=None, help="sample format: FLOAT (wav only), PCM_16, PCM_24 "
                                                   "(default: FLOAT for wav, PCM_24 for flac)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_separate)

    t = subparsers.add_parser("unet-train", help="train the vocal U-Net (resumes from DIR/checkpoints)")
    t.add_argument("--out-dir", required=True, help="training folder (checkpoints, training.csv, curve.png)")
    t.add_argument("--model-out", required=True, help="where to write the trained model file")
    t.add_argument("--rtg", default=None, help="folder of prepared pairs (rtg/)")
    t.add_argument("--musdb", default=None, help="folder in the MUSDB18-HQ layout (train split used)")
    t.add_argument("--corpus", default=None, help="the open corpus folder (train split used)")
    t.add_argument("--valid-fraction", type=float, default=0.15)
    t.add_argument("--settings", default=None,
                   help='JSON of TrainSettings fields, e.g. \'{"init": "pretrained", "epochs": 30}\'')
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    t.set_defaults(func=_train)

    c = subparsers.add_parser("unet-corpus", help="build the open training corpus from Debian packages")
    c.add_argument("--cache", required=True, help="folder for the downloaded and unpacked packages")
    c.add_argument("-o", "--output", required=True, help="corpus folder (MUSDB18-HQ layout)")
    c.add_argument("--seconds", type=float, default=30.0)
    c.add_argument("--seed", type=int, default=2026)
    c.set_defaults(func=_corpus)
    add_evaluate_parser(subparsers)


def _evaluate(args: argparse.Namespace) -> int:
    """`vocalsep unet-eval`: score the U-Net and the baselines on held-out pairs."""
    from .evaluate import compare_on_pairs, write_comparison
    from .separate import Separator

    sep = Separator(args.model, device=args.device)
    rows = compare_on_pairs(args.pairs, sep, split=args.split, limit=args.limit, every=args.every)
    summary = write_comparison(rows, Path(args.output) / "scores.csv", Path(args.output) / "summary.json")
    print(json.dumps(summary, indent=2))
    return 0


def add_evaluate_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the `unet-eval` command to the command line.

    Args:
        subparsers: the `vocalsep` parser's subcommands, from ArgumentParser.add_subparsers.
    """
    e = subparsers.add_parser("unet-eval", help="median vocal SDR of the U-Net and REPET-SIM on held-out pairs")
    e.add_argument("pairs", help="folder in the MUSDB18-HQ layout (e.g. results/corpus)")
    e.add_argument("-o", "--output", required=True, help="folder for scores.csv and summary.json")
    e.add_argument("--split", default="test")
    e.add_argument("--model", default=None)
    e.add_argument("--limit", type=int, default=None, help="score only the first N tracks")
    e.add_argument("--every", type=int, default=1, help="score every N-th track (an evenly spread subset)")
    e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    e.set_defaults(func=_evaluate)
