"""Snakemake's locks are removed only when the run that made them is dead (vocalsep.workflow).

Real processes, as Snakemake runs are: each calls `release_stale_locks` in a folder with lock
files, the way rules/common.smk does when Snakemake reads the Snakefile.
"""

import subprocess
import sys

from conftest import REPO

CALL = ("import sys; sys.path.insert(0, {repo!r}); from vocalsep.workflow import release_stale_locks; "
        "print(release_stale_locks(), flush=True); sys.stdin.read()")


def start(folder):
    """A process in `folder` that calls release_stale_locks, prints what it removed and lives on
    until its stdin closes."""
    proc = subprocess.Popen([sys.executable, "-c", CALL.format(repo=str(REPO))], cwd=folder,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def stop(proc):
    proc.stdin.close()
    proc.wait(timeout=30)


def make_locks(folder):
    locks = folder / ".snakemake" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    for name in ("0.input.lock", "0.output.lock"):
        (locks / name).write_text("results/a\n")
    return locks


def test_the_locks_of_a_live_run_stay_and_those_of_a_dead_one_go(tmp_path):
    locks = make_locks(tmp_path)
    first, removed = start(tmp_path)  # no other run alive: the locks found are a killed run's
    assert removed == "['.snakemake/locks/0.input.lock', '.snakemake/locks/0.output.lock']"
    assert list(locks.iterdir()) == []
    make_locks(tmp_path)  # now the first run's own locks
    second, removed = start(tmp_path)  # while the first lives
    assert removed == "[]" and sorted(p.name for p in locks.iterdir()) == ["0.input.lock", "0.output.lock"]
    stop(second)
    assert sorted(p.name for p in locks.iterdir()) == ["0.input.lock", "0.output.lock"]  # the first still lives
    first.kill()  # SIGKILL: its flock goes with it
    first.wait(timeout=30)
    first.stdin.close()
    third, removed = start(tmp_path)
    assert removed == "['.snakemake/locks/0.input.lock', '.snakemake/locks/0.output.lock']"
    stop(third)
