"""Errors that carry a message meant for the user (file name and what is wrong)."""

import errno
import shutil
from pathlib import Path


class InputError(Exception):
    """A user's input file cannot be used; the message names the file and the problem.

    Args:
        path: the file (kept as a string in `path`).
        problem: what is wrong with it, a phrase that follows the file name (kept in `problem`).
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class OutputError(InputError):
    """An output cannot be written (the disk is full); the message names it and the mend.

    A kind of InputError, so that every place that reports an InputError in one line (the
    workflow's jobs, the command line) reports this one the same way.
    """


def disk_full(path: str | Path, error: BaseException) -> OutputError | None:
    """The OutputError to raise when writing `path` failed because its disk is full.

    The caller has removed what it had written: the message says so, with the free space left.

    Args:
        path: the output that could not be written.
        error: the error the write raised.

    Returns:
        An OutputError naming `path` when `error` is an OSError with ENOSPC (no space left) or
        EDQUOT (the user's quota), else None.
    """
    if not (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)):
        return None
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = f"{shutil.disk_usage(folder).free / 1e6:.1f} MB free"
    except OSError:
        free = "free space unknown"
    what = "no space left on its disk" if error.errno == errno.ENOSPC else "the disk quota is used up"
    return OutputError(path, f"could not be written: {what} ({free} on {folder}); nothing half-written "
                             "was left under this name: free some space and rerun")
