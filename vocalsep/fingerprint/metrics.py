"""The 425 per-window metrics of a (non-negative) spectrogram view, vectorised over windows.

Input: P of shape (..., windows, bins) and the bin centre frequencies (a uniform axis).
Output: (..., windows, 425) float32, in the order of `COLUMNS`:

- profile_000..399: the spectrum on a 400-point grid 0..sr/2 (triangular smoothing one grid
  step wide where bins are finer than the grid, then linear interpolation);
- 6 band energies (sum of P^2): bass < 250 Hz, low-mid 250-500, mid 500-2000, high-mid 2-4 k,
  presence 4-8 k, high >= 8 kHz;
- 6 shape metrics: centroid and spread (Hz, magnitude-weighted), 85 % energy roll-off (Hz,
  interpolated inside the crossing bin), flatness (geometric over arithmetic mean of the
  magnitudes: ~0 for a tone, ~0.85 for one frame of white noise, whose bins are Rayleigh
  samples), slope (of ln magnitude per kHz, least squares), crest (max over mean);
- 5 harmonic features: fundamental (harmonic-sum search, 60-1000 Hz, quarter-bin grid, on
  linearly interpolated magnitudes), number of harmonic peaks (of the first 20 harmonics below
  Nyquist, those whose +-1-bin maximum exceeds 10 % of the window's peak and 3x its mean),
  harmonic spacing (strongest autocorrelation lag of the spectrum below 5 kHz, 60-1000 Hz),
  harmonic strength (mean +-1-bin maximum at the harmonics over the window's peak),
  harmonic-to-total energy (energy within +-1 bin of the harmonics over all energy);
- 4 formant features: F1 < F2 < F3, the three strongest peaks of the envelope (P smoothed by a
  300 Hz Hann window) inside the mid band 500-2000 Hz (0 when absent), and formant strength
  (mean envelope at those peaks over the envelope's mean in the band);
- 4 dynamics: peak-to-RMS, share of energy in the top 10 % of bins, spectral entropy of the
  energy distribution (0..1), total energy.

Silence gives finite values (never NaN or inf). Peak picks (fundamental, harmonic count and
spacing, formant frequencies) are not differentiable. Passing `anchors` (a reference's
fundamentals and formant bins) skips those searches and measures the differentiable harmonic
and formant features at the given positions: that is how the matching loss calls this function.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

PROFILE_POINTS = 400
BANDS = (("bass", 0.0, 250.0), ("low_mid", 250.0, 500.0), ("mid", 500.0, 2000.0),
         ("high_mid", 2000.0, 4000.0), ("presence", 4000.0, 8000.0), ("high", 8000.0, math.inf))
SHAPE = ("centroid_hz", "spread_hz", "rolloff_hz", "flatness", "slope_per_khz", "crest")
HARMONIC = ("f0_hz", "harmonic_count", "harmonic_spacing_hz", "harmonic_strength", "harmonic_energy_ratio")
FORMANT = ("f1_hz", "f2_hz", "f3_hz", "formant_strength")
DYNAMICS = ("peak_to_rms", "top10_energy_share", "spectral_entropy", "energy")
COLUMNS = (tuple(f"profile_{i:03d}" for i in range(PROFILE_POINTS)) + tuple(f"band_{b[0]}" for b in BANDS)
           + SHAPE + HARMONIC + FORMANT + DYNAMICS)
N_METRICS = len(COLUMNS)  # 425
GROUPS = {
    "profile": slice(0, 400), "bands": slice(400, 406), "shape": slice(406, 412),
    "harmonic": slice(412, 417), "formant": slice(417, 421), "dynamics": slice(421, 425),
}
# Peak picks: reported in the fingerprint, kept out of the matching loss.
NOT_DIFFERENTIABLE = ("f0_hz", "harmonic_count", "harmonic_spacing_hz", "f1_hz", "f2_hz", "f3_hz")
ROLLOFF = 0.85
F0_RANGE = (60.0, 1000.0)
SPACING_MAX_HZ = 5000.0
SALIENCE_HARMONICS = 5
MAX_HARMONICS = 20
FORMANT_BAND = (500.0, 2000.0)
ENVELOPE_HZ = 300.0
EPS = 1e-10
LOG_FLOOR = 1e-8


@dataclass(frozen=True)
class Anchors:
    """Peak positions, one row per window: where the differentiable features are measured."""

    f0_hz: torch.Tensor         # (rows,), 0 for none
    formant_bins: torch.Tensor  # (rows, 3) bin index inside the formant band, -1 for none


class Banded:
    """A (bins, points) matrix whose columns each depend on a few neighbouring bins, applied as
    P @ matrix by column groups, each multiplying only the span of bins its columns use: the
    dense product spends most of its time multiplying zeros (profile: ~6 of 1025 bins per point).
    """

    def __init__(self, dense, groups):
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

    def dense(self):
        """The whole matrix (for checks)."""
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
    """Tables that depend only on the frequency axis, computed once per axis."""

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
def layout(n_bins, f_first, df, sr, device_type="cpu"):
    """Tables for the uniform axis f_first, f_first + df, ... (n_bins bins) at sample rate sr."""
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


def layout_for(freqs, sr):
    """The Layout of a uniform frequency axis given as a tensor of bin frequencies."""
    df = float(freqs[1] - freqs[0]) if len(freqs) > 1 else float(sr / 2)
    return layout(int(len(freqs)), round(float(freqs[0]), 6), round(df, 9), int(sr), freqs.device.type)


def profile(P, lay):
    """(rows, bins) -> (rows, 400): the spectrum on the 0..sr/2 grid."""
    return P @ lay.profile


def fundamental(P, silent, lay):
    """Harmonic-sum search over the candidates; 0 for silent windows.

    The salience of a candidate is sum_h 0.8^(h-1) * P linearly interpolated at h * f0, a linear
    function of P: one matrix product with lay.salience (bins, candidates).
    """
    f0 = lay.cand_f0[(P @ lay.salience).argmax(-1)]
    return torch.where(silent, torch.zeros_like(f0), f0)


def harmonic_spacing(P, silent, lay):
    """Strongest autocorrelation lag (60-1000 Hz) of the spectrum below 5 kHz, in Hz."""
    seg = P[:, : lay.spacing_bins]
    centred = seg - seg.mean(-1, keepdim=True)
    spec = torch.fft.rfft(centred, n=lay.spacing_fft)
    acf = torch.fft.irfft(spec.real**2 + spec.imag**2, n=lay.spacing_fft)
    lo, hi = lay.lag_range
    lag = acf[:, lo : hi + 1].argmax(-1) + lo
    return torch.where(silent, torch.zeros_like(P[:, 0]), lag.to(P.dtype) * lay.df)


def envelope_band(P, lay):
    """The envelope (Hann-smoothed P) at every bin of the formant band: (rows, band bins)."""
    return P @ lay.envelope_matrix


def formant_peaks(env):
    """Band bins of the three strongest envelope peaks, in rising frequency; -1 where absent."""
    mid = env[:, 1:-1]
    is_peak = (mid > env[:, :-2]) & (mid >= env[:, 2:]) & (mid > 0)
    score = torch.where(is_peak, mid, torch.full_like(mid, -1.0))
    k = min(3, score.shape[-1])
    vals, idx = score.topk(k, dim=-1)
    big = 1 << 30
    key = torch.where(vals > 0, idx + 1, torch.full_like(idx, big)).sort(-1).values
    key = torch.nn.functional.pad(key, (0, 3 - k), value=big)
    return key.masked_fill(key == big, -1)


def _band_energy(cum, a, b):
    """Energy in bins a..b (inclusive) from the cumulative energy; 0 where a > b."""
    upper = cum.gather(1, b)
    lower = torch.where(a > 0, cum.gather(1, (a - 1).clamp(min=0)), torch.zeros_like(upper))
    return torch.where(a <= b, upper - lower, torch.zeros_like(upper))


def _thin(P, table):
    """P @ table for a table of a few columns, computed as (table^T P^T)^T: the same product,
    which BLAS computes about 3 times faster in this orientation (2 to 6 columns, measured here)."""
    return (table.t() @ P.t()).t()


def top_sum(x, k):
    """The sum of the k largest values of each row of x (rows, n), as topk(k).values.sum(-1).
    Without gradients, on the CPU, numpy's partition (introselect) finds them, 2 to 3 times
    faster here than topk."""
    n = x.shape[-1]
    if k >= n:
        return x.sum(-1)
    if x.requires_grad or x.device.type != "cpu":
        return x.topk(k, dim=-1, sorted=False).values.sum(-1)
    return torch.from_numpy(np.partition(x.numpy(), n - k, axis=-1)[:, n - k :].sum(-1))


def window_metrics(P, freqs, sr, anchors=None):
    """The 425 metrics of every window of P (..., windows, bins), as (..., windows, 425).

    Returns (metrics, anchors): the anchors used (searched when not given), one row per window.
    """
    lead = P.shape[:-1]
    P = P.reshape(-1, P.shape[-1])
    if P.shape[0] == 0:  # no windows (or no views): nothing to measure
        empty = P.new_zeros(0)
        return P.new_zeros(*lead, N_METRICS), Anchors(empty, torch.zeros(0, 3, dtype=torch.long))
    lay = layout_for(freqs, sr)
    n = lay.n_bins
    P2 = P * P
    logP = torch.log(P + LOG_FLOOR)
    lin = _thin(P, lay.lin_P)
    msum, m1, m2, env_mean = lin.unbind(-1)
    bands = _thin(P2, lay.lin_P2)
    cum = P2.cumsum(-1)
    energy = cum[:, -1]
    mean_log, slope = _thin(logP, lay.lin_log).unbind(-1)
    pmax = P.amax(-1)
    mean = msum / n
    silent = pmax <= 1e-8
    # shape
    centroid = m1 / (msum + EPS)
    spread = torch.sqrt((m2 / (msum + EPS) - centroid**2).clamp(min=0) + EPS)
    thr = ROLLOFF * energy
    with torch.no_grad():  # the crossing bin: how many cumulative energies lie below (they rise)
        cross = torch.searchsorted(cum, thr[:, None].contiguous()).clamp(max=n - 1)
    below = torch.where(cross > 0, cum.gather(1, (cross - 1).clamp(min=0)), torch.zeros_like(thr[:, None]))
    frac = ((thr[:, None] - below) / (P2.gather(1, cross) + EPS)).clamp(0, 1)
    rolloff = (lay.f_first + lay.df * (cross + frac - 0.5)[:, 0]).clamp(min=0)
    flatness = torch.exp(mean_log) / (mean + LOG_FLOOR)
    crest = pmax / (mean + EPS)
    shape = torch.stack([centroid * 1000, spread * 1000, rolloff, flatness, slope, crest], -1)
    # harmonic
    if anchors is None:
        with torch.no_grad():
            f0 = fundamental(P, silent, lay)
            spacing = harmonic_spacing(P, silent, lay)
            fbins = formant_peaks(envelope_band(P, lay))
        anchors = Anchors(f0, fbins)
    else:
        f0 = anchors.f0_hz.reshape(-1).to(P.dtype)
        fbins = anchors.formant_bins.reshape(-1, 3)
        spacing = torch.zeros_like(f0)
    h = torch.arange(1, MAX_HARMONICS + 1, dtype=P.dtype, device=P.device)
    hz = f0[:, None] * h
    valid = (f0[:, None] > 0) & (hz <= lay.freqs[-1] + lay.df / 2)
    pos = torch.round((hz - lay.f_first) / lay.df).long().clamp(0, n - 1)
    near = torch.stack([P.gather(1, (pos + d).clamp(0, n - 1)) for d in (-1, 0, 1)]).amax(0)
    validf = valid.to(P.dtype)
    count = ((near > 0.1 * pmax[:, None]) & (near > 3 * mean[:, None]) & valid).sum(-1).to(P.dtype)
    strength = (near * validf).sum(-1) / (validf.sum(-1).clamp(min=1) * (pmax + EPS))
    b = (pos + 1).clamp(max=n - 1)
    a = torch.cat([pos[:, :1] - 1, torch.maximum(pos[:, 1:] - 1, b[:, :-1] + 1)], 1).clamp(min=0)
    hte = (_band_energy(cum, a, b) * validf).sum(-1) / (energy + EPS)
    harmonic = torch.stack([f0, count, spacing, strength, hte], -1)
    # formants: envelope at the peaks, by a small gather around each
    fvalid = fbins >= 0
    r = len(lay.envelope) // 2
    centre = lay.formant_lo + fbins.clamp(min=0)
    around = (centre[..., None] + torch.arange(-r, r + 1, device=P.device)).clamp(0, n - 1)
    at_peak = (P.gather(1, around.reshape(around.shape[0], -1)).reshape(around.shape) @ lay.envelope) * fvalid
    fhz = torch.where(fvalid, lay.freqs[centre], torch.zeros_like(at_peak))
    fstrength = (at_peak.sum(-1) / fvalid.sum(-1).clamp(min=1)) / (env_mean + EPS)
    formant = torch.cat([fhz, fstrength[:, None]], -1)
    # dynamics
    peak_to_rms = pmax / torch.sqrt(energy / n + EPS)
    top = top_sum(P2, lay.top_k) / (energy + EPS)
    plogp = 2 * (P2 * logP).sum(-1)  # sum P^2 ln P^2 (einsum takes a batched matmul: 3x slower)
    entropy = ((torch.log(energy + EPS) - plogp / (energy + EPS)) / math.log(max(n, 2)))
    entropy = torch.where(silent, torch.zeros_like(entropy), entropy).clamp(min=0)
    dynamics = torch.stack([peak_to_rms, top, entropy, energy], -1)
    metrics = torch.cat([profile(P, lay), bands, shape, harmonic, formant, dynamics], -1)
    return metrics.reshape(*lead, N_METRICS), anchors
