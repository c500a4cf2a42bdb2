"""The fingerprint rules in a real Snakemake run: cache, per-song matching job, lint."""

import json

import numpy as np
import pytest

from conftest import copy_workflow, dry_run_jobs, snakemake, write_song

pytestmark = pytest.mark.slow

SONG = "ça va.take-2"


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("fp"))
    write_song(work / "process", SONG, "100-window", seconds=5.0, seed=3)
    (work / "small.yaml").write_text(
        "fingerprint:\n  iterations: 3\n  loss_views: [0, 17]\n  threads: 1\n"
    )
    return work


def targets():
    return [f"results/100-window/{SONG}/metrics.json",
            f"results/fingerprint/100-window/{SONG}/vocal",
            f"results/fingerprint/100-window/{SONG}/mix"]


def test_the_rules_make_the_cache_and_the_song_results(work):
    snakemake(work, *targets(), "--configfile", "small.yaml")
    for source in ("mix", "vocal"):
        folder = work / "results" / "fingerprint" / "100-window" / SONG / source
        assert len(list(folder.rglob("slice_*.npy"))) == 57 and len(list(folder.rglob("slice_*.json"))) == 57
        arr = np.load(folder / "n2048" / "slice_06.npy")
        assert arr.shape == (103_635 // 1024 + 1, 425) and np.isfinite(arr).all()
    song = work / "results" / "100-window" / SONG
    for name in ("extracted_vocal.wav", "extracted_accompaniment.wav", "1_original_mixture.wav",
                 "2_target_vocal.wav", "optimization_loss.png", "spectrograms.png"):
        assert (song / name).stat().st_size > 0
    data = json.loads((song / "metrics.json").read_text())
    assert data["settings"]["iterations"] == 3 and len(data["methods"]) == 7  # matching (2 renderings) + 5
    assert (work / "logs" / "fingerprint_match" / "100-window" / f"{SONG}.log").exists()
    assert (work / "benchmarks" / "fingerprint" / "100-window" / SONG / "pair.tsv").exists()  # one job, both
    assert dry_run_jobs(work, *targets(), "--configfile", "small.yaml") == {}


def test_a_change_of_matching_settings_reruns_only_the_matching(work):
    (work / "other.yaml").write_text("fingerprint:\n  iterations: 4\n  loss_views: [0, 17]\n  threads: 1\n")
    jobs = dry_run_jobs(work, *targets(), "--configfile", "other.yaml")
    assert jobs == {"fingerprint_match": [f"mode=100-window, song={SONG}"]}


def test_the_lint_has_nothing_to_say_about_these_rules(work):
    out = snakemake(work, "--lint", check=False)
    text = out.stdout + out.stderr
    for rule in ("rule fingerprint ", "rule fingerprint_pair ", "rule fingerprint_match ", "rule report "):
        assert rule not in text, text
    for file in ("fingerprint.smk", "separate.smk", "report.smk"):
        assert f"rules/{file}:" not in text, text


def test_a_paired_song_is_fingerprinted_by_one_job_a_lone_mix_by_its_own(tmp_path):
    """fingerprint_pair makes a paired song's two caches in one job; a mix without a stem takes rule
    fingerprint (the pair rule's vocal cannot be made for it)."""
    work = copy_workflow(tmp_path / "w")
    write_song(work / "process", "paired", "100-window", seconds=5.0, seed=3)
    write_song(work / "process", "lone", "100-window", seconds=5.0, seed=4, stem=False)
    caches = [f"results/fingerprint/100-window/{song}/{source}"
              for song, source in (("paired", "mix"), ("paired", "vocal"), ("lone", "mix"))]
    jobs = dry_run_jobs(work, *caches)
    assert jobs["fingerprint_pair"] == ["mode=100-window, song=paired"]
    assert jobs["fingerprint"] == ["mode=100-window, song=lone, source=mix"]
