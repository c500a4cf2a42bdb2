"""Command line of the fingerprint cache: `vocalsep fingerprint`."""

import argparse
from pathlib import Path

import yaml

from ..errors import InputError
from .song import fingerprint_song

REPO_CONFIG = Path(__file__).resolve().parent.parent.parent / "config.yaml"


def fingerprint_section(config_path: str | Path | None) -> dict:
    """The `fingerprint:` section of a workflow config.

    Args:
        config_path: the config.yaml; None or empty for the checkout's own.

    Returns:
        The section's settings (scales, hop_fraction, ...).

    Raises:
        InputError: the file is missing or has no fingerprint: section.
    """
    path = Path(config_path) if config_path else REPO_CONFIG
    if not path.is_file():
        raise InputError(path, "not found: give the workflow's config.yaml with --config")
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if "fingerprint" not in config:
        raise InputError(path, "has no fingerprint: section")
    return config["fingerprint"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the `fingerprint` subcommand.

    Args:
        subparsers: the main parser's subcommands.
    """
    p = subparsers.add_parser("fingerprint", help="fingerprint cache of one audio file (19 views x scales x 425)")
    p.add_argument("audio", help="a prepared wav (mono, 22050 Hz) or any audio file")
    p.add_argument("-o", "--out", required=True, help="folder for n<n_fft>/slice_<k>.npy and .json")
    p.add_argument("--config", help="config.yaml to take the fingerprint settings from")
    p.set_defaults(func=_fingerprint)


def _fingerprint(args):
    """Run `vocalsep fingerprint`: the cache of one audio file with the config's settings."""
    fp = fingerprint_section(args.config)
    paths = fingerprint_song(args.audio, args.out, tuple(fp["scales"]), fp["hop_fraction"])
    print(f"{len(paths)} views written under {args.out}")
