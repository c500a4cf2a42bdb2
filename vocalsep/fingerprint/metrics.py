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
The tables of a frequency axis that make most metrics one matrix product are in `layout`.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from .layout import BANDS, EPS, PROFILE_POINTS, Layout, layout_for

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
MAX_HARMONICS = 20
LOG_FLOOR = 1e-8


@dataclass(frozen=True)
class Anchors:
    """Peak positions, one row per window: where the differentiable features are evaluated."""

    f0_hz: torch.Tensor         # (rows,), 0 for none
    formant_bins: torch.Tensor  # (rows, 3) bin index inside the formant band, -1 for none


def profile(P: torch.Tensor, lay: Layout) -> torch.Tensor:
    """The spectrum of each window on the 400-point grid 0..sr/2.

    Args:
        P: spectra, (rows, bins), on the axis of `lay`.
        lay: the Layout of that axis.

    Returns:
        The profiles, (rows, 400).
    """
    return P @ lay.profile


def fundamental(P: torch.Tensor, silent: torch.Tensor, lay: Layout) -> torch.Tensor:
    """The fundamental of each window, by a harmonic-sum search over the candidates.

    The salience of a candidate is sum_h 0.8^(h-1) * P linearly interpolated at h * f0, a linear
    function of P: one matrix product with lay.salience (bins, candidates).

    Args:
        P: spectra, (rows, bins).
        silent: (rows,) bool, the windows to report 0 for.
        lay: the Layout of P's axis.

    Returns:
        The fundamentals in Hz, (rows,), 0 for silent windows.
    """
    f0 = lay.cand_f0[(P @ lay.salience).argmax(-1)]
    return torch.where(silent, torch.zeros_like(f0), f0)


def harmonic_spacing(P: torch.Tensor, silent: torch.Tensor, lay: Layout) -> torch.Tensor:
    """The strongest autocorrelation lag (60-1000 Hz) of each spectrum below 5 kHz.

    Args:
        P: spectra, (rows, bins).
        silent: (rows,) bool, the windows to report 0 for.
        lay: the Layout of P's axis.

    Returns:
        The harmonic spacings in Hz, (rows,), 0 for silent windows.
    """
    seg = P[:, : lay.spacing_bins]
    centred = seg - seg.mean(-1, keepdim=True)
    spec = torch.fft.rfft(centred, n=lay.spacing_fft)
    acf = torch.fft.irfft(spec.real**2 + spec.imag**2, n=lay.spacing_fft)
    lo, hi = lay.lag_range
    lag = acf[:, lo : hi + 1].argmax(-1) + lo
    return torch.where(silent, torch.zeros_like(P[:, 0]), lag.to(P.dtype) * lay.df)


def envelope_band(P: torch.Tensor, lay: Layout) -> torch.Tensor:
    """The envelope (P smoothed by a 300 Hz Hann window) at every bin of the formant band.

    Args:
        P: spectra, (rows, bins).
        lay: the Layout of P's axis.

    Returns:
        The envelopes, (rows, lay.formant_n).
    """
    return P @ lay.envelope_matrix


def formant_peaks(env: torch.Tensor) -> torch.Tensor:
    """The three strongest peaks of each envelope, in rising frequency.

    Args:
        env: envelopes over the formant band, (rows, band bins), as from `envelope_band`.

    Returns:
        Their bin indices inside the band, (rows, 3) int64, -1 where fewer peaks exist.
    """
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
    """P @ table for a table of a few (2 to 6) columns, computed as (table^T P^T)^T: the same
    product, in the orientation BLAS computes faster for such thin tables."""
    return (table.t() @ P.t()).t()


def top_sum(x: torch.Tensor, k: int) -> torch.Tensor:
    """The sum of the k largest values of each row, as x.topk(k).values.sum(-1).

    Without gradients, on the CPU, numpy's partition (introselect) finds them, faster than topk.

    Args:
        x: values, (rows, n).
        k: how many of each row's largest values to add.

    Returns:
        The sums, (rows,).
    """
    n = x.shape[-1]
    if k >= n:
        return x.sum(-1)
    if x.requires_grad or x.device.type != "cpu":
        return x.topk(k, dim=-1, sorted=False).values.sum(-1)
    return torch.from_numpy(np.partition(x.numpy(), n - k, axis=-1)[:, n - k :].sum(-1))


def window_metrics(P: torch.Tensor, freqs: torch.Tensor, sr: int,
                   anchors: Anchors | None = None) -> tuple[torch.Tensor, Anchors]:
    """The 425 metrics of every window of a non-negative spectrogram view.

    Args:
        P: the view, (..., windows, bins).
        freqs: the bin centre frequencies in Hz, (bins,), evenly spaced.
        sr: the sample rate, in Hz.
        anchors: the fundamentals and formant bins to measure the harmonic and formant features
            at, one row per window (flattened over the leading dimensions); None to search them
            (without gradients).

    Returns:
        (metrics, anchors): the metrics, (..., windows, 425) in the order of `COLUMNS`, and the
        anchors used, one row per window.
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
    plogp = 2 * (P2 * logP).sum(-1)  # sum P^2 ln P^2 (einsum would take a slower batched matmul)
    entropy = ((torch.log(energy + EPS) - plogp / (energy + EPS)) / math.log(max(n, 2)))
    entropy = torch.where(silent, torch.zeros_like(entropy), entropy).clamp(min=0)
    dynamics = torch.stack([peak_to_rms, top, entropy, energy], -1)
    metrics = torch.cat([profile(P, lay), bands, shape, harmonic, formant, dynamics], -1)
    return metrics.reshape(*lead, N_METRICS), anchors
