"""Glue between Snakemake script jobs and the package: logging and clear error messages."""

import contextlib
import glob
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import InputError


@contextlib.contextmanager
def rule_logging(log_path: str | Path) -> Iterator[logging.Logger]:
    """Send logging and warnings of a job to its Snakemake log file (overwritten) while it runs.

    Warnings and errors are also echoed to stderr, so that they reach the terminal. The handlers
    are removed on leaving.

    Args:
        log_path: the rule's log file.

    Yields:
        The package's logger, `vocalsep`.
    """
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


def package_mismatch(workflow_dir: str | Path) -> str | None:
    """Whether this vocalsep package is the workflow's own, workflow_dir/vocalsep.

    The rules' code hashes read the workflow's own package files; a job that imported another copy
    (a second checkout's editable install, a stale one in a conda environment) would run code that
    its hash does not describe, so that is refused rather than run.

    Args:
        workflow_dir: the workflow's folder (the checkout's root).

    Returns:
        None when the package is the workflow's own, else what is wrong and how to mend it.
    """
    here = Path(__file__).resolve().parent
    wanted = (Path(workflow_dir) / "vocalsep").resolve()
    if here == wanted:
        return None
    return (f"imports the vocalsep package from {here}, not its own {wanted}: install this checkout's "
            "package (`bash install.sh`, or `pip install -e .` in the environment Snakemake runs in), "
            "remove conda environments that another checkout built (in .snakemake/conda/ or the "
            "--conda-prefix folder), "
            "or put the checkout first on PYTHONPATH")


def run_job(snakemake: Any, job: Callable[[Any, logging.Logger], object]) -> None:
    """Run job(snakemake, log) with the rule's log; an InputError ends it with a one-line message.

    The message names the offending file; the traceback goes to the log only. A job whose
    environment imports another copy of the package than its workflow's stops first. Any other
    error is logged and raised as it is.

    Args:
        snakemake: the `snakemake` object of a script job (log, rule, scriptdir are read).
        job: the job's work, called with the snakemake object and the `vocalsep` logger.
    """
    with rule_logging(snakemake.log[0]) as log:
        try:
            if mismatch := package_mismatch(Path(snakemake.scriptdir).parent):
                raise InputError(Path(snakemake.scriptdir).parent.resolve(), mismatch)
            job(snakemake, log)
        except InputError as err:
            log.error("%s\n%s", err, traceback.format_exc())
            sys.stderr.write(f"\nERROR in rule {snakemake.rule}: {err}\n(log: {snakemake.log[0]})\n")
            sys.exit(1)
        except Exception:
            log.error("unexpected failure\n%s", traceback.format_exc())
            raise


_RUNNING = None  # the open file whose shared lock marks this Snakemake process as alive


def release_stale_locks(snakemake_dir: str = ".snakemake") -> list[str]:
    """Remove the locks that a killed Snakemake run left in this folder.

    Snakemake locks a folder with files in .snakemake/locks and deletes them when it ends, even on
    an error or Ctrl-C; a run killed with SIGKILL (or a power loss) leaves them, and every later
    run stops with LockException until `snakemake --unlock`. So each Snakemake process of this
    workflow (the Snakefile calls this as it is read) holds a shared flock on
    .snakemake/vocalsep-running for as long as it lives; the kernel drops it when the process dies,
    however it dies. A process that can take that lock exclusively knows that no other one is
    alive, so the lock files it finds are stale: it removes them, then keeps the lock shared.
    While another run is alive its locks stay and Snakemake refuses to run over them as usual.
    Where the file system has no flock nothing is removed; where its locks do not reach across
    machines (NFS mounted with `nolock`), two runs started at once in one folder from two
    machines would not see each other here.

    Args:
        snakemake_dir: Snakemake's folder of the working directory.

    Returns:
        The lock files removed (none after the first call of a process).
    """
    global _RUNNING
    if _RUNNING is not None:  # once per process
        return []
    try:
        import fcntl

        os.makedirs(snakemake_dir, exist_ok=True)
        running = open(os.path.join(snakemake_dir, "vocalsep-running"), "a")
    except (ImportError, OSError):
        return []
    removed = []
    try:
        fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another run of this folder is alive
        pass
    except OSError:  # no flock here
        running.close()
        return []
    else:
        for lock in sorted(glob.glob(os.path.join(snakemake_dir, "locks", "*.lock"))):
            os.remove(lock)
            removed.append(lock)
    fcntl.flock(running, fcntl.LOCK_SH)
    _RUNNING = running
    return removed
