"""Reading any format, resampling, clear errors for files that are not usable audio."""

import numpy as np
import pytest
import soundfile as sf

from vocalsep.audio import load, load_mono, resample, write_wav
from vocalsep.errors import InputError


def _dominant_frequency(x, sr):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spectrum)]


@pytest.mark.parametrize("sr_in", [8000, 44100, 48000, 96000])
def test_resampling_keeps_frequency_and_amplitude(sr_in):
    t = np.arange(int(2.0 * sr_in)) / sr_in
    x = 0.5 * np.sin(2 * np.pi * 1000.0 * t)
    y = resample(x, sr_in, 22050)
    assert abs(len(y) - 2.0 * 22050) <= 1
    assert abs(_dominant_frequency(y, 22050) - 1000.0) < 1.0
    core = y[2000:-2000]  # away from the filter's edges
    assert np.sqrt(np.mean(core**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_resampling_removes_content_above_the_new_nyquist():
    sr = 44100
    t = np.arange(sr) / sr
    y = resample(np.sin(2 * np.pi * 15000.0 * t), sr, 22050)  # 15 kHz cannot exist at 22050 Hz
    assert np.sqrt(np.mean(y[2000:-2000] ** 2)) < 0.01


@pytest.mark.parametrize(
    "subtype,fmt,ext",
    [("PCM_U8", "WAV", "wav"), ("PCM_16", "WAV", "wav"), ("PCM_24", "WAV", "wav"), ("FLOAT", "WAV", "wav"),
     ("PCM_16", "FLAC", "flac"), ("VORBIS", "OGG", "ogg"), ("MPEG_LAYER_III", "MP3", "mp3")],
)
def test_every_supported_format_reads_as_float(tmp_path, subtype, fmt, ext):
    sr = 44100
    t = np.arange(sr) / sr
    stereo = np.stack([0.4 * np.sin(2 * np.pi * 440 * t), 0.4 * np.sin(2 * np.pi * 440 * t)], axis=1)
    path = tmp_path / f"song with spaces é.{ext}"
    sf.write(path, stereo, sr, subtype=subtype, format=fmt)
    data, file_sr = load(path)
    assert file_sr == sr and data.dtype == np.float32 and data.shape[1] == 2
    mono = load_mono(path, 22050)
    assert abs(_dominant_frequency(mono[: 22050 // 2], 22050) - 440) < 3
    assert 0.3 < np.abs(mono).max() < 0.5


def test_ffmpeg_reads_what_soundfile_cannot(tmp_path):
    import subprocess

    path = tmp_path / "clip.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-ac", "2", "-ar", "48000", str(path)], check=True)
    data, sr = load(path)
    assert sr == 48000 and data.shape[1] == 2 and data.shape[0] > 40000


@pytest.mark.parametrize(
    "content,expected",
    [(b"", "is empty"), (b"this is a text file, not audio\n" * 20, "not a readable audio file"),
     (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", "not a readable audio file")],
)
def test_unusable_files_raise_an_error_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "broken_100-full.wav"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        load(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load(tmp_path / "nothing.wav")


def test_write_is_atomic_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.wav"
    write_wav(target, np.zeros(100), 22050)
    before = target.read_bytes()
    with pytest.raises(ValueError):
        write_wav(target, np.zeros((10, 2, 2)), 22050)  # invalid shape: the writer fails
    assert target.read_bytes() == before  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]  # no temporary left behind
