"""Many songs: the whole DAG plans, and each song adds a few jobs, not dozens.

Planning time is measured by bench/dag_scale.py (printed here too, never asserted).
"""

import sys
import time

import pytest

from conftest import REPO, copy_workflow, snakemake

sys.path.insert(0, str(REPO / "bench"))
from dag_scale import job_stats, make_songs, song_names  # noqa: E402

pytestmark = pytest.mark.slow

N = 200  # the structure is the same at 1000 (bench/dag_scale.py plans 1000 and prints the time)
MAX_JOBS_PER_SONG = 8


def test_many_songs_plan_with_few_jobs_per_song(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    make_songs(work / "process", N)
    start = time.perf_counter()
    out = snakemake(work, "-n").stdout
    print(f"dry run of the whole workflow with {N} songs: {time.perf_counter() - start:.1f} s")
    stats = job_stats(out)
    total = stats.pop("total")
    paired = sum(1 for i in range(N) if i % 10 != 9)
    assert stats["prepare_pair"] == paired and stats["prepare_mix"] == N - paired
    # no rule has more than one job per song and source: views and scales are outputs of one job
    for rule, count in stats.items():
        assert count <= 2 * N, f"{rule}: {count} jobs for {N} songs"
    assert total <= MAX_JOBS_PER_SONG * N + 20, stats
    # every song is planned, names with spaces, dots and accents included
    for name in song_names(N)[:: N // 10]:
        assert f"song={name}" in out
