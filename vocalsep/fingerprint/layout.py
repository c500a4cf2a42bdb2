"""Tables of a frequency axis for the per-window metrics, computed once per axis.

Most of the 425 metrics are linear in a window's spectrum P (or in P^2 or ln P): the profile,
the band energies, the moments, every candidate fundamental's harmonic sum, the formant
envelope. `layout` builds each as a (bins, columns) matrix for one uniform frequency axis, so a
metric is one matrix product; `Banded` applies the sparse ones by column groups. The settings
of the searches (fundamental range, spacing limit, formant band, envelope width) live here too,
since the tables encode them.
"""

import functools
import math
from dataclasses import dataclass

import torch

PROFILE_POINTS = 400
BANDS = (("bass", 0.0, 250.0), ("low_mid", 250.0, 500.0), ("mid", 500.0, 2000.0),
         ("high_mid", 2000.0, 4000.0), ("presence", 4000.0, 8000.0), ("high", 8000.0, math.inf))
F0_RANGE = (60.0, 1000.0)
SPACING_MAX_HZ = 5000.0
SALIENCE_HARMONICS = 5
FORMANT_BAND = (500.0, 2000.0)
ENVELOPE_HZ = 300.0
EPS = 1e-10


class Banded:
    """A (bins, points) matrix whose columns each depend on a few neighbouring bins.

    It is applied as P @ matrix by column groups, each multiplying only the span of bins its
    columns use: the dense product would spend most of its time multiplying zeros (the profile
    uses about 6 of 1025 bins per point).

    Args:
        dense: the whole matrix (bins, points).
        groups: the number of column groups, of about equal width.
    """

    def __init__(self, dense: torch.Tensor, groups: int):
        self.shape = tuple(dense.shape)
        used = dense != 0
        edges = [round(i * self.shape[1] / groups) for i in range(groups + 1)]
        self.blocks = []
        for a, b in zip(edges[:-1], edges[1:]):
            rows = used[:, a:b].any(1).nonzero()[:, 0]
            r0, r1 = (int(rows[0]), int(rows[-1]) + 1) if len(rows) else (0, 1)
            self.blocks.append((r0, r1, dense[r0:r1, a:b].contiguous()))

    def __rmatmul__(self, P):
        return _BandedProduct.apply(P, self)

    def dense(self) -> torch.Tensor:
        """The whole matrix, zeros included (for checks).

        Returns:
            The (bins, points) matrix the blocks were cut from.
        """
        out = self.blocks[0][2].new_zeros(self.shape)
        a = 0
        for r0, r1, w in self.blocks:
            out[r0:r1, a : a + w.shape[1]] = w
            a += w.shape[1]
        return out


class _BandedProduct(torch.autograd.Function):
    """P @ banded, with a backward that adds each group's gradient into its span of bins (the
    autograd of slices would allocate a whole zero gradient per group)."""

    @staticmethod
    def forward(ctx, P, banded):
        ctx.banded = banded
        ctx.shape = P.shape
        parts = [P[..., r0:r1] @ w for r0, r1, w in banded.blocks]
        return parts[0] if len(parts) == 1 else torch.cat(parts, -1)

    @staticmethod
    def backward(ctx, grad):
        out = grad.new_zeros(ctx.shape)
        a = 0
        for r0, r1, w in ctx.banded.blocks:
            out[..., r0:r1] += grad[..., a : a + w.shape[1]] @ w.t()
            a += w.shape[1]
        return out, None


