"""Training the vocal U-Net for real on small synthetic pairs: learning, split, augmentation, resume."""

import numpy as np
import pytest
import soundfile as sf
import torch

from vocalsep.errors import InputError
from vocalsep.unet.data import PatchSampler, Track, musdb_tracks, rtg_tracks, split_by_song
from vocalsep.unet.separate import load_model
from vocalsep.unet.train import TrainConfig, export, train

SR = 22050


def synthetic_track(name, seed, seconds=3.0):
    """A gated, vibrato harmonic 'voice' over louder noise-and-bass 'music'."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(180, 320) * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 8)) * (np.sin(2 * np.pi * rng.uniform(0.5, 1) * t) > -0.3)
    bass = np.sign(np.sin(2 * np.pi * rng.uniform(50, 80) * t)) * 0.3
    noise = np.convolve(rng.standard_normal(len(t)), np.ones(4) / 4, "same") * 0.5
    return Track(name, "synthetic", (0.15 * voice).astype(np.float32), (0.5 * (bass + noise)).astype(np.float32))


def tiny_config(**kw):
    values = dict(width=4, epochs=2, steps_per_epoch=150, batch_size=4, patch_frames=64, lr=2e-3, seed=3, threads=1)
    values.update(kw)
    return TrainConfig(**values)


def test_a_few_hundred_steps_lower_the_loss_and_beat_the_mixture(tmp_path):
    tracks = [synthetic_track(f"song{i}", i, seconds=3.0 if i < 4 else 1.5) for i in range(5)]
    train_set, valid_set = [t for t in tracks if t.name != "song4"], [tracks[4]]
    cfg = tiny_config(epochs=2, steps_per_epoch=100)
    history = train(train_set, valid_set, tmp_path, cfg, progress=False)
    assert [h["epoch"] for h in history] == [1, 2]
    first, last = history[0], history[-1]
    assert last["valid_loss"] < first["valid_loss"]
    assert last["valid_sdr"] > last["valid_sdr_mixture"] + 3.0  # clearly above the mixture floor
    csv_text = (tmp_path / "training.csv").read_text().splitlines()
    assert csv_text[0].startswith("epoch,steps,train_loss,valid_loss,valid_sdr") and len(csv_text) == 3
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    record = export(tmp_path, tmp_path / "model.pt", cfg)
    model, spec, info = load_model(tmp_path / "model.pt")
    assert info["valid_sdr"] == max(h["valid_sdr"] for h in history) and model.width == 4


def test_resume_after_interruption_continues_with_the_same_state(tmp_path):
    train_set, valid_set = [synthetic_track(f"song{i}", i, seconds=2.0) for i in range(2)], []  # no SDR: faster
    cfg = tiny_config(epochs=3, steps_per_epoch=10)
    straight = train(train_set, valid_set, tmp_path / "straight", cfg, progress=False)
    first = train(train_set, valid_set, tmp_path / "resumed", cfg, progress=False, stop_after=1)
    assert [h["epoch"] for h in first] == [1]
    saved = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=False)
    assert saved["epoch"] == 1 and saved["optimizer"]["state"]  # Adam moments are in the checkpoint
    resumed = train(train_set, valid_set, tmp_path / "resumed", cfg, progress=False)
    assert [h["epoch"] for h in resumed] == [1, 2, 3]
    for a, b in zip(straight, resumed):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    end_a = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=False)
    end_b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=False)
    for key, value in end_a["model"].items():
        assert torch.allclose(value.float(), end_b["model"][key].float(), atol=1e-5), key
    for k, state in end_a["optimizer"]["state"].items():
        assert torch.allclose(state["exp_avg"], end_b["optimizer"]["state"][k]["exp_avg"], atol=1e-6)
    # Rerunning a finished training does nothing more; other network settings are refused.
    assert len(train(train_set, valid_set, tmp_path / "resumed", cfg, progress=False)) == 3
    with pytest.raises(InputError, match="width"):
        train(train_set, valid_set, tmp_path / "resumed", tiny_config(epochs=4, width=8), progress=False)


def test_split_keeps_songs_whole_and_excerpts_of_one_piece_together():
    tracks = [Track(n, m, np.zeros(10, np.float32), np.zeros(10, np.float32))
              for n, m in [("a", "100-window"), ("a", "no-limit"), ("b", "100-window"), ("b", "no-limit"),
                           ("c", "no-limit"), ("piece__00", "corpus"), ("piece__01", "corpus"), ("d", "x")]]
    for seed in range(5):
        train_set, valid_set = split_by_song(tracks, valid_fraction=0.4, seed=seed)
        train_songs = {t.name.split("__")[0] for t in train_set}
        valid_songs = {t.name.split("__")[0] for t in valid_set}
        assert train_songs and valid_songs and not train_songs & valid_songs
        assert len(train_set) + len(valid_set) == len(tracks)


def test_patches_are_aligned_mixes_or_remixes_with_random_gain():
    a, b = synthetic_track("a", 1), synthetic_track("b", 2)
    rng = np.random.default_rng(0)
    n = 8000
    vocal, accomp = PatchSampler([a, b], n, rng, remix=0.0, gain_db=0.0).batch(6)
    assert vocal.shape == accomp.shape == (6, n)
    for v, m in zip(vocal, vocal + accomp):  # without remixing each patch is a real excerpt of one song
        found = False
        for t in (a, b):
            hits = np.flatnonzero(np.isclose(t.vocal, v[0]) & np.isclose(np.roll(t.vocal, -1), v[1]))
            found |= any(np.allclose(t.mixture[h:h + n], m, atol=1e-6) for h in hits if h + n <= len(t))
        assert found
    vocal_g, _ = PatchSampler([a], n, np.random.default_rng(1), remix=0.0, gain_db=6.0).batch(20)
    peaks = np.abs(vocal_g).max(axis=1)
    assert peaks.max() / peaks.min() > 1.2  # gains differ
    short = Track("short", "x", np.ones(100, np.float32), np.ones(100, np.float32))
    v, acc = PatchSampler([short], 500, np.random.default_rng(2), remix=0.0, gain_db=0.0).batch(2)
    assert np.all(v.sum(axis=1) == 100) and np.array_equal(v, acc)  # padded, at the same place


def test_pairs_from_rtg_and_a_musdb_folder(tmp_path):
    t = synthetic_track("x", 4, seconds=1.0)
    for mode in ("100-window", "no-limit"):
        d = tmp_path / "rtg" / mode / "Song ä.1"
        d.mkdir(parents=True)
        sf.write(d / "stereo_mixture.wav", t.mixture, SR, subtype="FLOAT")
        sf.write(d / "isolated_vocal.wav", t.vocal, SR, subtype="FLOAT")
    (tmp_path / "rtg" / "no-limit" / "mix only").mkdir()
    sf.write(tmp_path / "rtg" / "no-limit" / "mix only" / "stereo_mixture.wav", t.mixture, SR)
    tracks = rtg_tracks(tmp_path / "rtg", SR)
    assert [(x.name, x.source) for x in tracks] == [("Song ä.1", "rtg/100-window"), ("Song ä.1", "rtg/no-limit")]
    assert np.allclose(tracks[0].accompaniment, t.accompaniment, atol=1e-6)
    d = tmp_path / "musdb" / "train" / "Artist - Title"
    d.mkdir(parents=True)
    sf.write(d / "mixture.wav", np.stack([t.mixture] * 2, 1), 44100)  # stereo, another rate
    sf.write(d / "vocals.wav", np.stack([t.vocal] * 2, 1), 44100)
    (tmp_path / "musdb" / "test" / "Held out").mkdir(parents=True)
    got = musdb_tracks(tmp_path / "musdb", SR, splits=("train",))
    assert [x.name for x in got] == ["Artist - Title"] and len(got[0]) == pytest.approx(len(t) / 2, abs=2)
    with pytest.raises(InputError, match="mixture.wav and vocals.wav"):
        musdb_tracks(tmp_path / "musdb", SR, splits=("test",))
    with pytest.raises(InputError, match="not a folder"):
        musdb_tracks(tmp_path / "nowhere", SR)
