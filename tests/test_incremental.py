"""Incremental reruns of the whole workflow under the workstation profile (profiles/default).

After a full run on three songs (two pairs and a mix-only song; quick settings): a changed mix
reruns exactly that song's jobs and the aggregates; touched files whose bytes did not change rerun
nothing; a changed setting reruns only the rules that use it (and what depends on their results);
changed package code reruns the rules that import it.
"""

import os
import re
import time

import pytest
import soundfile as sf

from conftest import dry_run_jobs, snakemake, write_song
from quick import quick_workflow

pytestmark = pytest.mark.slow

PAIRS = ["first song", "ça va"]
MIX_ONLY = "third.take-2"
SONGS = PAIRS + [MIX_ONLY]
# The whole workflow but the Carvana branch, which has no songs (and the longest training).
WHOLE = ("--omit-from", "carvana_data")


def song_of(wildcards):
    """The song named in a job's 'wildcards:' line, or None for an aggregate job."""
    for part in wildcards.split(", "):
        if part.startswith("song="):
            return part[len("song="):]
    return None


def per_song_jobs(jobs):
    """{song: {rule: count}} and {aggregate rule: count} of a dry run's jobs."""
    songs, aggregates = {}, {}
    for rule, wildcards_list in jobs.items():
        for wildcards in wildcards_list or [""]:
            song = song_of(wildcards)
            target = songs.setdefault(song, {}) if song else aggregates
            target[rule] = target.get(rule, 0) + 1
    return songs, aggregates


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """A workflow copy, profiles included, run to the end on three songs; returns (path, plan)."""
    work = quick_workflow(tmp_path_factory.mktemp("incremental"))
    for i, name in enumerate(PAIRS):
        # FLOAT 6 s: over Snakemake's default 1 MB checksum limit, so the profile's limit is what counts
        write_song(work / "process", name, "100-window", seconds=6.0, seed=i, subtype="FLOAT")
    write_song(work / "process", MIX_ONLY, "100-window", seconds=6.0, seed=7, stem=False, subtype="FLOAT")
    plan = dry_run_jobs(work, *WHOLE)
    snakemake(work, *WHOLE)
    assert dry_run_jobs(work, *WHOLE) == {}
    return work, plan


def touch(path, age):
    """Set the file's times to `age` seconds ago (0: now)."""
    when = time.time() - age
    os.utime(path, (when, when))


def test_the_full_run_covers_every_song(full_run):
    _, plan = full_run
    songs, _ = per_song_jobs(plan)
    assert set(songs) == set(SONGS)
    assert "prepare_mix" in songs[MIX_ONLY] and all("prepare_pair" in songs[s] for s in PAIRS)
    assert all({"fingerprint_match", "unet_metrics", "report_listen"} <= set(songs[s]) for s in PAIRS)


def test_touched_files_with_unchanged_bytes_rerun_nothing(full_run):
    work, _ = full_run
    # every file touched, in the order that makes each input newer than the outputs made from it
    touched = 0
    for folder, age in (("results", 100), ("rtg", 50), ("process", 0)):
        for path in (work / folder).rglob("*"):
            if path.is_file():
                touch(path, age)
                touched += 1
    assert touched > 50 and any(p.stat().st_size > 1_000_000 for p in (work / "process").rglob("*.wav"))
    assert dry_run_jobs(work, *WHOLE) == {}
    # without the profile's checksum limit, Snakemake would go by the times of the large files
    plain = snakemake(work, "-n", "--workflow-profile", "none", *WHOLE).stdout
    assert re.search(r"reason: Updated input files: [^\n]*process/100-window/first song_100-full\.wav", plain), \
        plain[-3000:]


def test_a_changed_mix_reruns_that_song_and_the_aggregates(full_run):
    work, plan = full_run
    planned_songs, planned_aggregates = per_song_jobs(plan)
    mix = work / "process" / "100-window" / "ça va_100-full.wav"
    data, sr = sf.read(mix)
    sf.write(mix, data * 0.8, sr, subtype="FLOAT")
    songs, aggregates = per_song_jobs(dry_run_jobs(work, *WHOLE))
    assert songs == {"ça va": planned_songs["ça va"]}
    assert set(aggregates) == {"report", "report_table"} <= set(planned_aggregates)
    snakemake(work, *WHOLE)
    assert dry_run_jobs(work, *WHOLE) == {}


def test_a_changed_setting_reruns_only_the_rules_that_use_it(full_run):
    work, _ = full_run
    config = work / "config.yaml"
    original = config.read_text()
    try:
        # only fingerprint matching reads it (not the fingerprint cache, the preparation or the U-Net);
        # the matched songs' listening pages and the report gather its results
        config.write_text(original.replace("iterations: 4", "iterations: 5"))
        jobs = dry_run_jobs(work, *WHOLE)
        assert set(jobs) == {"fingerprint_match", "report_listen", "report", "report_table"}, jobs
        songs, _ = per_song_jobs(jobs)
        assert set(songs) == set(PAIRS)
        reasons = snakemake(work, "-n", *WHOLE).stdout
        assert "Params have changed since last execution" in reasons, reasons[-3000:]
    finally:
        config.write_text(original)
    assert dry_run_jobs(work, *WHOLE) == {}


def test_changed_package_code_reruns_the_rules_that_import_it(full_run):
    work, _ = full_run
    module = work / "vocalsep" / "report_pages.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# a change in the report pages' code\n")
        jobs = dry_run_jobs(work, *WHOLE)
        assert set(jobs) == {"report_listen", "report_table"} and len(jobs["report_listen"]) == len(SONGS), jobs
    finally:
        module.write_text(original)
    assert dry_run_jobs(work, *WHOLE) == {}


def test_changed_parallel_code_reruns_the_matching_that_imports_it(full_run):
    # vocalsep/parallel.py was in no hand-kept module list; the rules now hash what their scripts import
    work, _ = full_run
    module = work / "vocalsep" / "parallel.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# a change in the worker pools' code\n")
        jobs = dry_run_jobs(work, *WHOLE)
        songs, _ = per_song_jobs(jobs)
        assert all(songs[s].get("fingerprint_match") == 1 for s in PAIRS), jobs
        # the preparation, the U-Net's separation and the discovery import no parallel code
        assert not {"prepare_pair", "prepare_mix", "unet_separate", "discovery"} & set(jobs), jobs
        # the matching's own code param changed: with only the matching allowed to run (not the
        # fingerprint cache it reads, which reruns too), its reason is its params
        metrics = [f"results/100-window/{s}/metrics.json" for s in PAIRS]
        out = snakemake(work, "-n", "--allowed-rules", "fingerprint_match", "--", *metrics).stdout
        assert out.count("rule fingerprint_match:") == len(PAIRS), out[-3000:]
        assert out.count("reason: Params have changed since last execution") == len(PAIRS), out[-3000:]
    finally:
        module.write_text(original)
    assert dry_run_jobs(work, *WHOLE) == {}
