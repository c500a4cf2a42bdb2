"""Separation with the vocal U-Net: chunked masks, whole files, the `separate` command, the shipped model."""

import numpy as np
import pytest
import soundfile as sf
import torch

from vocalsep.cli import main
from vocalsep.models.vocal_unet import VocalUNet
from vocalsep.unet.separate import Separator, default_model_path, export_model, load_model, predict_mask
from vocalsep.unet.spectrogram import SpecConfig


@pytest.fixture
def small_model(tmp_path):
    torch.manual_seed(0)
    model = VocalUNet(width=4)
    model.eval()
    path = tmp_path / "small.pt"
    export_model(path, model, SpecConfig())
    return path


@pytest.mark.parametrize("frames,chunk,overlap", [(1000, 128, 32), (300, 64, 16), (50, 512, 64), (129, 64, 64)])
def test_chunk_crossfades_sum_to_one(frames, chunk, overlap):
    """A network that says 0.5 everywhere must give 0.5 at every frame, however the song is cut."""
    model = VocalUNet(width=2).eval()
    with torch.no_grad():
        model.last.weight.zero_()
        model.last.bias.zero_()
    mag = torch.rand(2, 513, frames)
    mask = predict_mask(model, mag, SpecConfig(), chunk_frames=chunk, overlap_frames=overlap)
    assert mask.shape == mag.shape
    assert torch.allclose(mask, torch.full_like(mask, 0.5), atol=1e-6)


def test_chunked_mask_is_close_to_one_pass_far_from_edges():
    torch.manual_seed(1)
    model = VocalUNet(width=4).eval()
    mag = torch.rand(1, 513, 700) ** 4
    whole = predict_mask(model, mag, SpecConfig(), chunk_frames=1024, overlap_frames=0)
    chunked = predict_mask(model, mag, SpecConfig(), chunk_frames=256, overlap_frames=96)
    assert float((whole - chunked).abs().mean()) < 0.05


def test_separator_keeps_rate_channels_length_and_sums_to_the_input(small_model, rng):
    sep = Separator(small_model, device="cpu", chunk_seconds=2.0, overlap_seconds=0.5)
    stereo = (0.1 * rng.standard_normal((44100 * 3 + 17, 2))).astype(np.float32)
    vocal, accomp = sep.separate(stereo, 44100)
    assert vocal.shape == accomp.shape == stereo.shape
    assert np.allclose(vocal + accomp, stereo, atol=1e-6)
    assert not np.allclose(vocal[:, 0], vocal[:, 1])  # channels are separated on their own
    mono = stereo[:, 0] * 0.5
    v, a = sep.separate(mono, 16000)
    assert v.shape == a.shape == mono.shape


def test_separate_command_on_stereo_44k_writes_stereo_44k(small_model, tmp_path):
    from vocalsep.demo import synthesise

    mix, _ = synthesise(3, 44100, 4.0)
    song = tmp_path / "in" / "my song.flac"
    song.parent.mkdir()
    sf.write(song, mix, 44100, subtype="PCM_24")
    other = tmp_path / "in" / "mono.wav"
    sf.write(other, mix[:30000, 0], 32000)
    out = tmp_path / "out"
    assert main(["separate", str(song), str(other), "-o", str(out), "--model", str(small_model)]) == 0
    for name in ("vocal.wav", "accompaniment.wav"):
        info = sf.info(out / "my song" / name)
        assert (info.samplerate, info.channels, info.frames) == (44100, 2, len(mix))
        info = sf.info(out / "mono" / name)
        assert (info.samplerate, info.channels, info.frames) == (32000, 1, 30000)
    vocal, _ = sf.read(out / "my song" / "vocal.wav")
    accomp, _ = sf.read(out / "my song" / "accompaniment.wav")
    assert np.abs(vocal + accomp - mix).max() < 1e-5


def test_separate_command_reports_a_corrupt_model_and_a_bad_song(small_model, tmp_path, capsys):
    song = tmp_path / "song.wav"
    sf.write(song, np.zeros((22050, 2), np.float32), 22050)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(small_model.read_bytes()[:5000])
    assert main(["separate", str(song), "-o", str(tmp_path / "o"), "--model", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "broken.pt" in err and "corrupt or truncated" in err
    bad = tmp_path / "bad.wav"
    bad.write_text("this is no audio")
    assert main(["separate", str(bad), "-o", str(tmp_path / "o"), "--model", str(small_model)]) == 2
    assert "bad.wav" in capsys.readouterr().err


@pytest.mark.skipif(not default_model_path().exists(), reason="no shipped model in this checkout")
def test_shipped_model_is_small_documented_and_loads():
    path = default_model_path()
    assert path.stat().st_size <= 25 * 2**20
    assert (path.parent / "MODEL_CARD.md").is_file()
    model, spec, info = load_model(path)
    assert spec.sample_rate == 22050 and spec.bins == 512
    assert info["valid_sdr"] > info["history"][0]["valid_sdr_mixture"]  # better than leaving the mix as is
    assert info["data"]["corpus"] is True
