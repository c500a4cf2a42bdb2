"""Seconds per song through every per-song rule of the default target (issue 15).

    python bench/workflow_speed.py [--clips 8] [--long] [--before REV] [--cores 2]

Makes a fresh copy of the workflow (tests/conftest.py's copy_workflow; with --before, also
`git archive REV` of the same parts), writes N demo-like 4.7 s clips into process/100-window
(and with --long one 3:30 song into process/no-limit), and runs `snakemake --cores C` on the
default target less the rules that are not per song (--omit-from carvana_data report_table
report): prepare_pair, fingerprint_pair (mix and vocal), fingerprint_match, unet_separate,
unet_metrics, report_listen. Prints the wall time per clip and per 3:30 song, and the median of
each rule's benchmark seconds. With --before, the old and the new copies run in turn, clip runs
side by side, and the ratio is printed (the machine may be shared: compare in one run).
"""

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from conftest import WORKFLOW_PARTS, copy_workflow, workflow_env, write_song  # noqa: E402

NOT_PER_SONG = ("carvana_data", "report_table", "report")
LONG_SECONDS = 210.0


def checkout(rev, dest):
    """The workflow parts of an older commit, laid out as copy_workflow lays them out."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    parts = [p for p in WORKFLOW_PARTS
             if subprocess.run(["git", "cat-file", "-e", f"{rev}:{p}"], cwd=REPO).returncode == 0]
    archive = subprocess.run(["git", "archive", rev, *parts], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    for sub in ("process/100-window", "process/no-limit"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    return dest


def add_songs(workdir, mode, count, seconds):
    for i in range(count):
        write_song(Path(workdir) / "process", f"bench-{i:02d}", mode, seconds=seconds, seed=100 + i)


def run(workdir, cores):
    """Wall seconds of one snakemake run over the per-song rules, and {rule: [benchmark s]}."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores), "--nocolor",
                           "--omit-from", *NOT_PER_SONG], cwd=workdir, env=workflow_env(workdir),
                           capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"snakemake failed in {workdir}:\n{proc.stderr[-3000:]}")
    jobs = defaultdict(list)
    for tsv in (Path(workdir) / "benchmarks").rglob("*.tsv"):
        rule = tsv.relative_to(Path(workdir) / "benchmarks").parts[0]
        with open(tsv) as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if rows:
            jobs[rule].append(float(rows[-1]["s"]))
    return wall, jobs


def describe(label, wall, jobs, songs):
    medians = ", ".join(f"{rule} {statistics.median(s):.1f} s (x{len(s)})" for rule, s in sorted(jobs.items()))
    total = sum(sum(s) for s in jobs.values())
    print(f"  {label}: {wall:.1f} s wall, {wall / songs:.2f} s per song; jobs' own time {total / songs:.2f} s "
          f"per song; medians: {medians}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8, help="4.7 s clips in process/100-window (0: none)")
    ap.add_argument("--long", action="store_true", help="also one 3:30 song in process/no-limit")
    ap.add_argument("--before", metavar="REV", help="also run the same on this older commit, in turn")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="workflow_speed-") as tmp:
        variants = {"now": copy_workflow(Path(tmp) / "now")}
        if args.before:
            variants[args.before] = checkout(args.before, Path(tmp) / "before")
        results = defaultdict(dict)
        stages = [("clips", "100-window", args.clips, 5.0)] if args.clips else []
        if args.long:
            stages.append(("3:30 song", "no-limit", 1, LONG_SECONDS))
        for stage, mode, count, seconds in stages:
            length = 4.7 if mode == "100-window" else seconds  # clips are trimmed to 4.7 s
            print(f"{stage}: {count} x {length:g} s in process/{mode}, --cores {args.cores}", flush=True)
            for label, workdir in variants.items():
                add_songs(workdir, mode, count, seconds)
                if stage != "clips":  # clips' outputs stay; the new song's jobs are the ones that run
                    for tsv in (Path(workdir) / "benchmarks").rglob("*.tsv"):
                        tsv.unlink()
                wall, jobs = run(workdir, args.cores)
                results[stage][label] = wall / count
                describe(label, wall, jobs, count)
            if args.before:
                now, old = results[stage]["now"], results[stage][args.before]
                print(f"  {stage}: {old:.2f} -> {now:.2f} s per song, {old / now:.2f}x faster", flush=True)


if __name__ == "__main__":
    main()
