"""A full disk (ENOSPC) part way through a write leaves nothing that a later run would take as done.

Two disks: a real tmpfs of a few hundred kB (mounted for the test; needs root and a kernel that
lets it mount, else those cases are skipped with the reason), and a quota that the test puts on
every file opened for writing below a folder, whose writes fail with ENOSPC once the quota is
used (the kernel's behaviour: a short write, then the error). The writers are the real ones: the
fingerprint cache (its hidden folder, .npy files and sidecars) and the atomic writers of the
wavs and the JSON files. After the failure: an OutputError naming the output, no temporary file
or hidden folder left, the output absent (or an older one whole), and with space again the same
call succeeds.
"""

import builtins
import errno
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vocalsep.audio import write_text, write_wav
from vocalsep.errors import InputError, OutputError
from vocalsep.fingerprint.cache import write_fingerprint
from vocalsep.fingerprint.cache_reader import CachedFingerprint

SR = 22050
SCALES = (1024, 512)
SIGNAL = (np.random.default_rng(8).standard_normal(SR) * 0.1).astype(np.float32)  # 1 s


class Tmpfs:
    """A real tmpfs of `size` bytes at `path` (remounted larger by `free_up`)."""

    def __init__(self, path, size):
        self.path = Path(path)
        self.path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(self.path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")

    def free_up(self, size):
        """Make `size` more bytes free."""
        used = shutil.disk_usage(self.path).used
        subprocess.run(["mount", "-o", f"remount,size={used + size}", str(self.path)], check=True)

    def close(self):
        if subprocess.run(["umount", str(self.path)]).returncode != 0:  # a file still open there
            subprocess.run(["umount", "--lazy", str(self.path)], check=True)


class _LimitedFile(io.FileIO):
    """A file whose writes draw on its disk's quota: a short write, then ENOSPC, once it is used."""

    def __init__(self, path, mode, disk):
        super().__init__(path, mode)
        self.disk = disk

    def write(self, data):
        data = memoryview(data).cast("B")
        n = min(len(data), self.disk.left)
        if data and not n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.name)
        self.disk.left -= n
        return super().write(data[:n])


class Quota:
    """`size` bytes for every file opened for writing below `path`, by builtins.open or io.open
    (and so pathlib); deleting a file gives nothing back, `free_up` does."""

    def __init__(self, path, size, monkeypatch):
        self.path = Path(path)
        self.path.mkdir()
        self.left = size
        real_open = io.open

        def open_(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True,
                  opener=None):
            writing = any(c in mode for c in "wxa+")
            if not (writing and isinstance(file, (str, os.PathLike))
                    and Path(os.path.abspath(file)).is_relative_to(self.path)):
                return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
            raw = _LimitedFile(file, mode.replace("b", "").replace("t", ""), self)
            buffered = io.BufferedRandom(raw) if "+" in mode else io.BufferedWriter(raw)
            return buffered if "b" in mode else io.TextIOWrapper(buffered, encoding, errors, newline)

        monkeypatch.setattr(builtins, "open", open_)
        monkeypatch.setattr(io, "open", open_)

    def free_up(self, size):
        self.left += size

    def close(self):
        pass


@pytest.fixture(params=["tmpfs", "quota"])
def small_disk(request, tmp_path, monkeypatch):
    """disk(size): a folder on a disk with `size` bytes free."""
    disks = []

    def make(size):
        path = tmp_path / f"disk{len(disks)}"
        disk = Tmpfs(path, size) if request.param == "tmpfs" else Quota(path, size, monkeypatch)
        disks.append(disk)
        return disk

    yield make
    for disk in disks:
        disk.close()


@pytest.fixture(scope="module")
def total(tmp_path_factory):
    """The bytes of the whole cache of SIGNAL (its .npy files and sidecars)."""
    folder = tmp_path_factory.mktemp("whole") / "cache"
    write_fingerprint(SIGNAL, SR, folder, SCALES)
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def everything(folder):
    """Every file and folder below `folder`, hidden ones too, as relative paths."""
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


# the disk full in the first sidecar (written before the blocks), in the first, middle and last blocks
@pytest.mark.parametrize("fraction", [0.002, 0.1, 0.6, 0.97])
def test_a_full_disk_leaves_no_fingerprint_cache_and_says_so(small_disk, total, fraction):
    disk = small_disk(int(total * fraction))
    out = disk.path / "results" / "vocal"
    with pytest.raises(OutputError) as caught:
        write_fingerprint(SIGNAL, SR, out, SCALES)
    assert isinstance(caught.value, InputError) and caught.value.path == str(out)
    assert "no space left on its disk" in str(caught.value) and "nothing half-written" in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError) and caught.value.__cause__.errno == errno.ENOSPC
    assert everything(disk.path) == ["results"]  # no cache folder, no hidden scale folder, no file
    # with room again, the same call makes the whole cache
    disk.free_up(2 * total)
    write_fingerprint(SIGNAL, SR, out, SCALES)
    CachedFingerprint(out, SR, SCALES, 0.5, len(SIGNAL), signal=SIGNAL).metrics(0, len(SIGNAL), range(19))
    assert not [p for p in everything(disk.path) if ".part" in p]


def test_a_full_disk_keeps_an_older_cache_whole(small_disk, total):
    disk = small_disk(int(total * 1.4))  # room for one cache and part of another
    out = disk.path / "vocal"
    write_fingerprint(SIGNAL, SR, out, SCALES)
    before = {p: (out / p).read_bytes() for p in everything(out) if (out / p).is_file()}
    other = SIGNAL[::-1].copy()
    with pytest.raises(OutputError, match="no space left"):
        write_fingerprint(other, SR, out, SCALES)
    assert everything(disk.path) == ["vocal"] + [f"vocal/{p}" for p in everything(out)]
    assert {p: (out / p).read_bytes() for p in everything(out) if (out / p).is_file()} == before
    CachedFingerprint(out, SR, SCALES, 0.5, len(SIGNAL), signal=SIGNAL).metrics(0, len(SIGNAL), range(19))


def test_a_full_disk_leaves_no_wav_or_json_and_keeps_older_ones(small_disk):
    audio = (np.sin(np.arange(SR * 2) * 0.05) * 0.5).astype(np.float32)  # 2 s: 176 kB as float WAV
    metrics = json.dumps({"values": np.linspace(0, 1, 20000).tolist()})  # about 400 kB
    disk = small_disk(120_000)
    wav, js = disk.path / "song" / "vocal.wav", disk.path / "song" / "metrics.json"
    for write, path in ((lambda: write_wav(wav, audio, SR), wav), (lambda: write_text(js, metrics), js)):
        with pytest.raises(OutputError) as caught:
            write()
        assert caught.value.path == str(path) and "no space left" in str(caught.value)
    assert everything(disk.path) == ["song"]  # neither the outputs nor their temporary files
    # an older output under the name keeps its content when the new one does not fit
    disk.free_up(400_000)
    write_wav(wav, audio[:SR], SR)
    write_text(js, '{"old": true}\n')
    old_wav, old_json = wav.read_bytes(), js.read_bytes()
    with pytest.raises(OutputError):
        write_wav(wav, np.concatenate([audio] * 3), SR)
    with pytest.raises(OutputError):
        write_text(js, metrics)
    assert wav.read_bytes() == old_wav and js.read_bytes() == old_json
    assert everything(disk.path) == ["song", "song/metrics.json", "song/vocal.wav"]
    assert sf.info(str(wav)).frames == SR
