"""Command line of fingerprint matching: `vocalsep match`, and `vocalsep report` of its results.

The per-song job and the report are imported when their command runs: every command's parser is
built on each call of `vocalsep`, and their matplotlib and pandas are slow to import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..device import pick_device
from ..fingerprint.cli import fingerprint_section
from .settings import MatchSettings

if TYPE_CHECKING:
    import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the `match` and `report` commands to the `vocalsep` command line.

    Args:
        subparsers: the `vocalsep` parser's subcommands, from ArgumentParser.add_subparsers.
    """
    p = subparsers.add_parser("match", help="fingerprint-matching separation of one pair, with baselines")
    p.add_argument("mix", help="prepared mix (stereo_mixture.wav)")
    p.add_argument("vocal", help="prepared vocal of the same length (isolated_vocal.wav)")
    p.add_argument("-o", "--out", required=True, help="folder for the wavs, pictures and metrics.json")
    p.add_argument("--song", default=None, help="song name in metrics.json (default: the folder's name)")
    p.add_argument("--mode", choices=["100-window", "no-limit"], default="no-limit")
    p.add_argument("--iterations", type=int, help="override the config's iterations")
    p.add_argument("--vocal-fingerprint", help="the vocal's fingerprint cache (`vocalsep fingerprint VOCAL -o "
                   "DIR`), read instead of fingerprinting the vocal again")
    p.add_argument("--config", help="config.yaml to take the fingerprint settings from")
    p.set_defaults(func=_match)

    p = subparsers.add_parser("report", help="metrics.csv and summary.png from metrics.json files")
    p.add_argument("metrics", nargs="+", help="metrics.json files (any branch)")
    p.add_argument("-o", "--out", required=True, help="folder for metrics.csv and summary.png")
    p.set_defaults(func=_report)


def _match(args: argparse.Namespace) -> None:
    """`vocalsep match`: separate one pair, write its outputs and print each method's vocal SDR."""
    from .song import output_paths, separate_song

    fp = dict(fingerprint_section(args.config))
    if args.iterations is not None:
        fp["iterations"] = args.iterations
    torch.set_num_threads(fp.get("threads", 2))
    methods = separate_song(args.mix, args.vocal, output_paths(args.out), args.song or Path(args.out).name,
                            args.mode, MatchSettings.from_config(fp), fp["repet_segment_seconds"],
                            pick_device(fp.get("device", "cpu")), vocal_fingerprint=args.vocal_fingerprint)
    print(json.dumps({m: round(s["vocals"]["SDR"], 2) for m, s in methods.items()}, indent=1))


def _report(args: argparse.Namespace) -> None:
    """`vocalsep report`: metrics.csv and summary.png from metrics.json files."""
    from ..report import write_report

    out = Path(args.out)
    table = write_report(args.metrics, out / "metrics.csv", out / "summary.png")
    print(f"{len(table)} rows -> {out / 'metrics.csv'}")
