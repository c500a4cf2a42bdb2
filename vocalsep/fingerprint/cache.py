"""The fingerprint cache: one windows x 425 float32 .npy per view and scale, plus a JSON sidecar.

Layout: <out_dir>/n<n_fft>/slice_<k:02d>.npy and slice_<k:02d>.json. Long signals are processed
in blocks of windows (with a two-window halo so the 5x5 kernels see their neighbours), appended
to each view's file in window order, so memory stays bounded whatever the song's length; the
blocks of every scale are spread over the threads torch is given (parallel.cpu_workers). Files
appear under their final names only once every block of a scale is written (a scale is written
into a hidden folder, then moved). The sidecar's contents are defined in `cache_format`;
`CachedFingerprint` and `read_view` (`cache_reader`) read the cache
back, checking each file against its sidecar and the settings of the run: a damaged, truncated
or stale cache is an InputError naming the file, what is wrong and the mend.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import disk_full
from ..parallel import cpu_workers
from ..stft import bin_frequencies, hop_length, stft
from .cache_format import sidecar, signal_digest
from .fingerprint import block_metrics, window_blocks
from .metrics import N_METRICS
from .views import N_VIEWS, POOLED


def view_paths(out_dir: str | Path, scales: Sequence[int]) -> list[Path]:
    """Every .npy path of a fingerprint folder, scale by scale, view by view.

    Args:
        out_dir: the cache's folder.
        scales: the STFT sizes it holds.

    Returns:
        The paths, <out_dir>/n<n_fft>/slice_<k:02d>.npy.
    """
    return [Path(out_dir, f"n{n}", f"slice_{k:02d}.npy") for n in scales for k in range(N_VIEWS)]


class _ScaleWriter:
    """The cache files of one scale: its 19 views' .npy files, written block by block into a
    hidden folder beside the final one, then their sidecars; `finish` moves them into place (one
    rename of the folder, or file by file over an older cache), `discard` removes the folder.
    File operations are a large share of a short clip's fingerprint on a disk slow to create
    files: hence one hidden folder renamed at the end, not a temporary name, a reopening and a
    rename per file."""

    def __init__(self, signal, sr, n_fft, hop_fraction, out_dir, digest):
        self.sr, self.n_fft, self.samples, self.digest = sr, n_fft, int(signal.shape[-1]), digest
        self.hop = hop_length(n_fft, hop_fraction)
        with torch.no_grad():
            self.mag = stft(signal, n_fft, self.hop).abs()
        self.freqs = bin_frequencies(n_fft, sr)
        n_win = self.mag.shape[0]
        self.rows = [n_win // 2 if k in POOLED else n_win for k in range(N_VIEWS)]
        self.final = Path(out_dir, f"n{n_fft}")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f".n{n_fft}.", suffix=".part", dir=self.final.parent))
        self.files, self.sizes = [], []

    def _open(self):
        """Create the 19 .npy files and write their headers (when the first block is ready: on a
        slow disk this overlaps with the other blocks' metrics)."""
        for k in range(N_VIEWS):
            f = open(self.folder / f"slice_{k:02d}.npy", "xb")
            self.files.append(f)
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                      "shape": (self.rows[k], N_METRICS)}
            np.lib.format.write_array_header_1_0(f, header)
            self.sizes.append(f.tell() + self.rows[k] * N_METRICS * 4)  # what the whole file holds

    def blocks(self):
        """The blocks of windows, in order: (self, start, stop)."""
        return [(self, a, b) for a, b in window_blocks(*self.mag.shape)]

    def metrics(self, a, b):
        """(full, pooled) metrics of windows a..b, as numpy arrays."""
        with torch.no_grad():
            full, pooled = block_metrics(self.mag, a, b, self.freqs, self.sr)[0]
        return full.numpy(), pooled.numpy()

    def append(self, full, pooled):
        """Append a block's metrics to every view's file (plain writes: a memory map of the output
        would count every written page as this job's resident memory)."""
        if not self.files:
            self._open()
        for k in range(N_VIEWS):
            block = pooled[POOLED.index(k)] if k in POOLED else full[k]
            self.files[k].write(np.ascontiguousarray(block, dtype=np.float32).data)

    def write_sidecars(self):
        """Write the 19 sidecars (they depend on the settings and sizes only)."""
        for k in range(N_VIEWS):
            meta = sidecar(self.n_fft, self.hop, self.sr, k, self.rows[k], self.samples, self.digest)
            _write_json(self.folder / f"slice_{k:02d}.json", meta)

    def finish(self):
        """Check every file is whole and move the files (sidecars written) to their final names;
        returns the .npy paths."""
        for k, f in enumerate(self.files):
            if f.tell() != self.sizes[k]:  # every row written: exactly the header + rows x 425 floats
                raise RuntimeError(f"{f.name}: wrote {f.tell()} bytes, expected {self.sizes[k]}")
            f.close()
        try:
            os.rename(self.folder, self.final)  # a new (or empty) folder: every file at once
        except OSError:
            if not self.final.is_dir():
                raise
            for name in sorted(os.listdir(self.folder)):  # over an older cache: file by file
                os.replace(self.folder / name, self.final / name)
            os.rmdir(self.folder)
        return [self.final / f"slice_{k:02d}.npy" for k in range(N_VIEWS)]

    def discard(self):
        """Close the files and remove the hidden folder, if it is still there. On a full disk a
        file's last flush fails again as it closes: the folder is removed all the same."""
        for f in self.files:
            try:
                f.close()
            except OSError:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


