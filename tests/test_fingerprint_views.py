"""Each view's kernel on known images: lines, edges, blobs, combs, constants."""

import numpy as np
import pytest
import torch

from vocalsep.fingerprint.views import EDGE_ANGLES, N_VIEWS, POOLED, VIEW_NAMES, compute_views

T, F = 24, 32  # windows (time), bins (frequency)


def views_of(picture):
    """All 19 views of an image given as picture[f, t] (rows = frequency)."""
    mag = torch.as_tensor(np.asarray(picture, dtype=np.float32).T.copy())  # -> (windows, bins)
    full, pooled = compute_views(mag)
    return {VIEW_NAMES[k]: (full[k] if k < 17 else pooled[POOLED.index(k)]).numpy().T for k in range(N_VIEWS)}


def blank():
    return np.zeros((F, T), dtype=np.float32)


def test_there_are_nineteen_views_in_the_documented_order():
    assert N_VIEWS == 19
    assert VIEW_NAMES[:9] == ("raw", "horizontal", "vertical", "diagonal_up", "diagonal_down", "blob",
                              "harmonic_stack", "high_pass", "low_pass")
    assert VIEW_NAMES[9:16] == tuple(f"edge_{a:g}" for a in EDGE_ANGLES)
    assert VIEW_NAMES[16:] == ("laplacian", "max_pool_2x2", "avg_pool_2x2")


def test_a_horizontal_line_lights_slice_1_and_not_slice_2():
    img = blank()
    img[16, :] = 1.0  # a sustained partial: one bin, every window
    v = views_of(img)
    assert v["horizontal"][16, 4:-4].min() == pytest.approx(1.0)
    assert np.abs(v["vertical"]).max() == pytest.approx(0.0, abs=1e-6)
    assert v["diagonal_up"][16, 4:-4].max() < 0.5 * v["horizontal"][16, 4:-4].min()


def test_a_vertical_line_lights_slice_2_and_not_slice_1():
    img = blank()
    img[:, 12] = 1.0  # an onset: every bin, one window
    v = views_of(img)
    assert v["vertical"][4:-4, 12].min() == pytest.approx(1.0)
    assert np.abs(v["horizontal"]).max() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("rising", [True, False])
def test_diagonal_lines_light_their_own_diagonal_view(rising):
    img = blank()
    for t in range(T):
        f = 4 + t if rising else 27 - t
        if 0 <= f < F:
            img[f, t] = 1.0
    v = views_of(img)
    on, off = ("diagonal_up", "diagonal_down") if rising else ("diagonal_down", "diagonal_up")
    f, t = (14, 10) if rising else (17, 10)
    assert v[on][f, t] == pytest.approx(1.0)
    assert v[off][f, t] < 0.25 * v[on][f, t]


def test_an_onset_step_lights_the_90_degree_edge_detector_most():
    img = blank()
    img[:, 12:] = 1.0  # silence, then sound in every bin: an edge running along frequency
    v = views_of(img)
    response = {a: v[f"edge_{a:g}"][16, 11:13].max() for a in EDGE_ANGLES}
    assert max(response, key=response.get) == 90.0
    assert response[90.0] == pytest.approx(1.0)
    assert response[22.5] < response[45.0] < response[67.5] < response[90.0]
    # the same step turned by 90 degrees (a step in frequency) is invisible to it
    v2 = views_of(np.ascontiguousarray(np.pad(np.ones((16, T)), ((16, 0), (0, 0)))))
    assert np.abs(v2["edge_90"]).max() == pytest.approx(0.0, abs=1e-6)


def test_a_45_degree_edge_lights_slice_10_and_not_slice_14():
    f_idx, t_idx = np.mgrid[0:F, 0:T]
    img = (f_idx - 4 > t_idx).astype(np.float32)  # the boundary rises with time at 45 degrees
    v = views_of(img)
    f, t = 14, 10
    assert v["edge_45"][f - 1 : f + 2, t].max() > 0.9
    assert v["edge_135"][4:-4, 4:-4].max() == pytest.approx(0.0, abs=1e-6)


