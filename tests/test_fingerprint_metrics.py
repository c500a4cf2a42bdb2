"""The 425 metrics on signals with known answers, and the cache on disk."""

import json
import math

import numpy as np
import pytest
import torch

import vocalsep.fingerprint.fingerprint as fingerprint_module
from vocalsep.fingerprint import COLUMNS, N_METRICS, NOT_DIFFERENTIABLE, cache, cache_reader, fingerprint_scale
from vocalsep.fingerprint.metrics import layout_for, window_metrics
from vocalsep.stft import bin_frequencies, stft

SR = 22050
COL = {name: i for i, name in enumerate(COLUMNS)}


def raw_metrics(signal, n_fft=2048, hop=1024):
    """Metrics of the raw view (slice 0) of every window, as numpy (windows, 425)."""
    mag = stft(torch.as_tensor(signal, dtype=torch.float32), n_fft, hop).abs()
    metrics, _ = window_metrics(mag, bin_frequencies(n_fft, SR), SR)
    return metrics.numpy()


def harmonic_tone(f0=440.0, harmonics=8, seconds=1.0):
    t = np.arange(int(seconds * SR)) / SR
    return sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, harmonics + 1)).astype(np.float32)


def test_there_are_425_named_columns():
    assert N_METRICS == 425 == len(set(COLUMNS))
    assert COLUMNS[0] == "profile_000" and COLUMNS[399] == "profile_399"
    assert COLUMNS[400:406] == ("band_bass", "band_low_mid", "band_mid", "band_high_mid", "band_presence",
                                "band_high")
    assert set(NOT_DIFFERENTIABLE) <= set(COLUMNS)


def test_a_440_hz_harmonic_tone():
    m = raw_metrics(harmonic_tone())[2:-2]  # windows away from the zero-padded ends
    bin_hz = SR / 2048
    assert np.all(np.abs(m[:, COL["f0_hz"]] - 440.0) <= bin_hz)
    assert np.all(m[:, COL["harmonic_count"]] == 8)
    assert np.all(np.abs(m[:, COL["harmonic_spacing_hz"]] - 440.0) <= bin_hz)
    assert np.all(m[:, COL["harmonic_energy_ratio"]] > 0.95)
    # magnitude-weighted centroid of partials 440 h with amplitudes 1/h
    expected = sum(440.0 * h / h for h in range(1, 9)) / sum(1 / h for h in range(1, 9))
    assert np.allclose(m[:, COL["centroid_hz"]], expected, rtol=0.03)
    assert np.all(m[:, COL["flatness"]] < 0.1)
    # energy lives where the partials are: 440 in low-mid, 880..1760 mid, 2200..3520 high-mid
    bands = m[:, 400:406].sum(0)
    assert bands[0] / bands.sum() < 1e-3 and bands[4:].sum() / bands.sum() < 1e-3


def test_the_profile_follows_a_pure_tone_and_the_rolloff_sits_on_it():
    t = np.arange(SR) / SR
    m = raw_metrics(np.sin(2 * np.pi * 3000.0 * t).astype(np.float32))[3]
    grid = np.linspace(0, SR / 2, 400)
    assert abs(grid[np.argmax(m[:400])] - 3000.0) < grid[1]
    assert abs(m[COL["rolloff_hz"]] - 3000.0) < 2 * SR / 2048
    assert m[COL["band_high_mid"]] / m[400:406].sum() > 0.99


def test_white_noise_is_flat_and_high_entropy():
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    m = raw_metrics(noise)[2:-2]
    # geometric over arithmetic mean of Rayleigh-distributed bin magnitudes (one frame of noise):
    # GM = sigma sqrt(2) e^(-gamma/2), AM = sigma sqrt(pi/2), ratio 2/sqrt(pi) e^(-gamma/2) ~ 0.846
    theory = 2 / math.sqrt(math.pi) * math.exp(-0.5772156649 / 2)
    assert m[:, COL["flatness"]].mean() == pytest.approx(theory, abs=0.05)
    assert np.all(m[:, COL["flatness"]] > 0.8)
    assert np.all(m[:, COL["spectral_entropy"]] > 0.9)
    assert m[:, COL["centroid_hz"]].mean() == pytest.approx(SR / 4, rel=0.05)


def test_silence_gives_finite_metrics_and_finite_gradients():
    mag = torch.zeros(6, 513, requires_grad=True)
    metrics, _ = window_metrics(mag, bin_frequencies(1024, SR), SR)
    assert metrics.shape == (6, 425) and torch.isfinite(metrics).all()
    assert float(metrics.detach()[:, COL["energy"]].abs().max()) == 0.0
    metrics.sum().backward()
    assert torch.isfinite(mag.grad).all()


