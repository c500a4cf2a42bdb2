"""Training the vocal U-Net for real on small generated songs: fine-tuning, scratch, resume, data."""

import numpy as np
import pytest
import soundfile as sf
import torch

from vocalsep.demo import synthesise
from vocalsep.errors import InputError
from vocalsep.stft import HALF_RATE_GRID, grid_stft, padded
from vocalsep.unet.data import PatchSampler, Track, musdb_tracks, rtg_tracks, split_by_song
from vocalsep.unet.model_file import load_model
from vocalsep.unet.train import TrainSettings, export, magnitudes, train

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


def demo_track(seed, seconds=4.0):
    """A demo song (formant voice over drums, bass and pad) as a mono 22.05 kHz training pair."""
    mix, vocal = synthesise(seed, SR, seconds)
    return Track(f"demo{seed}", "demo", vocal[:, 0].copy(), (mix[:, 0] - vocal[:, 0]).astype(np.float32))


def small_config(**kw):
    values = dict(epochs=2, steps_per_epoch=4, batch_size=2, patch_frames=64, seed=3, threads=2)
    values.update(kw)
    return TrainSettings(**values)


def test_fine_tuning_a_few_steps_from_the_pretrained_weights_lowers_the_validation_loss(tmp_path):
    train_set, valid_set = [demo_track(s) for s in range(3)], [demo_track(10)]  # the held-out song is unseen
    cfg = small_config(epochs=2, steps_per_epoch=8, patch_frames=128)
    history = train(train_set, valid_set, tmp_path, cfg, progress=False)
    assert [h["epoch"] for h in history] == [0, 1, 2]  # epoch 0: Spleeter's weights as they come
    start, end = history[0], history[-1]
    assert np.isnan(start["train_loss"]) and start["steps"] == 0 and end["steps"] == 16
    assert end["valid_loss"] < 0.8 * start["valid_loss"]  # 16 steps of 2 patches: a fifth off at least
    assert end["valid_sdr"] > start["valid_sdr"] > start["valid_sdr_mixture"] + 6.0
    csv_text = (tmp_path / "training.csv").read_text().splitlines()
    assert csv_text[0].startswith("epoch,steps,train_loss,valid_loss,valid_sdr") and len(csv_text) == 4
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    # The model file holds the best epoch's weights; load_model gives them back as a VocalUNet.
    record = export(tmp_path, tmp_path / "model.pt", cfg)
    model, info = load_model(tmp_path / "model.pt")
    best = max(history, key=lambda h: h["valid_sdr"])
    assert info["epoch"] == best["epoch"] == record["epoch"] and info["valid_sdr"] == best["valid_sdr"]
    assert info["init"] == "pretrained" and info["train_config"]["patch_frames"] == 128
    saved = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)["model"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_init_scratch_trains_a_fresh_network_of_any_size(tmp_path):
    train_set, valid_set = [demo_track(s, 3.0) for s in range(3)], [demo_track(11, 3.0)]
    cfg = small_config(init="scratch", width=4, epochs=2, steps_per_epoch=15, lr=1e-2)
    history = train(train_set, valid_set, tmp_path, cfg, progress=False)
    assert history[-1]["valid_loss"] < 0.9 * history[0]["valid_loss"]
    assert history[-1]["train_loss"] < history[1]["train_loss"]
    export(tmp_path, tmp_path / "model.pt", cfg)
    model, info = load_model(tmp_path / "model.pt")
    assert model.config() == {"channels": 2, "width": 4, "depth": 6} and info["init"] == "scratch"
    with pytest.raises(ValueError, match="init: scratch"):
        TrainSettings(width=4)  # Deezer's weights only fit Spleeter's own size
    with pytest.raises(ValueError, match="pretrained, scratch"):
        TrainSettings(init="imagenet")


def test_resume_after_interruption_ends_where_an_uninterrupted_run_does(tmp_path):
    train_set = [demo_track(s, 3.0) for s in range(2)]
    cfg = small_config(epochs=3, steps_per_epoch=3, batch_size=1)
    straight = train(train_set, [], tmp_path / "straight", cfg, progress=False)  # no validation: faster
    first = train(train_set, [], tmp_path / "resumed", cfg, progress=False, stop_after=1)
    assert [h["epoch"] for h in first] == [0, 1]
    saved = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=True)
    assert saved["epoch"] == 1 and saved["optimizer"]["state"]  # Adam moments are in the checkpoint
    resumed = train(train_set, [], tmp_path / "resumed", cfg, progress=False)
    assert [h["epoch"] for h in resumed] == [0, 1, 2, 3]
    for a, b in zip(straight[1:], resumed[1:]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    end_a = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)
    end_b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=True)
    for key, value in end_a["model"].items():
        assert torch.allclose(value.float(), end_b["model"][key].float(), atol=1e-6), key
    for k, state in end_a["optimizer"]["state"].items():
        assert torch.allclose(state["exp_avg"], end_b["optimizer"]["state"][k]["exp_avg"], atol=1e-7)
    assert end_a["rng"]["numpy"] == end_b["rng"]["numpy"]
    # Frozen batch norms: Spleeter's running statistics are those of the pretrained model still.
    from vocalsep.models.pretrained import load_pretrained

    stats = load_pretrained().state_dict()
    assert torch.equal(end_a["model"]["vocals.encoder.0.norm.running_var"], stats["vocals.encoder.0.norm.running_var"])
    assert not torch.equal(end_a["model"]["vocals.encoder.0.conv.weight"], stats["vocals.encoder.0.conv.weight"])
    # Rerunning a finished training does nothing more; other network settings are refused.
    assert len(train(train_set, [], tmp_path / "resumed", cfg, progress=False)) == 4
    with pytest.raises(InputError, match=r"last\.pt: was trained with other settings \(init: 'pretrained' -> "
                                         r"'scratch'.*delete .*checkpoints"):
        train(train_set, [], tmp_path / "resumed", small_config(epochs=4, init="scratch"), progress=False)


def test_a_corrupt_checkpoint_is_refused_with_the_file_named(tmp_path):
    ckpt = tmp_path / "checkpoints" / "last.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(InputError, match=r"last\.pt: training checkpoint is corrupt.*delete"):
        train([demo_track(1, 2.0)], [], tmp_path, small_config(), progress=False)
    torch.save({"model": {}, "epoch": 1, "code": print}, ckpt)  # pickled code is not loaded
    with pytest.raises(InputError, match="corrupt or foreign"):
        train([demo_track(1, 2.0)], [], tmp_path, small_config(), progress=False)


def test_training_patches_see_the_magnitudes_separation_feeds_the_network():
    track = demo_track(2, 3.0)
    grid, cfg = HALF_RATE_GRID, small_config()
    song = grid_stft(padded(torch.from_numpy(track.mixture)[None], grid), grid)[..., : grid.bins].abs() * grid.scale
    j = 20  # frame j of the padded song starts j * hop - n_fft samples into the song
    start = j * grid.hop - grid.n_fft
    patch = torch.from_numpy(track.mixture[start:start + cfg.patch_samples()])[None]
    mag = magnitudes(patch)
    assert mag.shape == (1, 2, 64, 1024) and torch.equal(mag[0, 0], mag[0, 1])
    assert torch.allclose(mag[0, 0], song[0, j:j + 64], atol=1e-4)


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
