"""The 19 views of a magnitude spectrogram: fixed kernels applied as one batched conv2d.

A spectrogram here is (..., windows, bins): time along rows, frequency along columns.
Kernels are written below as pictures K[f, t] (row = frequency, increasing upwards in
index, column = time) and transposed once to the (time, frequency) layout.
Signed responses (line, edge, Laplacian, high-pass) are rectified: a view is |response|,
so every view is a non-negative "magnitude" the metrics can read. Borders are padded by
repeating the edge, so a constant image gives exactly zero on every zero-sum kernel.
"""

import functools
import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F

EDGE_ANGLES = (22.5, 45.0, 67.5, 90.0, 112.5, 135.0, 157.5)

VIEW_NAMES = (
    "raw", "horizontal", "vertical", "diagonal_up", "diagonal_down", "blob", "harmonic_stack",
    "high_pass", "low_pass",
    *[f"edge_{a:g}" for a in EDGE_ANGLES],
    "laplacian", "max_pool_2x2", "avg_pool_2x2",
)
N_VIEWS = len(VIEW_NAMES)  # 19
POOLED = (17, 18)          # views that halve windows and bins (2x2 pooling, stride 2)
HARMONIC_STACK_ORDERS = 4  # slice 6 averages the bins at 1, 2, 3 and 4 times each frequency

VIEW_DESCRIPTIONS = {
    "raw": "the magnitude itself",
    "horizontal": "3x3 line detector along time (sustained partials)",
    "vertical": "3x3 line detector along frequency (onsets, broadband clicks)",
    "diagonal_up": "3x3 line detector, frequency rising with time",
    "diagonal_down": "3x3 line detector, frequency falling with time",
    "blob": "5x5 difference of Gaussians (sigma 0.8 minus 1.6 bins), zero-sum",
    "harmonic_stack": "mean of the bins at 1, 2, 3, 4 times each frequency (0 above Nyquist)",
    "high_pass": "3x3 identity minus 3x3 mean",
    "low_pass": "3x3 mean",
    **{f"edge_{a:g}": f"3x3 Sobel edge detector for edges running at {a:g} degrees "
       "(0 = along time, 90 = along frequency, i.e. onsets)" for a in EDGE_ANGLES},
    "laplacian": "3x3 four-neighbour Laplacian",
    "max_pool_2x2": "2x2 max-pool, stride 2 (halves windows and bins)",
    "avg_pool_2x2": "2x2 average-pool, stride 2 (halves windows and bins)",
}


def _line(picture):
    """A line detector from a picture, scaled so its positive part sums to 1."""
    k = torch.tensor(picture, dtype=torch.float64)
    return k / k.clamp(min=0).sum()


def _gaussian(sigma, size=5):
    """A size x size Gaussian of width sigma (bins), summing to 1."""
    r = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def _sobel(angle_deg):
    """Derivative across an edge running at angle_deg (from the time axis towards frequency)."""
    d_t = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=torch.float64) / 4  # along time
    d_f = d_t.T  # along frequency (row index grows with frequency)
    a = math.radians(angle_deg)
    return -math.sin(a) * d_t + math.cos(a) * d_f


@functools.lru_cache(maxsize=1)
def kernels_3x3() -> dict[str, torch.Tensor]:
    """The 3x3 kernels of the conv views.

    Returns:
        {view name: kernel}, each a float64 picture K[f, t] (3, 3), in the order of the views
        they produce (cached: the same dict at every call).
    """
    pictures = {
        "horizontal": _line([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]]),
        "vertical": _line([[-1, 2, -1], [-1, 2, -1], [-1, 2, -1]]),
        # rows grow with frequency: (0,0),(1,1),(2,2) is frequency rising with time
        "diagonal_up": _line([[2, -1, -1], [-1, 2, -1], [-1, -1, 2]]),
        "diagonal_down": _line([[-1, -1, 2], [-1, 2, -1], [2, -1, -1]]),
        "high_pass": torch.tensor([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=torch.float64) - 1 / 9,
        "low_pass": torch.full((3, 3), 1 / 9, dtype=torch.float64),
        **{f"edge_{a:g}": _sobel(a) for a in EDGE_ANGLES},
        "laplacian": torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float64),
    }
    return pictures


@functools.lru_cache(maxsize=1)
def blob_kernel() -> torch.Tensor:
    """The 5x5 difference of Gaussians (sigma 0.8 minus 1.6 bins) of the blob view.

    Returns:
        The kernel as a float64 picture K[f, t] (5, 5), scaled so its positive part sums to 1.
    """
    k = _gaussian(0.8) - _gaussian(1.6)
    return k / k.clamp(min=0).sum()


@functools.lru_cache(maxsize=8)
def _stencil_weights(dtype, device_type):
    """(names, W): the conv views' kernels as rows of W (views, 25) over the 25 shifts of a 5x5
    neighbourhood (time offset major), the 3x3 kernels in its centre."""
    pics = {**kernels_3x3(), "blob": blob_kernel()}
    rows = []
    for pic in pics.values():
        k = pic.T  # (t, f)
        if k.shape[0] == 3:
            k = torch.nn.functional.pad(k, (1, 1, 1, 1))
        rows.append(k.reshape(-1))
    return tuple(pics), torch.stack(rows).to(dtype=dtype, device=torch.device(device_type))


