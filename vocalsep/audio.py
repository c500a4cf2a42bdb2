"""Reading and writing audio: any format soundfile or ffmpeg reads, atomic writes."""

import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import InputError, disk_full

AUDIO_EXTENSIONS = ("wav", "flac", "ogg", "mp3")


def _read_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
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


def load(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file: any format libsndfile reads, else any that ffmpeg decodes.

    Args:
        path: the audio file.

    Returns:
        (samples, sample rate in Hz): float32 samples of shape (frames, channels).

    Raises:
        InputError: naming the file when it is missing, empty, not audio, has no samples, or has
            NaN or infinite ones.
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


def to_mono(data: np.ndarray) -> np.ndarray:
    """Mix audio down to one channel.

    Args:
        data: samples (frames, channels), or (frames,) already mono.

    Returns:
        float32 (frames,): the mean over the channels (mono input unchanged but for the dtype).
    """
    data = np.asarray(data, dtype=np.float32)
    return data if data.ndim == 1 else data.mean(axis=1, dtype=np.float32)


def resample(signal: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample along the first axis with soxr at its very high quality setting.

    Args:
        signal: samples (frames,) or (frames, channels).
        sr_in: the signal's sample rate in Hz.
        sr_out: the wanted sample rate in Hz.

    Returns:
        float32 samples at sr_out (the signal as float32 when the rates are equal).
    """
    if sr_in == sr_out:
        return np.asarray(signal, dtype=np.float32)
    return soxr.resample(np.asarray(signal, dtype=np.float32), sr_in, sr_out, quality="VHQ").astype(np.float32)


def load_mono(path: str | Path, sr: int) -> np.ndarray:
    """Read any audio file as mono at a given sample rate.

    Args:
        path: the audio file (see `load`).
        sr: the wanted sample rate in Hz.

    Returns:
        float32 samples (frames,) at sr.
    """
    data, file_sr = load(path)
    return resample(to_mono(data), file_sr, sr)


def atomic_write_bytes(path: str | Path, writer: Callable[[str], object]) -> None:
    """Call writer(tmp_path) and move the result to path only when it succeeded.

    An interrupted run therefore never leaves a half-written file under the final name: on any
    failure the temporary file is removed and an earlier file at `path` keeps its content. The
    temporary file is in path's folder (made if missing), so the final move is a rename.

    Args:
        path: the file to write.
        writer: writes the whole file at the temporary path it is given.

    Raises:
        OutputError: the disk is full (errors.disk_full); other errors are raised as they are.
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


def write_wav(path: str | Path, signal: np.ndarray, sr: int, subtype: str = "FLOAT") -> None:
    """Write float audio atomically, as WAV unless the path ends in .flac (see `write_audio`).

    Args:
        path: the file to write.
        signal: samples (frames,) or (frames, channels), nominally in [-1, 1].
        sr: the sample rate in Hz.
        subtype: libsndfile's sample format, 32-bit float by default.
    """
    write_audio(path, signal, sr, subtype)


def write_audio(path: str | Path, signal: np.ndarray, sr: int, subtype: str = "FLOAT") -> None:
    """Write float audio as WAV or FLAC (by the path's suffix, WAV when it has another), atomically.

    The file is made in memory and written as plain bytes: libsndfile reports a failed write (a
    full disk) only as "System error.", a plain write as the OSError it is. Integer sample
    formats clip rather than wrap around.

    Args:
        path: the file to write (.flac for FLAC).
        signal: samples (frames,) or (frames, channels), nominally in [-1, 1].
        sr: the sample rate in Hz.
        subtype: libsndfile's sample format ('FLOAT', 'PCM_16', 'PCM_24', ...).
    """
    fmt = "FLAC" if Path(path).suffix.lower() == ".flac" else "WAV"
    signal = np.asarray(signal, dtype=np.float32)
    if fmt == "FLAC" or subtype != "FLOAT":
        signal = np.clip(signal, -1.0, 1.0)
    buffer = io.BytesIO()
    sf.write(buffer, signal, sr, subtype=subtype, format=fmt)
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically, UTF-8 encoded.

    Args:
        path: the file to write.
        text: its content.
    """
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
