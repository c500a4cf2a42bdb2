"""The fingerprint cache: one windows x 425 float32 .npy per view and scale, plus a JSON sidecar.

Layout: <out_dir>/n<n_fft>/slice_<k:02d>.npy and slice_<k:02d>.json. Long signals are processed
in blocks of windows (with a two-window halo so the 5x5 kernels see their neighbours), appended
to each view's file in window order, so memory stays bounded whatever the song's length; the
blocks of every scale are spread over the threads torch is given (parallel.cpu_workers). Files
appear under their final names only once every block of a scale is written (a scale is written
into a hidden folder, then moved). `CachedFingerprint` reads window ranges back (the matching's
target), checking each file it reads against its sidecar and the settings of the run: a damaged,
truncated or stale cache is an InputError naming the file, what is wrong and the mend.
"""

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..errors import InputError, disk_full
from ..parallel import cpu_workers
from ..stft import bin_frequencies, frame_count, hop_length, stft
from .fingerprint import block_metrics, window_blocks
from .metrics import COLUMNS, GROUPS, N_METRICS, NOT_DIFFERENTIABLE, PROFILE_POINTS, Anchors, layout_for
from .views import N_VIEWS, POOLED, VIEW_DESCRIPTIONS, VIEW_NAMES, pooled_frequencies


def view_paths(out_dir, scales):
    """Every .npy path of a fingerprint folder, scale by scale, view by view."""
    return [Path(out_dir, f"n{n}", f"slice_{k:02d}.npy") for n in scales for k in range(N_VIEWS)]


def signal_digest(signal):
    """SHA-256 of a signal's float32 samples: the sidecars name the signal they were made from."""
    return hashlib.sha256(np.ascontiguousarray(signal, dtype="<f4").data).hexdigest()


def sidecar(n_fft, hop, sr, k, windows, samples, signal_sha256):
    """The settings and column names stored beside view k of one scale."""
    pooled = k in POOLED
    return {
        "vocalsep_version": __version__,
        "view": k, "view_name": VIEW_NAMES[k], "view_description": VIEW_DESCRIPTIONS[VIEW_NAMES[k]],
        "sample_rate": sr, "n_fft": n_fft, "hop": hop, "window": "hann", "centered": True,
        "samples": samples, "windows": windows, "signal_sha256": signal_sha256,
        "window_hop_seconds": (2 * hop if pooled else hop) / sr,
        "profile_points": PROFILE_POINTS, "profile_grid_hz": [0.0, sr / 2],
        "dtype": "float32", "shape": [windows, N_METRICS],
        "groups": {g: [s.start, s.stop] for g, s in GROUPS.items()},
        "not_differentiable": list(NOT_DIFFERENTIABLE),
        "columns": list(COLUMNS),
    }


class _ScaleWriter:
    """The cache files of one scale: its 19 views' .npy files, written block by block into a
    hidden folder beside the final one, then their sidecars; `finish` moves them into place (one
    rename of the folder, or file by file over an older cache), `discard` removes the folder.
    File operations are a large share of a short clip's fingerprint: on this project's test VM,
    whose disk takes 0.2-0.7 ms to create a file, a temporary name, a reopening and a rename
    per file cost about half the metrics of a view."""

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
    encoder: 57 sidecars of 425 column names took 35 ms per source, a tenth of a 4.7 s clip's).
    Written in place: the sidecars are made inside the hidden folder that is moved at the end."""
    lines = (f" {json.dumps(k)}: {json.dumps(v)}" for k, v in payload.items())
    Path(path).write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


def write_fingerprint(signal, sr, out_dir, scales=(2048, 1024, 512), hop_fraction=0.5):
    """Write the whole cache of one signal (numpy or torch, 1-D); returns the .npy paths.

    On any failure nothing new is left: the hidden folders go, and so does out_dir when this call
    made it (an older cache there keeps its files, or those of the scales already replaced). A full
    disk is an OutputError naming out_dir."""
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


def _fault(path, folder, problem):
    """The InputError of a cache file that cannot be used: the file, what is wrong, the mend."""
    return InputError(path, f"{problem}. Delete the folder {folder} and rerun: Snakemake makes the fingerprint "
                            f"cache again (outside Snakemake: python -m vocalsep fingerprint AUDIO -o {folder})")


def _read_sidecar(path, folder):
    """The sidecar (dict) of a view's .npy path; InputError if it is missing or not a JSON object."""
    meta_path = Path(path).with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fault(meta_path, folder, "is missing: every .npy of the cache has its .json sidecar") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _fault(meta_path, folder, f"cannot be read as JSON, it is truncated or damaged ({error})") from None
    if not isinstance(meta, dict):
        raise _fault(meta_path, folder, "is not a JSON object of settings")
    return meta


