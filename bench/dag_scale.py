"""How long `snakemake -n` takes to plan the whole workflow for 10, 100 and 1000 songs.

Each size gets a fresh copy of the workflow with tiny generated songs in process/ (names with
spaces and non-ASCII letters, both modes, one song in ten without a stem) and times the dry run of
the default target, Python start-up included. It prints the seconds and the jobs per song.

    .venv/bin/python bench/dag_scale.py [--sizes 10 100 1000] [--ref HEAD] [--profile]

--ref plans a committed version (git archive) instead of the working tree, e.g. to compare commits.

--profile runs the largest size under cProfile and prints the functions that take the most time.
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import conftest  # noqa: E402  (copy_workflow: the tests' checkout-like copy)
from vocalsep.discovery import SUFFIXES  # noqa: E402


def song_names(n):
    """n distinct song names like users' ones: spaces, dots, dashes, accents."""
    return [f"Künstler {i:04d} - Lied.{i % 7} ça" for i in range(n)]


def make_songs(process, n, sr=8000):
    """Tiny (0.05 s) songs in process/: even ones 100-window, odd ones no-limit; every tenth mix-only."""
    tone = (0.1 * np.sin(np.arange(int(0.05 * sr)) * 0.3)).astype(np.float32)
    for i, name in enumerate(song_names(n)):
        mode = "100-window" if i % 2 == 0 else "no-limit"
        folder = Path(process) / mode
        folder.mkdir(parents=True, exist_ok=True)
        mix_suffix, stem_suffix = SUFFIXES[mode]
        sf.write(folder / f"{name}{mix_suffix}.wav", tone, sr)
        if i % 10 != 9:
            sf.write(folder / f"{name}{stem_suffix}.wav", tone * 0.5, sr)


def job_stats(output):
    """{rule: count} from the 'Job stats' table of a dry run."""
    stats = {}
    table = output.split("Job stats:", 1)[-1]
    for line in table.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        stats[parts[0]] = int(parts[1])
    return stats


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def plan(workdir, *extra):
    """Wall and CPU seconds of a dry run of the default target, and its job stats."""
    cmd = [sys.executable, *extra, "-m", "snakemake", "-n", "--cores", "2", "--nocolor",
           "--workflow-profile", "none"]
    start, cpu = time.perf_counter(), children_cpu()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"dry run failed in {workdir}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, cpu, job_stats(proc.stdout + proc.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--profile", action="store_true", help="cProfile the largest size")
    parser.add_argument("--ref", help="a git commit to plan instead of the working tree")
    args = parser.parse_args()

    print("wall: seconds on the clock (other work on the machine adds to it); cpu: seconds of CPU used")
    print(f"{'songs':>6} {'wall s':>8} {'cpu s':>7} {'jobs':>7} {'jobs/song':>10}  largest rules")
    with tempfile.TemporaryDirectory() as tmp:
        if args.ref:
            source = Path(tmp) / "source"
            source.mkdir()
            archive = subprocess.run(["git", "archive", args.ref], cwd=REPO, capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
            conftest.REPO = source
        for n in args.sizes:
            work = conftest.copy_workflow(Path(tmp) / f"songs-{n}")
            make_songs(work / "process", n)
            seconds, cpu, stats = plan(work)
            total = stats.pop("total", 0)
            top = ", ".join(f"{r}={c}" for r, c in sorted(stats.items(), key=lambda kv: -kv[1])[:4])
            print(f"{n:>6} {seconds:>8.1f} {cpu:>7.1f} {total:>7} {total / n:>10.2f}  {top}", flush=True)
        if args.profile:
            n = max(args.sizes)
            stats_file = Path(tmp) / "plan.prof"
            plan(Path(tmp) / f"songs-{n}", "-m", "cProfile", "-o", str(stats_file))
            import pstats

            print(f"\ncProfile of the dry run with {n} songs (cumulative):")
            pstats.Stats(str(stats_file)).sort_stats("cumulative").print_stats(25)
            print("by own time:")
            pstats.Stats(str(stats_file)).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
