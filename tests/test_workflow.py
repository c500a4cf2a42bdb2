"""Real Snakemake runs in temporary copies of the workflow: demo, bad inputs, incremental reruns."""

import json
import re

import numpy as np
import pytest
import soundfile as sf

from conftest import copy_workflow, dry_run_jobs, snakemake, write_song

pytestmark = pytest.mark.slow

SONGS = ["first song", "ça va", "third.take-2"]


def prepare_targets(songs, mode="100-window"):
    return [f"rtg/{mode}/{s}/isolated_vocal.wav" for s in songs] + ["results/discovery.tsv"]


@pytest.fixture(scope="module")
def three_songs(tmp_path_factory):
    """A workflow copy with three 100-window songs in process/, prepared once."""
    work = copy_workflow(tmp_path_factory.mktemp("three"))
    for i, name in enumerate(SONGS):
        write_song(work / "process", name, "100-window", seconds=5.0, seed=i)
    snakemake(work, *prepare_targets(SONGS))
    return work


def test_songs_are_prepared_with_alignment_reports(three_songs):
    table = (three_songs / "results" / "discovery.tsv").read_text().splitlines()
    assert len(table) == 4 and all(line.endswith("paired") for line in table[1:])
    for name in SONGS:
        folder = three_songs / "rtg" / "100-window" / name
        mix, sr = sf.read(folder / "stereo_mixture.wav")
        assert sr == 22050 and len(mix) == 103_635
        alignment = json.loads((folder / "alignment.json").read_text())
        assert alignment["lag_samples"] == 0 and alignment["polarity"] == 1 and alignment["trusted"]


def test_changing_one_mix_reruns_only_that_song(three_songs):
    assert dry_run_jobs(three_songs, *prepare_targets(SONGS)) == {}  # everything is up to date
    mix = three_songs / "process" / "100-window" / "ça va_100-full.wav"
    data, sr = sf.read(mix)
    sf.write(mix, data * 0.8, sr)
    jobs = dry_run_jobs(three_songs, *prepare_targets(SONGS))
    assert set(jobs) == {"prepare_pair"}
    assert jobs["prepare_pair"] == ["mode=100-window, song=ça va"]
    snakemake(three_songs, *prepare_targets(SONGS))
    assert dry_run_jobs(three_songs, *prepare_targets(SONGS)) == {}


def test_a_change_of_package_code_reruns_the_rules_that_use_it(three_songs, tmp_path):
    module = three_songs / "vocalsep" / "align.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# a change in the alignment code\n")
        jobs = dry_run_jobs(three_songs, *prepare_targets(SONGS))
        assert set(jobs) == {"prepare_pair"} and len(jobs["prepare_pair"]) == 3
    finally:
        module.write_text(original)
    assert dry_run_jobs(three_songs, *prepare_targets(SONGS)) == {}


def test_a_change_of_config_reruns_only_the_rules_that_use_it(three_songs):
    config = three_songs / "config.yaml"
    original = config.read_text()
    try:
        config.write_text(original.replace("peak: 0.99", "peak: 0.9"))
        jobs = dry_run_jobs(three_songs, *prepare_targets(SONGS))
        assert set(jobs) == {"prepare_pair"} and len(jobs["prepare_pair"]) == 3
    finally:
        config.write_text(original)


def test_bad_inputs_fail_with_named_files_and_the_rest_finishes(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    process = work / "process" / "100-window"
    write_song(work / "process", "good one", "100-window", seed=1)
    write_song(work / "process", "silent stem", "100-window", seed=2)
    data, sr = sf.read(process / "silent stem_100-stem.wav")
    sf.write(process / "silent stem_100-stem.wav", np.zeros_like(data), sr)
    write_song(work / "process", "corrupt", "100-window", seed=3)
    (process / "corrupt_100-full.wav").write_bytes(b"RIFF....WAVEjunk" * 10)
    write_song(work / "process", "empty", "100-window", seed=4)
    (process / "empty_100-stem.wav").write_bytes(b"")
    (process / "not audio_100-full.mp3").write_text("just text\n")
    (process / "not audio_100-stem.mp3").write_text("just text\n")
    before = {p.name: p.read_bytes() for p in process.iterdir()}

    names = ["good one", "silent stem", "corrupt", "empty", "not audio"]
    proc = snakemake(work, "--keep-going", *prepare_targets(names), check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "silent stem_100-stem.wav: is silent" in output
    assert "corrupt_100-full.wav: is not a readable audio file" in output
    assert "empty_100-stem.wav: is empty" in output
    assert "not audio_100-full.mp3: is not a readable audio file" in output
    assert (work / "rtg" / "100-window" / "good one" / "isolated_vocal.wav").exists()
    for bad in names[1:]:
        assert not list((work / "rtg" / "100-window").glob(f"{bad}/*.wav"))
    assert before == {p.name: p.read_bytes() for p in process.iterdir()}  # process/ untouched


def test_demo_songs_are_used_when_process_is_empty(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    targets = [f"rtg/{mode}/demo-0{i}/isolated_vocal.wav" for mode in ("100-window", "no-limit") for i in (1, 2, 3)]
    snakemake(work, *targets)
    alignment = json.loads((work / "rtg" / "100-window" / "demo-02" / "alignment.json").read_text())
    assert alignment["polarity"] == -1 and abs(alignment["lag_ms"] + 20.7) < 0.1  # found and fixed
    assert not any((work / "process").rglob("*.wav"))  # the demo never writes into process/
    # once a user adds a song, the demo is not used
    write_song(work / "process", "mine", "no-limit", seconds=5.0)
    dry = snakemake(work, "-n").stdout
    assert "demo-0" not in dry and re.search(r"song=mine", dry)
