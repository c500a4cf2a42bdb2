"""Reading the fingerprint cache back, every file checked before it is used.

`CachedFingerprint` reads window ranges of a source's cache (the matching's target) and
`read_view` one whole view. Each sidecar is compared with the settings of the run (`sidecar`
rebuilt from them) and each .npy with its sidecar: a damaged, truncated or stale cache is an
InputError naming the file, what is wrong and the mend, never silently used or a numpy error.
"""

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..stft import bin_frequencies, frame_count, hop_length
from .cache_format import sidecar, signal_digest
from .metrics import COLUMNS, N_METRICS, Anchors, layout_for
from .views import POOLED, pooled_frequencies


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


def read_view(path: str | Path) -> tuple[np.ndarray, dict]:
    """One cached view, checked: the .npy whole, of the shape its sidecar gives.

    Args:
        path: the view's .npy file, <cache>/n<n_fft>/slice_<k:02d>.npy.

    Returns:
        (metrics, sidecar): the metrics as a read-only memory map (windows, 425) float32, and
        the sidecar dict.

    Raises:
        InputError: naming the file, when the sidecar or the .npy is missing, damaged or of
            another shape than the sidecar gives.
    """
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
    folder and rerun), never silently used or a numpy error. Each scale's view 0 is checked on
    construction, the other views when first read.

    Args:
        folder: the cache's folder (rule fingerprint's output).
        sr: the sample rate, in Hz.
        scales: the STFT sizes to read.
        hop_fraction: the hop as a fraction of n_fft.
        samples: the length of the signal the cache was made from, in samples.
        signal: that signal, to check the sidecars' checksum against (None: not checked).
    """

    CHECKED = ("view", "view_name", "sample_rate", "n_fft", "hop", "window", "centered", "samples",
               "windows", "dtype", "shape", "profile_points", "columns", "signal_sha256")

    def __init__(self, folder: str | Path, sr: int, scales: Sequence[int], hop_fraction: float, samples: int,
                 signal: np.ndarray | torch.Tensor | None = None):
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

    def metrics(self, start: int, stop: int,
                views: Iterable[int]) -> dict[int, tuple[torch.Tensor, torch.Tensor, Anchors, Anchors, tuple]]:
        """The cached metrics of the windows of the (centred) STFT of samples start..stop, at every scale.

        Args:
            start: the slice's first sample: a multiple of twice every scale's hop (so that the
                pooled windows line up).
            stop: the sample after the slice's last.
            views: the view numbers wanted.

        Returns:
            {n_fft: (full, pooled, anchors_full, anchors_pooled, views)}: the metrics in the
            layout of fingerprint.scale_metrics, (views, windows, 425) among 0-16 and 17-18, the
            anchors (fundamentals, formant bins) recovered from their columns, and the sorted
            view numbers.
        """
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