def _write_json(path, payload):
    """One key per line, each value on its line (json's indented form runs its slow pure-Python
    encoder, and a sidecar holds 425 column names).
    Written in place: the sidecars are made inside the hidden folder that is moved at the end."""
    lines = (f" {json.dumps(k)}: {json.dumps(v)}" for k, v in payload.items())
    Path(path).write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


def write_fingerprint(signal: np.ndarray | torch.Tensor, sr: int, out_dir: str | Path,
                      scales: Sequence[int] = (2048, 1024, 512), hop_fraction: float = 0.5) -> list[Path]:
    """Write the whole cache of one signal.

    On any failure nothing new is left: the hidden folders go, and so does out_dir when this call
    made it (an older cache there keeps its files, or those of the scales already replaced). A full
    disk is an OutputError naming out_dir.

    Args:
        signal: the samples, 1-D.
        sr: the sample rate, in Hz.
        out_dir: the cache's folder (made if missing; an older cache there is replaced).
        scales: the STFT sizes.
        hop_fraction: the hop as a fraction of n_fft.

    Returns:
        The .npy paths written, scale by scale, view by view.
    """
    x = np.asarray(signal, dtype=np.float32)
    digest = signal_digest(x)
    x = torch.as_tensor(x)
    out_dir = Path(out_dir)
    made = not out_dir.exists()
    writers = []
    try:
        for n in scales:
            writers.append(_ScaleWriter(x, sr, n, hop_fraction, out_dir, digest))
        blocks = [block for w in writers for block in w.blocks()]
        # every scale's blocks, in order, spread over as many threads as torch was given; the
        # sidecars are written on one of them meanwhile (file creation is slow on some disks)
        with cpu_workers() as workers:
            sidecars = workers.submit(lambda: [w.write_sidecars() for w in writers])
            done = workers.map(lambda block: block[0].metrics(*block[1:]), blocks)
            for (writer, _, _), (full, pooled) in zip(blocks, done):
                writer.append(full, pooled)
            sidecars.result()
        return [p for w in writers for p in w.finish()]
    except BaseException as error:
        for w in writers:
            w.discard()
        if made:
            shutil.rmtree(out_dir, ignore_errors=True)
        full = disk_full(out_dir, error)
        if full:
            raise full from error
        raise