def _check_npy(path, folder, rows):
    """Offset of the data of a view's .npy file, after checking its header and size: a float32
    C-order array of rows x N_METRICS, the file holding exactly that."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(f)
            offset, size = f.tell(), os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise _fault(path, folder, "is missing from the fingerprint cache") from None
    except (OSError, ValueError, EOFError) as error:
        raise _fault(path, folder, f"is not a readable .npy file, it is truncated or damaged ({error})") from None
    want = (rows, N_METRICS)
    if dtype != np.float32 or fortran or tuple(shape) != want:
        raise _fault(path, folder, f"holds a {dtype}{' Fortran-order' if fortran else ''} array of shape "
                                   f"{tuple(shape)}; its sidecar and this run's settings need {want} float32")
    expected = offset + rows * N_METRICS * 4
    if size != expected:
        raise _fault(path, folder, f"is {'truncated' if size < expected else 'too long'}: {size} bytes, where "
                                   f"its header and {rows} x {N_METRICS} float32 make {expected}")
    return offset


def read_view(path):
    """(metrics array (windows, 425), sidecar dict) of one cached view, checked: the .npy whole, of
    the shape its sidecar gives (InputError naming the file otherwise)."""
    path = Path(path)
    folder = path.parent.parent
    meta = _read_sidecar(path, folder)
    rows = meta.get("windows")
    if not isinstance(rows, int):
        raise _fault(path.with_suffix(".json"), folder, "has no number of windows")
    _check_npy(path, folder, rows)
    return np.load(path, mmap_mode="r"), meta


def _mismatch(key, have, want):
    """One difference between a sidecar and what this run expects, in words."""
    if key not in have:
        return f"no {key} (expected {want})"
    if key == "columns":
        return f"other columns than this version's {N_METRICS} metrics"
    if key == "signal_sha256":
        return "made from another signal than the one it is read for (signal_sha256 differs)"
    return f"{key} {have[key]} (expected {want})"


class CachedFingerprint:
    """A source's fingerprint cache, read window range by window range.

    Every file is checked before it is read: the sidecar against the settings the caller expects
    (sample rate, scale, hop, length, the signal's checksum when `signal` is given, the view, the
    columns), the .npy against its sidecar (float32, windows x 425, the file exactly that long).
    A cache that fails is an InputError naming the file, what is wrong and the mend (delete the
    folder and rerun), never silently used or a numpy error.
    `metrics(start, stop, views)` gives the metrics of the STFT windows of samples start..stop
    (start a multiple of twice every hop), in the layout of fingerprint.scale_metrics, with the
    anchors (fundamentals, formant bins) recovered from their columns.
    """

    CHECKED = ("view", "view_name", "sample_rate", "n_fft", "hop", "window", "centered", "samples",
               "windows", "dtype", "shape", "profile_points", "columns", "signal_sha256")

    def __init__(self, folder, sr, scales, hop_fraction, samples, signal=None):
        self.folder, self.sr, self.scales = Path(folder), int(sr), tuple(scales)
        self.samples = int(samples)
        self.digest = None if signal is None else signal_digest(signal)
        if not self.folder.is_dir():
            raise InputError(self.folder, "does not exist: rule fingerprint makes it (outside Snakemake: "
                                          f"python -m vocalsep fingerprint AUDIO -o {self.folder})")
        self.hops = {n: hop_length(n, hop_fraction) for n in self.scales}
        self._views, self.windows = {}, {}
        for n in self.scales:
            if not Path(self.folder, f"n{n}").is_dir():
                raise _fault(Path(self.folder, f"n{n}"), self.folder, f"is missing: the cache has no n_fft {n} scale")
            self.windows[n] = self._view(n, 0)[1]  # the settings, checked up front

    def _view(self, n, k):
        """(data offset, rows) of view k at scale n, its sidecar and .npy checked when first asked."""
        if (n, k) not in self._views:
            path = Path(self.folder, f"n{n}", f"slice_{k:02d}.npy")
            meta = _read_sidecar(path, self.folder)
            rows = frame_count(self.samples, self.hops[n]) // (2 if k in POOLED else 1)
            want = sidecar(n, self.hops[n], self.sr, k, rows, self.samples, self.digest)
            keys = [key for key in self.CHECKED if key != "signal_sha256" or self.digest is not None]
            wrong = [_mismatch(key, meta, want[key]) for key in keys if key not in meta or meta[key] != want[key]]
            if wrong:
                raise _fault(path.with_suffix(".json"), self.folder,
                             "was made with other settings than this run's, or is damaged: " + ", ".join(wrong))
            self._views[n, k] = (_check_npy(path, self.folder, rows), rows)
        return self._views[n, k]

    def _rows(self, n, k, a, b):
        """Rows a..b of view k at scale n, read from the file (not memory-mapped: a map that stays
        open would count every page read as this job's resident memory, the whole cache by the
        end of a long song)."""
        path = Path(self.folder, f"n{n}", f"slice_{k:02d}.npy")
        offset, total = self._view(n, k)
        if not 0 <= a <= b <= total:
            raise ValueError(f"{path}: rows {a}..{b} asked, {total} there")
        out = np.fromfile(path, dtype=np.float32, count=(b - a) * N_METRICS, offset=offset + a * N_METRICS * 4)
        if out.size != (b - a) * N_METRICS:
            raise _fault(path, self.folder, "became shorter while it was read (is another job writing it?)")
        return out.reshape(b - a, N_METRICS)

    def metrics(self, start, stop, views):
        """{n_fft: (full, pooled, anchors_full, anchors_pooled, views)} of samples start..stop."""
        views = tuple(sorted(set(views)))
        f0_col, f_cols = COLUMNS.index("f0_hz"), [COLUMNS.index(c) for c in ("f1_hz", "f2_hz", "f3_hz")]
        out = {}
        for n in self.scales:
            hop = self.hops[n]
            w0, count = start // hop, (stop - start) // hop + 1
            freqs = bin_frequencies(n, self.sr)
            parts = []
            for pooled, rows, axis in ((False, (w0, w0 + count), freqs),
                                       (True, (w0 // 2, w0 // 2 + count // 2), pooled_frequencies(freqs))):
                wanted = [k for k in views if (k in POOLED) == pooled]
                m = torch.from_numpy(np.stack([self._rows(n, k, *rows) for k in wanted])
                                     if wanted else np.zeros((0, rows[1] - rows[0], N_METRICS), np.float32))
                lay = layout_for(axis, self.sr)
                hz = m[..., f_cols]
                fbins = (torch.round((hz - lay.f_first) / lay.df).long() - lay.formant_lo).masked_fill(hz <= 0, -1)
                parts.append((m, Anchors(m[..., f0_col].clone(), fbins)))
            (full, a_full), (pooled, a_pooled) = parts
            out[n] = (full, pooled, a_full, a_pooled, views)
        return out
