"""Separation with the vocal U-Net: cross-faded segments, whole signals, the `separate` command."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from vocalsep.cli import main
from vocalsep.demo import synthesise
from vocalsep.models.vocal_unet import VocalUNet
from vocalsep.unet.model_file import export_model
from vocalsep.unet.separate import (
    POSTPROCESS,
    Postprocess,
    Separator,
    estimate,
    native_bfloat16,
    separate_to_files,
)


@pytest.fixture(scope="module")
def song_44k():
    mix, _ = synthesise(3, 44100, 4.0)
    return mix.astype(np.float32)


@pytest.mark.parametrize("frames,overlap", [(1500, 128), (700, 64), (50, 256), (513, 0), (512, 511)])
def test_segment_crossfades_keep_a_constant_estimate(frames, overlap):
    """Nets whose mask is 0.5 everywhere must give half the input at every frame, however cut."""
    model = VocalUNet(width=2).eval()
    with torch.no_grad():
        for net in (model.vocals, model.accompaniment):
            net.head.conv.weight.zero_()
            net.head.conv.bias.zero_()
    mag = torch.rand(2, frames, 1024)
    v, a = estimate(model, mag, overlap=overlap, batch=3)
    assert v.shape == a.shape == mag.shape
    assert torch.allclose(v, 0.5 * mag, atol=1e-6) and torch.allclose(a, 0.5 * mag, atol=1e-6)


def test_separator_keeps_rate_channels_and_length(song_44k):
    sep = Separator(device="cpu")  # Deezer's weights, default post-processing
    vocal, accomp = sep.separate(song_44k, 44100)
    assert vocal.shape == accomp.shape == song_44k.shape
    assert np.allclose(vocal + accomp, song_44k, atol=1e-5)  # residual accompaniment
    mono = song_44k[:40000, 0]
    v, a = sep.separate(mono, 16000)
    assert v.shape == a.shape == mono.shape
    four = np.concatenate([song_44k, song_44k[:, ::-1]], axis=1)[:30000]
    v, a = Separator(postprocess="none", device="cpu").separate(four, 44100)
    assert v.shape == a.shape == four.shape
    assert not np.allclose(a, four - v)  # Spleeter's own accompaniment mask, not the residual


def test_the_pretrained_model_takes_the_voice_out(song_44k):
    """On the demo song (synthetic sung voice over a band, exact stems) the vocal estimate is
    closer to the true vocal than the mix is: a trained model, not noise."""
    mix, vocal_true = synthesise(3, 44100, 4.0)
    vocal, _ = Separator(device="cpu").separate(mix, 44100)
    err_est = np.sum((vocal - vocal_true) ** 2)
    err_mix = np.sum((mix - vocal_true) ** 2)
    assert err_est < 0.5 * err_mix


def test_separate_to_files_records_model_and_settings(tmp_path, song_44k):
    mix = tmp_path / "mix.wav"
    sf.write(mix, song_44k[:, 0], 22050)
    out = [tmp_path / "v.wav", tmp_path / "a.wav", tmp_path / "separation.json"]
    info = separate_to_files(mix, *out, postprocess="none", device="cpu")
    record = json.loads(out[2].read_text())
    assert record == info and record["model"] == "spleeter-2stems" and record["postprocess"] == "none"
    assert record["settings"] == {"grid": "44k", "overlap": 0, "exponent": 2.0, "wiener": 0, "residual": False,
                                  "bfloat16": False}
    assert sf.info(out[0]).samplerate == 22050 and sf.info(out[0]).channels == 1


def test_separate_command_stereo_44k_mono_22k_a_folder_and_flac(tmp_path, song_44k):
    songs = tmp_path / "in"
    songs.mkdir()
    sf.write(songs / "my song.flac", song_44k, 44100, subtype="PCM_24")
    sf.write(songs / "mono.wav", song_44k[:50000, 0], 22050)
    (songs / "notes.txt").write_text("not audio, not listed")
    out = tmp_path / "out"
    assert main(["separate", str(songs), "-o", str(out), "-q"]) == 0
    for name in ("vocal.wav", "accompaniment.wav"):
        info = sf.info(out / "my song" / name)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, len(song_44k), "FLOAT")
        info = sf.info(out / "mono" / name)
        assert (info.samplerate, info.channels, info.frames) == (22050, 1, 50000)
    assert not (out / "notes").exists()
    vocal, _ = sf.read(out / "my song" / "vocal.wav")
    accomp, _ = sf.read(out / "my song" / "accompaniment.wav")
    assert np.abs(vocal + accomp - song_44k).max() < 1e-5
    flac = tmp_path / "flac"
    assert main(["separate", str(songs / "mono.wav"), "-o", str(flac), "--format", "flac", "--subtype", "PCM_16",
                 "--postprocess", "none", "-q"]) == 0
    info = sf.info(flac / "mono" / "vocal.flac")
    assert (info.format, info.subtype, info.samplerate, info.frames) == ("FLAC", "PCM_16", 22050, 50000)


def test_separate_command_never_overwrites_without_force(tmp_path, song_44k, capsys):
    song = tmp_path / "song.wav"
    sf.write(song, song_44k[:30000], 44100)
    out = tmp_path / "out"
    (out / "song").mkdir(parents=True)
    kept = out / "song" / "vocal.wav"
    kept.write_bytes(b"the user's own file")
    assert main(["separate", str(song), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "vocal.wav" in err and "--force" in err and "nothing was written" in err
    assert kept.read_bytes() == b"the user's own file"
    assert not (out / "song" / "accompaniment.wav").exists()
    assert main(["separate", str(song), "-o", str(out), "--force", "-q"]) == 0
    assert sf.info(kept).frames == 30000


def test_separate_command_reports_bad_files_and_models_by_name(tmp_path, song_44k, capsys):
    good = tmp_path / "good.wav"
    sf.write(good, song_44k[:20000], 44100)
    bad = tmp_path / "bad.wav"
    bad.write_text("this is no audio")
    out = tmp_path / "out"
    assert main(["separate", str(bad), str(good), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "bad.wav" in err and "1 of 2 file(s)" in err
    assert (out / "good" / "vocal.wav").exists()  # the good file is still separated
    broken = tmp_path / "broken.pt"
    export_model(broken, VocalUNet(width=2))
    broken.write_bytes(broken.read_bytes()[:3000])
    assert main(["separate", str(good), "-o", str(tmp_path / "o2"), "--model", str(broken), "-q"]) == 2
    err = capsys.readouterr().err
    assert "broken.pt" in err and "corrupt or truncated" in err
    assert main(["separate", str(good), "-o", str(tmp_path / "o3"), "--format", "flac", "--subtype", "FLOAT"]) == 2
    assert "cannot be written as flac" in capsys.readouterr().err
    assert main(["separate", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "o4")]) == 2
    assert "missing.wav: does not exist" in capsys.readouterr().err


@pytest.mark.skipif(not native_bfloat16(torch.device("cpu")), reason="this CPU has no native bfloat16")
def test_bfloat16_network_gives_nearly_the_float32_estimates(song_44k):
    from vocalsep.models.pretrained import load_pretrained
    from vocalsep.stft import SPLEETER_GRID, grid_stft, padded

    model = load_pretrained()
    wave = torch.from_numpy(np.ascontiguousarray(song_44k.T))
    mag = grid_stft(padded(wave, SPLEETER_GRID), SPLEETER_GRID)[..., :1024].abs()
    v32, a32 = estimate(model, mag)
    v16, a16 = estimate(model, mag, bfloat16=True)
    assert not torch.equal(v16, v32)  # it did run in bfloat16
    rel = float((v16 - v32).abs().sum() / v32.abs().sum())
    assert rel < 0.03


def test_postprocess_settings_are_checked():
    with pytest.raises(ValueError):
        Postprocess(grid="11k")
    with pytest.raises(ValueError):
        Postprocess(overlap=512)
    assert POSTPROCESS["none"] == Postprocess()
