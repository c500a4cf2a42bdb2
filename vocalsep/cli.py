"""Command line: `python -m vocalsep COMMAND ...`, mirroring the Python API.

Each branch module that offers a command exposes add_parser(subparsers); the parser it adds
sets `func` to a callable taking the parsed arguments and returning an exit code.
"""

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from . import __version__
from .errors import InputError

# Modules that contribute sub-commands (each has add_parser(subparsers)).
COMMAND_MODULES = [
    "vocalsep.prepare", "vocalsep.carvana.cli", "vocalsep.unet.cli", "vocalsep.fingerprint.cli",
    "vocalsep.matching.cli",
]


def build_parser() -> argparse.ArgumentParser:
    """The `vocalsep` argument parser, with a sub-command from each module of COMMAND_MODULES.

    Returns:
        The parser; the sub-command's parser sets `func` on the parsed arguments.
    """
    parser = argparse.ArgumentParser(prog="vocalsep", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"vocalsep {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run its sub-command.

    An InputError (a file that cannot be used) is reported on stderr in one line, with no
    traceback.

    Args:
        argv: the arguments after the program name; None reads sys.argv.

    Returns:
        The exit code: the sub-command's (0 when it returns None), 2 on an InputError.
    """
    # Idle OpenMP threads of torch spin while they wait for work: on a machine busy with other jobs
    # that multiplies wall time several-fold. Set before the command modules import torch, whose
    # OpenMP runtime reads it once as it loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except InputError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
