"""Reading and writing audio: any format soundfile or ffmpeg reads, atomic writes."""

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import InputError, disk_full

AUDIO_EXTENSIONS = ("wav", "flac", "ogg", "mp3")


def _read_with_ffmpeg(path):
    """Decode any file ffmpeg understands to float32 (frames, channels)."""
    if shutil.which("ffmpeg") is None:
        raise InputError(path, "cannot be read by soundfile and ffmpeg is not installed")
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=sample_rate,channels", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True,
    )
    fields = probe.stdout.strip().split(",")
    if probe.returncode != 0 or len(fields) < 2 or not all(f.strip().isdigit() for f in fields[:2]):
        raise InputError(path, "is not a readable audio file (neither soundfile nor ffmpeg can decode it)")
    sr, channels = int(fields[0]), int(fields[1])
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "f32le", "-acodec", "pcm_f32le", "-"],
        capture_output=True,
    )
    if out.returncode != 0:
        raise InputError(path, f"ffmpeg could not decode it: {out.stderr.decode(errors='replace').strip()}")
    data = np.frombuffer(out.stdout, dtype="<f4").reshape(-1, channels)
    return data.astype(np.float32), sr


def load(path):
    """Read an audio file as float32 of shape (frames, channels) and its sample rate.

    Raises InputError naming the file when it is missing, empty, not audio, or has no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "does not exist")
    if path.stat().st_size == 0:
        raise InputError(path, "is empty (0 bytes)")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception:  # noqa: BLE001 - libsndfile failed: let ffmpeg try, it reads more formats
        data, sr = _read_with_ffmpeg(path)
    if data.shape[0] == 0:
        raise InputError(path, "contains no audio samples")
    if not np.all(np.isfinite(data)):
        raise InputError(path, "contains NaN or infinite samples")
    return data, int(sr)


def to_mono(data):
    """Channel mean of a (frames, channels) array, as a 1-D float32 array."""
    data = np.asarray(data, dtype=np.float32)
    return data if data.ndim == 1 else data.mean(axis=1, dtype=np.float32)


def resample(signal, sr_in, sr_out):
    """High-quality resampling (soxr, very high quality) along the first axis."""
    if sr_in == sr_out:
        return np.asarray(signal, dtype=np.float32)
    return soxr.resample(np.asarray(signal, dtype=np.float32), sr_in, sr_out, quality="VHQ").astype(np.float32)


def load_mono(path, sr):
    """Read any audio file as mono float32 at sample rate sr."""
    data, file_sr = load(path)
    return resample(to_mono(data), file_sr, sr)


def atomic_write_bytes(path, writer):
    """Call writer(tmp_path) and move the result to path only when it succeeded.

    An interrupted run therefore never leaves a half-written file under the final name: on any
    failure the temporary file is removed and an earlier file at `path` keeps its content. A full
    disk is an OutputError naming `path` (errors.disk_full).
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".part", dir=path.parent)
        os.close(fd)
        writer(tmp)
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        full = disk_full(path, error)
        if full:
            raise full from error
        raise


def write_wav(path, signal, sr, subtype="FLOAT"):
    """Write float audio (frames,) or (frames, channels) as WAV, atomically (32-bit float by default)."""
    write_audio(path, signal, sr, subtype)


def write_audio(path, signal, sr, subtype="FLOAT"):
    """Write float audio as WAV or FLAC (by the path's suffix, .wav when it has another), atomically.

    The file is made in memory and written as plain bytes: libsndfile reports a failed write (a
    full disk) only as "System error.", a plain write as the OSError it is. Integer sample
    formats clip rather than wrap around.
    """
    fmt = "FLAC" if Path(path).suffix.lower() == ".flac" else "WAV"
    signal = np.asarray(signal, dtype=np.float32)
    if fmt == "FLAC" or subtype != "FLOAT":
        signal = np.clip(signal, -1.0, 1.0)
    buffer = io.BytesIO()
    sf.write(buffer, signal, sr, subtype=subtype, format=fmt)
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))


def write_text(path, text):
    """Write a text file atomically."""
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