def test_metrics_are_vectorised_over_leading_dimensions():
    rng = np.random.default_rng(1)
    mag = torch.as_tensor(rng.random((3, 7, 257), dtype=np.float32))
    batched, _ = window_metrics(mag, bin_frequencies(512, SR), SR)
    single, _ = window_metrics(mag[1], bin_frequencies(512, SR), SR)
    assert batched.shape == (3, 7, 425)
    assert torch.allclose(batched[1], single, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n_fft", [2048, 1024, 512])
def test_the_banded_tables_equal_their_dense_products_and_gradients(n_fft):
    """The profile, salience and envelope tables multiply only the bins each group of columns
    uses: the same product and the same gradient as the whole dense matrix."""
    lay = layout_for(bin_frequencies(n_fft, SR), SR)
    rng = np.random.default_rng(n_fft)
    P = torch.as_tensor(rng.random((2, 9, n_fft // 2 + 1), dtype=np.float32), dtype=torch.float64)
    for table in (lay.profile, lay.salience, lay.envelope_matrix):
        dense = table.dense().double()
        assert dense.shape == table.shape and (dense != 0).sum() > 0
        a = P.clone().requires_grad_(True)
        b = P.clone().requires_grad_(True)
        weights = torch.as_tensor(rng.standard_normal((2, 9, table.shape[1])))
        banded = a @ type(table)(dense, len(table.blocks))
        assert torch.allclose(banded, b @ dense, rtol=1e-12, atol=1e-12)
        (banded * weights).sum().backward()
        ((b @ dense) * weights).sum().backward()
        assert torch.allclose(a.grad, b.grad, rtol=1e-12, atol=1e-12)
    # no weight lost to the banding: every profile point is a weighted mean of bins (weights sum to 1)
    assert torch.allclose(lay.profile.dense().sum(0), torch.ones(400), atol=1e-5)
    assert len(lay.profile.blocks) > 1  # it is banded: each group spans few bins
    assert max(r1 - r0 for r0, r1, _ in lay.profile.blocks) < lay.n_bins // 4


def test_a_fingerprint_scale_has_19_views_of_425_metrics():
    fp = fingerprint_scale(harmonic_tone(seconds=0.5), SR, 1024)
    windows = len(harmonic_tone(seconds=0.5)) // 512 + 1
    assert fp.full.shape == (17, windows, 425) and fp.pooled.shape == (2, windows // 2, 425)
    assert all(torch.isfinite(fp.view(k)).all() for k in range(19))


def test_the_cache_writes_one_npy_and_sidecar_per_view_and_scale(tmp_path, monkeypatch):
    signal = np.random.default_rng(2).standard_normal(SR).astype(np.float32) * 0.1
    monkeypatch.setattr(fingerprint_module, "BLOCK_CELLS", 16 * 513)  # several blocks: halos must join exactly
    assert len(list(fingerprint_module.window_blocks(SR // 512 + 1, 513))) > 1
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the blocks spread over two threads, appended in order
    try:
        paths = cache.write_fingerprint(signal, SR, tmp_path, scales=(1024, 512), hop_fraction=0.5)
        assert torch.get_num_threads() == 2  # given back
    finally:
        torch.set_num_threads(before)
    assert len(paths) == 38 and all(p.exists() for p in paths)
    assert not list(tmp_path.rglob("*.part")) and sorted(p.name for p in tmp_path.iterdir()) == ["n1024", "n512"]
    for n in (1024, 512):
        whole = fingerprint_scale(signal, SR, n)
        for k in (0, 5, 16, 17, 18):
            arr, meta = cache_reader.read_view(tmp_path / f"n{n}" / f"slice_{k:02d}.npy")
            assert arr.dtype == np.float32 and arr.shape == tuple(meta["shape"])
            assert meta["columns"] == list(COLUMNS) and meta["n_fft"] == n and meta["hop"] == n // 2
            np.testing.assert_allclose(arr, whole.view(k).numpy(), rtol=1e-4, atol=1e-4)
    sidecar = json.loads((tmp_path / "n512" / "slice_17.json").read_text())
    assert sidecar["view_name"] == "max_pool_2x2" and sidecar["window_hop_seconds"] == pytest.approx(512 / SR)
    # the file holds the whole sidecar, one key per line
    assert sidecar == cache.sidecar(512, 256, SR, 17, sidecar["windows"], sidecar["samples"],
                                    cache.signal_digest(signal))
    assert (tmp_path / "n512" / "slice_17.json").read_text().count("\n") == len(sidecar) + 2


def test_the_cache_replaces_an_older_one_and_leaves_nothing_when_it_fails(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    first, second = (rng.standard_normal(SR // 2).astype(np.float32) * 0.1 for _ in range(2))
    cache.write_fingerprint(first, SR, tmp_path, scales=(512,))
    cache.write_fingerprint(second, SR, tmp_path, scales=(512,))  # over the first: replaced file by file
    np.testing.assert_allclose(cache_reader.read_view(tmp_path / "n512" / "slice_03.npy")[0],
                               fingerprint_scale(second, SR, 512).view(3).numpy(), rtol=1e-4, atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n512"] and len(list((tmp_path / "n512").iterdir())) == 38

    def broken(self, a, b):
        raise RuntimeError("metrics failed")

    monkeypatch.setattr(cache._ScaleWriter, "metrics", broken)
    with pytest.raises(RuntimeError, match="metrics failed"):
        cache.write_fingerprint(first, SR, tmp_path / "new", scales=(1024, 512))
    assert not (tmp_path / "new").exists()  # no hidden folder, no half-written scale, not even the folder