class _Stencil(torch.autograd.Function):
    """out[v] = sum over the 25 shifts s of W[v, s] * (the edge-padded image shifted by s).

    The same sums as conv2d with these kernels. Forward stacks the shifted copies and takes one
    matrix product; backward adds W^T times the gradient back at each shift into one buffer (a
    one-channel conv2d's backward, or autograd through 25 slices, each filling a zero image of
    its own, costs several times more). Only the shifts some kernel uses are taken: 9 of 25 when
    only 3x3 kernels are asked for (a matching step draws one view).
    """

    @staticmethod
    def forward(ctx, padded, weights, h, w):
        n = padded.shape[0]
        used = (weights != 0).any(0).nonzero()[:, 0].tolist()
        shifts = torch.stack([padded[:, s // 5 : s // 5 + h, s % 5 : s % 5 + w] for s in used])
        weights = weights[:, used]
        ctx.save_for_backward(weights)
        ctx.used = used
        ctx.padded_shape = padded.shape
        return (weights @ shifts.reshape(len(used), -1)).reshape(-1, n, h, w)

    @staticmethod
    def backward(ctx, grad_out):
        (weights,) = ctx.saved_tensors
        _, n, h, w = grad_out.shape
        per_shift = (weights.T @ grad_out.reshape(grad_out.shape[0], -1)).reshape(len(ctx.used), n, h, w)
        grad = grad_out.new_zeros(ctx.padded_shape)
        for k, s in enumerate(ctx.used):
            i, j = divmod(s, 5)
            grad[:, i : i + h, j : j + w] += per_shift[k]
        return grad, None, None, None


def _stencil(img, weights):
    """Every conv view of images (n, h, w) at once, rectified: (views, n, h, w)."""
    n, h, w = img.shape
    padded = F.pad(img[:, None], (2, 2, 2, 2), mode="replicate")[:, 0]
    return _Stencil.apply(padded, weights, h, w).abs()


@functools.lru_cache(maxsize=16)
def _harmonic_index(n_bins, device_type):
    """(indices, valid): the bins h * f for h = 1..4 (flattened, clamped) and which exist (4, bins)."""
    f = torch.arange(n_bins)
    h = torch.arange(1, HARMONIC_STACK_ORDERS + 1)[:, None]
    idx = h * f
    valid = idx < n_bins
    return idx.clamp(max=n_bins - 1).reshape(-1).to(device_type), valid.to(device_type)


def harmonic_stack(mag: torch.Tensor) -> torch.Tensor:
    """View 6: for each bin f, the mean magnitude at f, 2f, 3f and 4f (0 above Nyquist).

    Args:
        mag: magnitude spectrograms, (..., windows, bins).

    Returns:
        The view, of mag's shape.
    """
    n_bins = mag.shape[-1]
    idx, valid = _harmonic_index(n_bins, mag.device.type)
    gathered = mag[..., idx].reshape(*mag.shape[:-1], HARMONIC_STACK_ORDERS, n_bins)
    return (gathered * valid.to(mag.dtype)).mean(dim=-2)


def compute_views(mag: torch.Tensor, which: Iterable[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Views of magnitude spectrograms.

    Args:
        mag: magnitude spectrograms, (..., windows, bins).
        which: the view numbers wanted (default all 19, see VIEW_NAMES).

    Returns:
        (full, pooled): full is (..., n_full, windows, bins) with the wanted views among 0-16,
        pooled is (..., n_pooled, windows // 2, bins // 2) with the wanted ones among 17
        (max-pool) and 18 (average-pool); both in rising view order (a dimension of size 0 when
        none is wanted).
    """
    which = sorted(set(range(N_VIEWS) if which is None else which))
    lead = mag.shape[:-2]
    img = mag.reshape(-1, 1, *mag.shape[-2:])
    names, weights = _stencil_weights(img.dtype, img.device.type)
    by_name = {}
    conv = [names.index(VIEW_NAMES[k]) for k in which if VIEW_NAMES[k] in names]
    if conv:
        out = _stencil(img[:, 0], weights[conv])
        by_name.update(zip([names[i] for i in conv], out.unbind(0)))
    if 0 in which:
        by_name["raw"] = img[:, 0]
    if 6 in which:
        by_name["harmonic_stack"] = harmonic_stack(img[:, 0])
    full_k = [k for k in which if k not in POOLED]
    if full_k:
        full = torch.stack([by_name[VIEW_NAMES[k]] for k in full_k], dim=1)
    else:
        full = img.new_zeros(img.shape[0], 0, *img.shape[-2:])
    pooled = [F.max_pool2d(img, 2) if k == 17 else F.avg_pool2d(img, 2) for k in which if k in POOLED]
    pooled = torch.cat(pooled, dim=1) if pooled else img.new_zeros(img.shape[0], 0, img.shape[-2] // 2,
                                                                    img.shape[-1] // 2)
    return full.reshape(*lead, *full.shape[1:]), pooled.reshape(*lead, *pooled.shape[1:])


def pooled_frequencies(freqs: torch.Tensor) -> torch.Tensor:
    """Centre frequencies of 2x2-pooled bins (the mean of each pair).

    Args:
        freqs: the bin centre frequencies, (bins,).

    Returns:
        The pooled bins' frequencies, (bins // 2,) (an odd last bin is dropped, as pooling does).
    """
    n = freqs.shape[-1] // 2
    return 0.5 * (freqs[: 2 * n : 2] + freqs[1 : 2 * n : 2])
