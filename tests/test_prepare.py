"""Preparation into rtg/: exact lengths, one gain per pair, alignment applied, bad inputs named."""

import hashlib
import json

import numpy as np
import pytest
import soundfile as sf
import yaml

from conftest import REPO, write_song
from vocalsep import WINDOW_SAMPLES
from vocalsep.errors import InputError
from vocalsep.prepare import fit_length, prepare_mix, prepare_pair

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


def outputs(folder):
    return {"mix": folder / "stereo_mixture.wav", "vocal": folder / "isolated_vocal.wav",
            "alignment": folder / "alignment.json", "report": folder / "prepare.json"}


def run_pair(mix, stem, mode, folder):
    out = outputs(folder)
    report = prepare_pair(mix, stem, mode, CONFIG["prepare"], CONFIG["alignment"], out)
    m, sr_m = sf.read(out["mix"], dtype="float64")
    v, sr_v = sf.read(out["vocal"], dtype="float64")
    assert sr_m == sr_v == 22050
    return m, v, report


@pytest.mark.parametrize("n", [10, 103_634, 103_635, 103_636, 300_000])
def test_fit_length_is_exact(n):
    x = np.arange(n, dtype=np.float32) + 1
    y = fit_length(x, WINDOW_SAMPLES)
    assert len(y) == WINDOW_SAMPLES
    keep = min(n, WINDOW_SAMPLES)
    assert np.array_equal(y[:keep], x[:keep]) and not y[keep:].any()


@pytest.mark.parametrize("seconds", [3.0, 4.7, 6.0])
def test_100_window_clips_are_exactly_4_7_seconds(tmp_path, seconds):
    mix, stem = write_song(tmp_path / "process", "clip", "100-window", seconds=seconds)
    m, v, report = run_pair(mix, stem, "100-window", tmp_path / "rtg")
    assert len(m) == len(v) == WINDOW_SAMPLES == 103_635
    assert report["padded"] == (seconds < 4.7)


def test_no_limit_songs_stay_whole(tmp_path):
    mix, stem = write_song(tmp_path / "process", "whole", "no-limit", seconds=7.3)
    m, v, _ = run_pair(mix, stem, "no-limit", tmp_path / "rtg")
    assert abs(len(m) - 7.3 * 22050) <= 1 and len(v) == len(m)


def test_one_gain_keeps_mix_minus_stem_equal_to_the_accompaniment(tmp_path):
    from vocalsep.audio import load_mono
    from vocalsep.demo import synthesise

    sr = 44100
    mix, vocal = synthesise(seed=5, sr=sr, seconds=6.0)
    accompaniment = mix - vocal
    folder = tmp_path / "process" / "no-limit"
    folder.mkdir(parents=True)
    sf.write(folder / "s_nl-full.wav", mix, sr, subtype="FLOAT")
    sf.write(folder / "s_nl-stem.wav", vocal, sr, subtype="FLOAT")
    sf.write(tmp_path / "acc.wav", accompaniment, sr, subtype="FLOAT")
    m, v, report = run_pair(folder / "s_nl-full.wav", folder / "s_nl-stem.wav", "no-limit", tmp_path / "rtg")
    acc = load_mono(tmp_path / "acc.wav", 22050) * report["normalisation_gain"]
    assert np.abs(m).max() == pytest.approx(CONFIG["prepare"]["peak"], rel=1e-5)
    assert np.max(np.abs((m - v) - acc)) < 1e-4  # only float rounding remains
    # normalising the two files separately (the original scripts) would break it:
    v_alone = v / np.abs(v).max() * CONFIG["prepare"]["peak"]
    assert np.max(np.abs((m - v_alone) - acc)) > 0.05


def test_gain_of_a_quieter_acapella_is_measured_and_can_be_applied(tmp_path):
    mix, stem = write_song(tmp_path, "soft", "no-limit", seconds=6.0, subtype="FLOAT")
    data, sr = sf.read(stem)
    sf.write(stem, data * 0.3, sr, subtype="FLOAT")  # the acapella mastered 10 dB quieter
    cfg = dict(CONFIG["alignment"], apply_gain=True)
    out = outputs(tmp_path / "rtg")
    prepare_pair(mix, stem, "no-limit", CONFIG["prepare"], cfg, out)
    alignment = json.loads(out["alignment"].read_text())
    assert alignment["gain"] == pytest.approx(1 / 0.3, rel=0.05)
    m, _ = sf.read(out["mix"])
    v, _ = sf.read(out["vocal"])
    assert np.abs(m - v).max() < 0.9 * np.abs(m).max()  # the scaled vocal cancels inside the mix