def _banded(dense, per_group):
    """Banded with about per_group columns per group (at least one group)."""
    return Banded(dense, max(1, dense.shape[1] // per_group))


@dataclass(frozen=True)
class Layout:
    """Tables that depend only on the frequency axis, computed once per axis (see `layout`)."""

    n_bins: int
    f_first: float
    df: float
    freqs: torch.Tensor
    profile: Banded               # (bins, 400): P @ profile is the 400-point profile
    lin_P: torch.Tensor           # (bins, 4): sum, sum f_kHz, sum f_kHz^2, envelope band mean
    lin_P2: torch.Tensor          # (bins, 6): band energies
    lin_log: torch.Tensor         # (bins, 2): mean ln P, slope
    cand_f0: torch.Tensor
    salience: Banded              # (bins, C): P @ salience is every candidate's harmonic sum
    spacing_bins: int
    spacing_fft: int              # FFT size of the autocorrelation: no wrap-around up to the longest lag
    lag_range: tuple
    formant_lo: int
    formant_n: int
    envelope: torch.Tensor        # (width,)
    envelope_matrix: Banded       # (bins, formant_n): the envelope at each bin of the formant band
    top_k: int


def _fast_length(n):
    """The smallest 2^a 3^b 5^c >= n (FFT sizes that are fast)."""
    best = 1 << max(0, (n - 1).bit_length())
    p3 = 1
    while p3 < best:
        p35 = p3
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 5
        p3 *= 3
    return best


@functools.lru_cache(maxsize=64)
def layout(n_bins: int, f_first: float, df: float, sr: int, device_type: str = "cpu") -> Layout:
    """The tables of the uniform axis f_first, f_first + df, ... (cached per axis).

    Args:
        n_bins: the number of frequency bins.
        f_first: the first bin's frequency, in Hz.
        df: the bin spacing, in Hz.
        sr: the sample rate, in Hz (the profile's grid spans 0..sr/2).
        device_type: the torch device type the float32 tables are made on ("cpu", "cuda").

    Returns:
        The Layout of that axis.
    """
    freqs = f_first + df * torch.arange(n_bins, dtype=torch.float64)
    # profile: a (bins x 400) matrix, applied by bands (Banded); a product beats gathering its
    # few non-zeros per point
    grid = torch.linspace(0.0, sr / 2, PROFILE_POINTS, dtype=torch.float64)
    step = float(grid[1])
    pos = ((grid - f_first) / df).clamp(0, n_bins - 1)
    i0 = pos.floor().long().clamp(max=max(n_bins - 2, 0))
    w = (pos - i0).clamp(0, 1)
    dense = torch.zeros(n_bins, PROFILE_POINTS, dtype=torch.float64)
    cols = torch.arange(PROFILE_POINTS)
    dense[i0, cols] += 1 - w
    dense[(i0 + 1).clamp(max=n_bins - 1), cols] += w
    if step > df:  # bins finer than the grid: triangle smoothing one grid step wide first
        r = step / df
        taps = torch.arange(-math.floor(r), math.floor(r) + 1)
        tri = (1 - taps.double().abs() / r).clamp(min=0)
        tri = tri / tri.sum()
        smoothed = torch.zeros_like(dense)  # profile point = sum_t w_t * (interpolation of P[bin + t])
        for t, wt in zip(taps.tolist(), tri.tolist()):
            src = (torch.arange(n_bins) + t).clamp(0, n_bins - 1)  # repeat the edge bins
            smoothed.index_add_(0, src, wt * dense)
        dense = smoothed
    fk = freqs / 1000.0
    # linear functionals of P, P^2 and ln P
    f_lo = max(0, math.ceil((FORMANT_BAND[0] - f_first) / df))
    f_hi = max(f_lo + 3, min(n_bins, math.floor((FORMANT_BAND[1] - f_first) / df) + 1))
    width = max(3, int(round(ENVELOPE_HZ / df)) | 1)
    env = torch.hann_window(width + 2, periodic=False, dtype=torch.float64)[1:-1]
    env = env / env.sum()
    r = width // 2
    env_matrix = torch.zeros(n_bins, f_hi - f_lo, dtype=torch.float64)  # envelope at each band bin
    band = torch.arange(f_lo, f_hi)[:, None]
    src = (band + torch.arange(-r, r + 1)[None, :]).clamp(0, n_bins - 1)
    env_matrix.index_put_((src.reshape(-1), (band - f_lo).expand_as(src).reshape(-1)),
                          env.expand(len(band), -1).reshape(-1), accumulate=True)
    env_mean = env_matrix.sum(1) / (f_hi - f_lo)  # mean over the band of the envelope
    lin_P = torch.stack([torch.ones_like(fk), fk, fk**2, env_mean], 1)
    lin_P2 = torch.stack([((freqs >= lo) & (freqs < hi)).double() for _, lo, hi in BANDS], 1)
    centred = fk - fk.mean()
    slope = centred / (centred**2).sum().clamp(min=EPS)
    lin_log = torch.stack([torch.full_like(fk, 1.0 / n_bins), slope], 1)
    # fundamental candidates, their harmonics as fractional bins
    lo, hi = F0_RANGE
    cand = torch.arange(lo, min(hi, sr / 2 / SALIENCE_HARMONICS) + 1e-9, df / 4, dtype=torch.float64)
    h = torch.arange(1, SALIENCE_HARMONICS + 1, dtype=torch.float64)[:, None]
    fpos = (h * cand - f_first) / df
    cvalid = (fpos >= 0) & (fpos <= n_bins - 1)
    fpos = fpos.clamp(0, n_bins - 1)
    clo = fpos.floor().clamp(max=max(n_bins - 2, 0))
    spacing_bins = int(min(n_bins, max(8, math.floor((SPACING_MAX_HZ - f_first) / df) + 1)))
    lag_lo = max(1, math.ceil(lo / df))
    lag_hi = max(lag_lo, min(spacing_bins - 1, math.floor(hi / df)))
    # the harmonic sum of every candidate as one (bins, candidates) matrix
    sal_w = (0.8 ** torch.arange(SALIENCE_HARMONICS, dtype=torch.float64))[:, None] * cvalid
    frac = fpos - clo
    salience = torch.zeros(n_bins, cand.shape[0], dtype=torch.float64)
    cols = torch.arange(cand.shape[0]).expand_as(clo)
    for offset, weight in ((0, 1 - frac), (1, frac)):  # linear interpolation between two bins
        rows = (clo.long() + offset).clamp(max=n_bins - 1)
        salience.index_put_((rows.reshape(-1), cols.reshape(-1)), (sal_w * weight).reshape(-1), accumulate=True)
    f32 = dict(dtype=torch.float32, device=torch.device(device_type))
    return Layout(
        n_bins=n_bins, f_first=f_first, df=df, freqs=freqs.to(**f32),
        profile=_banded(dense.to(**f32), 25),
        lin_P=lin_P.to(**f32), lin_P2=lin_P2.to(**f32), lin_log=lin_log.to(**f32),
        cand_f0=cand.to(**f32), salience=_banded(salience.to(**f32), 80), spacing_bins=spacing_bins,
        spacing_fft=_fast_length(spacing_bins + lag_hi + 1), lag_range=(lag_lo, lag_hi), formant_lo=f_lo,
        formant_n=f_hi - f_lo, envelope=env.to(**f32), envelope_matrix=_banded(env_matrix.to(**f32), 1 << 30),
        top_k=max(1, math.ceil(0.1 * n_bins)),
    )


def layout_for(freqs: torch.Tensor, sr: int) -> Layout:
    """The Layout of a uniform frequency axis given as its bin frequencies.

    Args:
        freqs: the bin centre frequencies in Hz, (bins,), evenly spaced.
        sr: the sample rate, in Hz.

    Returns:
        The cached Layout of that axis, on freqs' device type.
    """
    df = float(freqs[1] - freqs[0]) if len(freqs) > 1 else float(sr / 2)
    return layout(int(len(freqs)), round(float(freqs[0]), 6), round(df, 9), int(sr), freqs.device.type)
