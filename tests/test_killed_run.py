"""A run killed with SIGKILL in the middle of a fingerprint job, then a plain `snakemake`.

One song (quick settings, the workstation profile of the workflow folder): a run is killed, the
whole process group at once, while its fingerprint job is writing the cache; the next `snakemake`,
with no other option, must go on from there (the profile's rerun-incomplete, the killed run's locks
removed) and give the results of a run that was never interrupted. Then a damaged cache: the
matching job names the file and the mend, and following the mend gives those results again.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import dry_run_jobs, snakemake, workflow_env, write_song
from quick import quick_workflow

pytestmark = pytest.mark.slow

SONG = "killed song"
CACHE = f"results/fingerprint/100-window/{SONG}/vocal"
TARGETS = (f"results/100-window/{SONG}/metrics.json", CACHE)


def workflow(dest):
    work = quick_workflow(dest, report=False)
    write_song(work / "process", SONG, "100-window", seconds=5.0, seed=11)
    return work


def results(work):
    """The numbers of a run: metrics.json without its timings, and every cache file's bytes."""
    metrics = json.loads((work / TARGETS[0]).read_text())
    metrics.pop("seconds")
    files = {str(p.relative_to(work / CACHE)): p.read_bytes() for p in sorted((work / CACHE).rglob("slice_*"))}
    return metrics, files


def kill_in_fingerprint(work, timeout=300):
    """Start `snakemake` and SIGKILL its process group as soon as the fingerprint job writes the
    cache (its hidden scale folder appears); returns what the run printed."""
    out = open(work / "killed-run.txt", "w")
    run = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--nocolor", *TARGETS],
                           cwd=work, env=workflow_env(work), stdout=out, stderr=subprocess.STDOUT,
                           start_new_session=True)
    cache, deadline = work / CACHE, time.monotonic() + timeout
    try:
        while not (cache.is_dir() and any(p.name.endswith(".part") for p in cache.iterdir())):
            if run.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the run ended (or took too long) before its fingerprint job wrote: "
                                     f"{(work / 'killed-run.txt').read_text()[-3000:]}")
            time.sleep(0.002)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        out.close()
    for _ in range(500):  # the group's other processes (the job) are gone too
        try:
            os.killpg(run.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("processes of the killed run are still alive")
    return (work / "killed-run.txt").read_text()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(uninterrupted run, killed run) workflow copies; the killed one not yet rerun."""
    whole = workflow(tmp_path_factory.mktemp("whole"))
    snakemake(whole, *TARGETS)
    killed = workflow(tmp_path_factory.mktemp("killed"))
    kill_in_fingerprint(killed)
    return whole, killed


def test_a_plain_snakemake_goes_on_after_a_kill_and_gives_the_same_results(runs):
    whole, killed = runs
    # the kill came in the middle of the fingerprint: its hidden folder there, no scale in place,
    # the job marked incomplete, the run's locks left behind
    cache = killed / CACHE
    left = sorted(p.name for p in cache.iterdir())
    assert left and all(name.startswith(".n1024.") and name.endswith(".part") for name in left), \
        f"the kill came too late: {left}"
    assert os.listdir(killed / ".snakemake" / "incomplete")
    assert sorted(os.listdir(killed / ".snakemake" / "locks")) == ["0.input.lock", "0.output.lock"]
    assert not (killed / TARGETS[0]).exists()

    rerun = snakemake(killed, *TARGETS)  # no --rerun-incomplete, no --unlock
    text = rerun.stdout + rerun.stderr
    assert "a lock left by a Snakemake run that was killed" in text, text[-3000:]
    assert "rule fingerprint_pair:" in text and "rule fingerprint_match:" in text
    assert "rule prepare_pair:" not in text  # finished before the kill: not redone
    assert not [p for p in (killed / "results").rglob("*") if p.name.endswith(".part")]
    assert dry_run_jobs(killed, *TARGETS) == {}
    assert results(killed) == results(whole)
    metrics, files = results(killed)
    assert len(files) == 38 and len(metrics["methods"]) == 7


def test_a_damaged_cache_names_the_file_and_the_mend_which_works(runs):
    whole, killed = runs
    assert results(killed) == results(whole)  # the previous test's recovery
    npy = killed / CACHE / "n1024" / "slice_00.npy"  # a view the matching always reads
    npy.write_bytes(npy.read_bytes()[:-1000])  # cut short, as by a crash of a copy
    (killed / TARGETS[0]).unlink()  # the matching runs again and reads the cache
    failed = snakemake(killed, *TARGETS, check=False)
    assert failed.returncode != 0
    text = failed.stdout + failed.stderr
    assert (f"ERROR in rule fingerprint_match: {CACHE}/n1024/slice_00.npy: is truncated: " in text
            and f"Delete the folder {CACHE} and rerun" in text), text[-3000:]
    log = (killed / "logs" / "fingerprint_match" / "100-window" / f"{SONG}.log").read_text()
    assert "unexpected failure" not in log and "reshape" not in log
    shutil.rmtree(killed / CACHE)  # the mend
    snakemake(killed, *TARGETS)
    assert results(killed) == results(whole)
    assert np.load(npy).shape == (203, 425)