def test_a_constant_image_is_zero_on_every_zero_sum_kernel_and_kept_by_the_others():
    v = views_of(np.full((F, T), 2.0, dtype=np.float32))
    zero_sum = ["horizontal", "vertical", "diagonal_up", "diagonal_down", "blob", "high_pass", "laplacian",
                *[f"edge_{a:g}" for a in EDGE_ANGLES]]
    for name in zero_sum:
        assert np.abs(v[name]).max() == pytest.approx(0.0, abs=1e-5), name
    for name in ("raw", "low_pass", "max_pool_2x2", "avg_pool_2x2"):
        assert np.allclose(v[name], 2.0), name


def test_an_impulse_shows_the_laplacian_and_high_pass_kernels():
    img = blank()
    img[10, 10] = 9.0
    v = views_of(img)
    assert v["laplacian"][10, 10] == pytest.approx(36.0)
    assert v["laplacian"][11, 10] == pytest.approx(9.0) and v["laplacian"][11, 11] == pytest.approx(0.0)
    assert v["high_pass"][10, 10] == pytest.approx(8.0) and v["high_pass"][11, 11] == pytest.approx(1.0)
    assert v["low_pass"][11, 11] == pytest.approx(1.0)


def test_a_small_blob_lights_the_blob_view_at_its_centre():
    img = blank()
    img[14:17, 9:12] = 1.0
    v = views_of(img)
    assert np.unravel_index(np.argmax(v["blob"]), v["blob"].shape) == (15, 10)
    line = blank()
    line[15, :] = 1.0
    assert v["blob"][15, 10] > 1.5 * views_of(line)["blob"][15, 10]


def test_the_harmonic_stack_view_peaks_at_the_fundamental_of_a_comb():
    img = blank()
    img[[5, 10, 15, 20, 25, 30], :] = 1.0  # harmonics of bin 5
    v = views_of(img)["harmonic_stack"]
    assert v[5, 0] == pytest.approx(1.0)  # bins 5, 10, 15, 20 all lit
    assert v[5, 0] > v[10, 0] > 0        # bin 10: 10 and 20 lit, 30 lit, 40 above Nyquist
    assert v[7, 0] == pytest.approx(0.0)


def test_pooling_halves_windows_and_bins():
    img = np.arange(F * T, dtype=np.float32).reshape(F, T)
    v = views_of(img)
    assert v["max_pool_2x2"].shape == (F // 2, T // 2)
    assert v["max_pool_2x2"][0, 0] == img[:2, :2].max()
    assert v["avg_pool_2x2"][3, 4] == pytest.approx(img[6:8, 8:10].mean())


def test_a_subset_of_views_equals_the_same_views_of_the_full_set():
    rng = np.random.default_rng(0)
    mag = torch.as_tensor(rng.random((T, F), dtype=np.float32))
    full, pooled = compute_views(mag)
    sub_full, sub_pooled = compute_views(mag, [0, 5, 12, 18])
    # the same sums (a matrix product of other shape may round the last bit differently)
    torch.testing.assert_close(sub_full, full[[0, 5, 12]], rtol=1e-6, atol=1e-6)
    assert torch.equal(sub_pooled, pooled[[1]])


@pytest.mark.parametrize("views", [[1, 2, 9], [5], [k for k in range(1, 17) if k != 6]])
def test_the_conv_views_and_their_gradient_equal_conv2d_with_the_kernels(views):
    """The stencil (only the shifts the asked kernels use) gives conv2d's values and gradient."""
    from vocalsep.fingerprint.views import _stencil_weights

    rng = np.random.default_rng(len(views))
    mag = torch.as_tensor(rng.random((2, T, F)), dtype=torch.float64)
    names, weights = _stencil_weights(torch.float64, "cpu")
    conv = [k for k in views if VIEW_NAMES[k] in names]
    kernels = weights[[names.index(VIEW_NAMES[k]) for k in conv]].reshape(-1, 1, 5, 5)
    upstream = torch.as_tensor(rng.standard_normal((2, len(views), T, F)))

    a = mag.clone().requires_grad_(True)
    full, _ = compute_views(a, views)
    (full * upstream).sum().backward()

    b = mag.clone().requires_grad_(True)
    padded = torch.nn.functional.pad(b[:, None], (2, 2, 2, 2), mode="replicate")
    expected = torch.nn.functional.conv2d(padded, kernels).abs()  # (2, views, T, F), cross-correlation
    torch.testing.assert_close(full, expected, rtol=1e-10, atol=1e-12)
    (expected * upstream).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)
