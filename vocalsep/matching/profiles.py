"""Stage 1 of fingerprint matching: profile matching, by fixed-point updates (no autograd).

The 400-point frequency profile of view 0 (the raw spectrum) is a linear smoothing of the
magnitude, so the masked mix's profile can be pulled onto a target's (the vocal's, or the
accompaniment's) by multiplicative fixed-point updates: at every scale, the ratio of the target
profile to the rendered output's, interpolated back onto the mask's windows and bins; the mask
is multiplied by a geometric mean of the scales' ratios, each weighted by n_fft^1.5, and clipped
to [0, 1]. Each update is three STFTs and one inverse STFT.

Why n_fft^1.5 and 6 updates: on the real pairs of bench/fingerprint_quality.py, weighting the
scales of finer frequency resolution more gives a better SDR than equal weights (n_fft^1.5 a
little better than n_fft, with a shorter tail), and the SDR is best after about 6 updates (the
default): more of them fit the profiles closer but the SDR falls slightly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ..fingerprint.metrics import GROUPS, PROFILE_POINTS, layout_for, profile
from ..parallel import SERIAL, Workers
from ..stft import bin_frequencies, hop_length, istft, stft

if TYPE_CHECKING:
    from .loss import ReferenceMetrics
    from .settings import MatchSettings

SCALE_WEIGHT_POWER = 1.5  # stage 1 weighs each scale's profile ratio by n_fft ** this


class Lerp:
    """Linear interpolation along one axis at fixed fractional positions (clamped to the ends).

    Calling it with (x, dim) interpolates x along dim: x's n_in entries there become
    len(positions) entries.

    Args:
        positions: the fractional indices to interpolate at, a 1-D tensor.
        n_in: the length of the axis interpolated from.
        device: the device of the tensors it will interpolate.
    """

    def __init__(self, positions: torch.Tensor, n_in: int, device: torch.device | str) -> None:
        pos = positions.double().clamp(0, n_in - 1)
        self.lo = pos.floor().long().clamp(max=max(n_in - 2, 0)).to(device)
        self.hi = (self.lo + 1).clamp(max=n_in - 1)
        self.w = (pos.to(device) - self.lo).float()

    def __call__(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """x interpolated along dim at the positions (the other dimensions as they are)."""
        shape = [1] * x.dim()
        shape[dim] = -1
        w = self.w.reshape(shape)
        return x.index_select(dim, self.lo) * (1 - w) + x.index_select(dim, self.hi) * w


def view0_profiles(reference: ReferenceMetrics, scales: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """View 0's profiles, picked from reference metrics (stage 1's targets).

    Args:
        reference: metrics as `loss.reference_metrics` returns them, view 0 first among the full
            views.
        scales: the STFT sizes (n_fft) to pick.

    Returns:
        {n_fft: (windows, 400)} view 0's frequency profiles.
    """
    return {n_fft: reference[n_fft][0][0, :, GROUPS["profile"]] for n_fft in scales}


def signal_profiles(signal: torch.Tensor, sr: int, settings: MatchSettings) -> dict[int, torch.Tensor]:
    """View 0's profiles of a signal at every scale, without gradient.

    Args:
        signal: the signal (such as the accompaniment), a 1-D tensor.
        sr: its sample rate in Hz.
        settings: the matching settings (scales and hop fraction).

    Returns:
        {n_fft: (windows, 400)} view 0's frequency profiles.
    """
    with torch.no_grad():
        return {n_fft: profile(stft(signal, n_fft, hop_length(n_fft, settings.hop_fraction)).abs(),
                               layout_for(bin_frequencies(n_fft, sr).to(signal.device), sr))
                for n_fft in settings.scales}


def match_profiles(X: torch.Tensor, targets: dict[int, torch.Tensor], sr: int, settings: MatchSettings,
                   n_samples: int, workers: Workers = SERIAL) -> tuple[torch.Tensor, np.ndarray]:
    """Stage 1: a [0, 1] mask on X whose output's view-0 profiles match the targets at every scale.

    Args:
        X: the mix STFT (windows, bins) on the mask's grid, complex.
        targets: {n_fft: (windows, 400)} view-0 profiles (the vocal's, `view0_profiles`; or the
            accompaniment's, `signal_profiles`), or {n_fft: (sources, windows, 400)} to match one
            mask per source at once (batched: cheaper than one after the other).
        sr: the sample rate in Hz.
        settings: the matching settings (scales, mask STFT, updates, starting mask, log floor).
        n_samples: the length of the signal X was taken of.
        workers: a parallel.Workers over which the scales are spread.

    Returns:
        (masks, distances): the mask (X.shape, or (sources, *X.shape)) and distances[i], the RMS
        log-ratio of the profiles (mean over scales; per source when batched) before update
        i + 1: how far the profiles still are apart.
    """
    device = X.device
    lead = next(iter(targets.values())).shape[:-2]
    mask = torch.full((*lead, *X.shape), settings.init_mask, device=device)
    if settings.profile_iterations <= 0:
        return mask, np.zeros((0, *lead))
    windows, bins = X.shape

    def to_bins(x):  # the 400-point grid onto the mask's bins: both span 0..sr/2 evenly
        return F.interpolate(x.reshape(-1, 1, PROFILE_POINTS), size=bins, mode="linear",
                             align_corners=True).reshape(*x.shape[:-1], bins)

    scales = []
    with torch.no_grad():
        for n_fft in settings.scales:
            hop = hop_length(n_fft, settings.hop_fraction)
            lay = layout_for(bin_frequencies(n_fft, sr).to(device), sr)
            target = targets[n_fft].to(device)
            floor = settings.log_floor * target.mean(dim=(-2, -1), keepdim=True) + 1e-12  # per source
            to_windows = Lerp(torch.arange(windows) * (settings.mask_hop / hop), target.shape[-2], device)
            scales.append((n_fft, hop, lay, torch.log(target + floor), floor, to_windows))
        weights = [n_fft**SCALE_WEIGHT_POWER for n_fft in settings.scales]  # finer frequency resolution counts more
        distances = []
        for _ in range(settings.profile_iterations):
            out = istft(mask * X, settings.mask_n_fft, settings.mask_hop, n_samples)

            def scale_ratio(item, out=out):  # one scale's weighted log ratio on the mask's windows, its distance
                (n_fft, hop, lay, log_target, floor, to_windows), w = item
                diff = log_target - torch.log(profile(stft(out, n_fft, hop).abs(), lay) + floor)
                return (w / sum(weights)) * to_windows(diff, -2), diff.square().mean(dim=(-2, -1)).sqrt().cpu().numpy()

            log_ratio, dist = 0.0, 0.0
            for ratio, d in workers.map(scale_ratio, zip(scales, weights)):  # in order: same sums
                log_ratio, dist = log_ratio + ratio, dist + d
            distances.append(dist / len(scales))
            mask = (mask * torch.exp(to_bins(log_ratio))).clamp(0, 1)  # onto the bins once (it is linear)
    return mask, np.asarray(distances, dtype=np.float64)
