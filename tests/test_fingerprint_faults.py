"""A damaged or stale fingerprint cache is refused with the file named, what is wrong and the mend.

Each case damages a copy of a real cache written by `write_fingerprint` (the way a crash, a full
disk, a copy cut short or a cache of another run would) and reads it back as the matching does.
"""

import json
import re
import shutil

import numpy as np
import pytest

from vocalsep.errors import InputError
from vocalsep.fingerprint.cache import write_fingerprint
from vocalsep.fingerprint.cache_reader import CachedFingerprint, read_view
from vocalsep.fingerprint.metrics import COLUMNS, N_METRICS
from vocalsep.matching.optimise import match
from vocalsep.matching.settings import MatchSettings

SR = 22050
SCALES = (1024, 512)
SECONDS = 1.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def signals():
    rng = np.random.default_rng(5)
    vocal, other = (rng.standard_normal(int(SECONDS * SR)).astype(np.float32) * 0.1 for _ in range(2))
    return vocal, other


@pytest.fixture(scope="module")
def made(tmp_path_factory, signals):
    """A whole cache of the vocal, written once; tests damage copies of it."""
    folder = tmp_path_factory.mktemp("made") / "vocal"
    write_fingerprint(signals[0], SR, folder, SCALES)
    return folder


@pytest.fixture
def cache(made, tmp_path):
    folder = tmp_path / "vocal"
    shutil.copytree(made, folder)
    return folder


def read_all(folder, signal):
    """Open the cache as the matching does and read every view of the whole signal."""
    cached = CachedFingerprint(folder, SR, SCALES, 0.5, len(signal), signal=signal)
    return cached.metrics(0, len(signal), range(19))


def refused(folder, signal, file, problem):
    """Reading raises an InputError that names `file`, says `problem` and the mend."""
    with pytest.raises(InputError) as caught:
        read_all(folder, signal)
    message = str(caught.value)
    assert caught.value.path == str(file), message
    assert re.search(problem, message), message
    assert f"Delete the folder {folder} and rerun" in message, message
    return message


def rewrite_sidecar(path, **changes):
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_a_whole_cache_reads_back(cache, signals):
    out = read_all(cache, signals[0])
    assert set(out) == set(SCALES)
    arr, meta = read_view(cache / "n512" / "slice_03.npy")
    assert arr.shape == (meta["windows"], N_METRICS) and meta["columns"] == list(COLUMNS)


def test_a_truncated_npy_is_named_not_a_reshape_error(cache, signals):
    path = cache / "n512" / "slice_05.npy"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 4 * N_METRICS - 3])  # a copy or a write cut short
    refused(cache, signals[0], path, r"is truncated: \d+ bytes, where its header and 87 x 425 float32 make \d+")
    with pytest.raises(InputError, match="slice_05.npy: is truncated"):
        read_view(path)


def test_an_npy_cut_inside_its_header_is_named(cache, signals):
    path = cache / "n1024" / "slice_00.npy"
    path.write_bytes(path.read_bytes()[:40])
    refused(cache, signals[0], path, r"is not a readable \.npy file, it is truncated or damaged")


def test_an_empty_npy_is_named(cache, signals):
    path = cache / "n1024" / "slice_11.npy"
    path.write_bytes(b"")
    refused(cache, signals[0], path, r"is not a readable \.npy file")


@pytest.mark.parametrize("array, problem", [
    (np.zeros((87, N_METRICS), np.float64), r"holds a float64 array of shape \(87, 425\)"),
    (np.zeros((87, N_METRICS - 1), np.float32),
     r"shape \(87, 424\); its sidecar and this run's settings need \(87, 425\)"),
    (np.zeros((86, N_METRICS), np.float32), r"shape \(86, 425\)"),
    (np.zeros((87, N_METRICS, 1), np.float32), r"shape \(87, 425, 1\)"),
])
def test_an_npy_of_the_wrong_shape_or_type_is_named(cache, signals, array, problem):
    path = cache / "n512" / "slice_07.npy"
    np.save(path, array)
    refused(cache, signals[0], path, problem)


def test_a_view_whose_windows_disagree_with_the_others_is_named(cache, signals):
    # a pooled view (half the windows) given the full views' count, its sidecar made to agree
    path = cache / "n512" / "slice_17.npy"
    np.save(path, np.zeros((87, N_METRICS), np.float32))
    rewrite_sidecar(path.with_suffix(".json"), windows=87, shape=[87, N_METRICS])
    refused(cache, signals[0], path.with_suffix(".json"), r"windows 87 \(expected 43\), shape \[87, 425\]")


def test_a_missing_or_truncated_sidecar_is_named(cache, signals):
    sidecar = cache / "n512" / "slice_02.json"
    text = sidecar.read_text()
    sidecar.unlink()
    refused(cache, signals[0], sidecar, r"is missing: every \.npy of the cache has its \.json sidecar")
    sidecar.write_text(text[: len(text) // 2])
    refused(cache, signals[0], sidecar, r"cannot be read as JSON, it is truncated or damaged")


def test_a_missing_npy_or_scale_is_named(cache, signals):
    (cache / "n512" / "slice_18.npy").unlink()
    refused(cache, signals[0], cache / "n512" / "slice_18.npy", "is missing from the fingerprint cache")
    shutil.rmtree(cache / "n1024")
    refused(cache, signals[0], cache / "n1024", "is missing: the cache has no n_fft 1024 scale")


@pytest.mark.parametrize("changes, problem", [
    ({"columns": list(COLUMNS[:-1]) + ["renamed"]}, "other columns than this version's 425 metrics"),
    ({"n_fft": 2048, "hop": 1024}, r"n_fft 2048 \(expected 512\), hop 1024 \(expected 256\)"),
    ({"sample_rate": 44100}, r"sample_rate 44100 \(expected 22050\)"),
    ({"view": 4}, r"view 4 \(expected 3\)"),
    ({"dtype": "float16"}, r"dtype float16 \(expected float32\)"),
])
def test_a_sidecar_that_does_not_match_is_named(cache, signals, changes, problem):
    sidecar = cache / "n512" / "slice_03.json"
    rewrite_sidecar(sidecar, **changes)
    refused(cache, signals[0], sidecar, problem)


def test_a_sidecar_without_a_setting_is_named(cache, signals):
    sidecar = cache / "n1024" / "slice_09.json"
    meta = json.loads(sidecar.read_text())
    del meta["hop"]
    sidecar.write_text(json.dumps(meta))
    refused(cache, signals[0], sidecar, r"no hop \(expected 512\)")


def test_the_cache_of_another_signal_is_named(cache, signals):
    vocal, other = signals
    refused(cache, other, cache / "n1024" / "slice_00.json", "made from another signal than the one it is read for")


def test_the_matching_names_the_damaged_file(cache, signals):
    vocal, other = signals
    mix = vocal + other
    settings = MatchSettings(scales=SCALES, profile_iterations=1, iterations=1, loss_views=(0, 3),
                             chunk_seconds=30.0)
    path = cache / "n1024" / "slice_03.npy"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match=re.escape(f"{path}: is truncated")):
        match(mix, vocal, SR, settings, vocal_fingerprint=cache)
