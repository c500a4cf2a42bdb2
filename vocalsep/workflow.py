"""Glue between Snakemake script jobs and the package: logging and clear error messages."""

import contextlib
import logging
import sys
import traceback

from .errors import InputError


@contextlib.contextmanager
def rule_logging(log_path):
    """Send logging, warnings and stray prints of a job to its Snakemake log file."""
    logging.captureWarnings(True)
    handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    echo = logging.StreamHandler(sys.stderr)  # warnings also reach the terminal
    echo.setLevel(logging.WARNING)
    echo.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(echo)
    try:
        yield logging.getLogger("vocalsep")
    finally:
        root.removeHandler(handler)
        root.removeHandler(echo)
        handler.close()


def run_job(snakemake, job):
    """Run job(snakemake, log) with the rule's log; an InputError ends it with a one-line message.

    The message names the offending file; the traceback goes to the log only.
    """
    with rule_logging(snakemake.log[0]) as log:
        try:
            job(snakemake, log)
        except InputError as err:
            log.error("%s\n%s", err, traceback.format_exc())
            sys.stderr.write(f"\nERROR in rule {snakemake.rule}: {err}\n(log: {snakemake.log[0]})\n")
            sys.exit(1)
        except Exception:
            log.error("unexpected failure\n%s", traceback.format_exc())
            raise