def test_a_late_inverted_acapella_is_repaired(tmp_path):
    sr = 44100
    from vocalsep.demo import synthesise

    mix, vocal = synthesise(seed=8, sr=sr, seconds=6.0)
    late = 913  # 20.7 ms at 44.1 kHz, the real pair's offset
    delivered = -np.concatenate([np.zeros((late, 2), np.float32), vocal[:-late]])
    folder = tmp_path / "process" / "no-limit"
    folder.mkdir(parents=True)
    sf.write(folder / "x_nl-full.wav", mix, sr, subtype="PCM_24")
    sf.write(folder / "x_nl-stem.wav", delivered, sr, subtype="PCM_24")
    m, v, _ = run_pair(folder / "x_nl-full.wav", folder / "x_nl-stem.wav", "no-limit", tmp_path / "rtg")
    alignment = json.loads((tmp_path / "rtg" / "alignment.json").read_text())
    assert alignment["polarity"] == -1 and abs(alignment["lag_samples"] + 456.5) <= 1.5
    assert alignment["trusted"] and alignment["null_db"] < alignment["null_db_uncorrected"] - 3
    assert np.corrcoef(m - v, m)[0, 1] < 0.9  # the vocal really cancels now


def test_stereo_48k_24bit_and_mono_8bit_inputs(tmp_path):
    mix, stem = write_song(tmp_path / "a", "hi res", "100-window", sr=48000, subtype="PCM_24")
    m, v, report = run_pair(mix, stem, "100-window", tmp_path / "rtg_a")
    assert report["mix"]["sample_rate"] == 48000 and report["mix"]["channels"] == 2
    data, sr = sf.read(stem)
    sf.write(tmp_path / "mono8_100-stem.wav", data.mean(axis=1), sr, subtype="PCM_U8")
    m2, v2, report2 = run_pair(mix, tmp_path / "mono8_100-stem.wav", "100-window", tmp_path / "rtg_b")
    assert report2["stem"]["channels"] == 1 and len(v2) == WINDOW_SAMPLES


def test_silent_stem_is_an_error_naming_it(tmp_path):
    mix, stem = write_song(tmp_path, "quiet", "100-window")
    data, sr = sf.read(stem)
    sf.write(stem, np.zeros_like(data), sr)
    with pytest.raises(InputError, match="is silent") as err:
        run_pair(mix, stem, "100-window", tmp_path / "rtg")
    assert str(stem) in str(err.value)
    assert not (tmp_path / "rtg" / "stereo_mixture.wav").exists()


def test_much_shorter_stem_is_an_error_naming_it(tmp_path):
    mix, _ = write_song(tmp_path, "short", "no-limit", seconds=8.0, stem=False)
    _, stem = write_song(tmp_path / "other", "short", "no-limit", seconds=2.0)
    with pytest.raises(InputError, match="much shorter than its mix") as err:
        run_pair(mix, stem, "no-limit", tmp_path / "rtg")
    assert str(stem) in str(err.value)


def test_a_mix_without_stem_is_prepared_alone(tmp_path):
    mix, _ = write_song(tmp_path, "solo", "100-window", stem=False, seconds=5.5)
    out = {"mix": tmp_path / "rtg" / "stereo_mixture.wav", "report": tmp_path / "rtg" / "prepare.json"}
    report = prepare_mix(mix, "100-window", CONFIG["prepare"], out)
    m, sr = sf.read(out["mix"])
    assert sr == 22050 and len(m) == WINDOW_SAMPLES and report["stem"] is None


def test_inputs_are_never_modified(tmp_path):
    mix, stem = write_song(tmp_path / "process", "keep", "100-window")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (mix, stem)}
    run_pair(mix, stem, "100-window", tmp_path / "rtg")
    assert before == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (mix, stem)}


def test_command_line_prepares_a_song_and_names_a_bad_file(tmp_path):
    import subprocess
    import sys

    mix, stem = write_song(tmp_path / "in", "cli song", "no-limit", seconds=5.0)
    done = subprocess.run([sys.executable, "-m", "vocalsep", "prepare", str(mix), str(stem),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["samples"] == sf.info(tmp_path / "out" / "isolated_vocal.wav").frames
    bad = tmp_path / "bad_nl-full.wav"
    bad.write_text("not audio")
    failed = subprocess.run([sys.executable, "-m", "vocalsep", "prepare", str(bad), "-o", str(tmp_path / "x")],
                            capture_output=True, text=True, cwd=REPO)
    assert failed.returncode == 2 and f"{bad}: is not a readable audio file" in failed.stderr
    assert "Traceback" not in failed.stderr
