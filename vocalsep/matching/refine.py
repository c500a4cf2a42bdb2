"""Stage 3 of fingerprint matching (`refine_sizes`): the rendered outputs refitted to the profiles.

Stages 1 and 2 match masks whose output m X has the vocal's fingerprint (and, for render
"two_source", a second mask to the accompaniment's profiles), but the vocal is then rendered
with another gain, g = m^2 / (m^2 + m_a^2): neither the rendered vocal g X nor the rendered
accompaniment (1 - g) X is what was matched. Stage 3 refits the rendered outputs themselves, on
one or more STFTs of the mix (`refine_sizes`, hop a quarter of each), in order:

- the gain on each STFT starts from the previous estimate: the two-source gain itself on the
  mask's STFT, else the power ratio |V_e|^2 / (|V_e|^2 + |A_e|^2) of the previous estimate V_e and
  the mix minus it (A_e), taken on this STFT;
- each update (`refine_updates` per STFT) renders g X and (1 - g) X, measures view 0's profiles
  of both at every scale, and multiplies the vocal's part g by the ratio target / output of the
  vocal's profiles and the accompaniment's part 1 - g by that of the accompaniment's (the same
  targets as stage 1: the vocal's fingerprint and the profiles of the mix minus the vocal), each a
  geometric mean over the scales weighted by n_fft^1.5 and interpolated onto the STFT's windows
  and bins as in stage 1; the new gain is the Wiener filter v^2 / (v^2 + a^2) of the two parts;
- the vocal is the mean of the estimates rendered on every STFT.

Why: on the real pairs of bench/fingerprint_quality.py, sizes (2048, 4096) with (1, 2) updates
score above the two-source render on every pair (README gives the numbers); either STFT alone
gains about half as much, and re-measuring an estimate on another STFT without the refit loses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ..fingerprint.metrics import PROFILE_POINTS, layout_for, profile
from ..parallel import SERIAL, Workers
from ..stft import bin_frequencies, hop_length, istft, stft
from .profiles import SCALE_WEIGHT_POWER, Lerp

if TYPE_CHECKING:
    from .settings import MatchSettings

HOP_FRACTION = 4  # each refinement STFT's hop is a quarter of its n_fft


def refine_hop(n_fft: int) -> int:
    """The hop of a refinement STFT.

    Args:
        n_fft: its frame length in samples.

    Returns:
        n_fft // 4 (at least 1).
    """
    return max(1, n_fft // HOP_FRACTION)


def _log_ratio_on_grid(signal, targets, sr, settings, windows, bins, hop):
    """The weighted log ratio target / output of view 0's profiles at every scale, on a grid of
    `windows` frames `hop` apart and `bins` bins (as stage 1 maps it onto the mask)."""
    weights = [n_fft**SCALE_WEIGHT_POWER for n_fft in settings.scales]
    total = 0.0
    for n_fft, w in zip(settings.scales, weights):
        scale_hop = hop_length(n_fft, settings.hop_fraction)
        target = targets[n_fft].to(signal.device)
        floor = settings.log_floor * target.mean() + 1e-12
        lay = layout_for(bin_frequencies(n_fft, sr).to(signal.device), sr)
        out = profile(stft(signal, n_fft, scale_hop).abs(), lay)
        diff = torch.log(target + floor) - torch.log(out + floor)
        to_windows = Lerp(torch.arange(windows) * (hop / scale_hop), target.shape[-2], signal.device)
        total = total + (w / sum(weights)) * to_windows(diff, -2)
    return F.interpolate(total.reshape(-1, 1, PROFILE_POINTS), size=bins, mode="linear",
                         align_corners=True).reshape(windows, bins)


def refit_gain(mix: torch.Tensor, gain: torch.Tensor, n_fft: int, vocal_targets: dict[int, torch.Tensor],
               accompaniment_targets: dict[int, torch.Tensor], sr: int, settings: MatchSettings,
               updates: int, workers: Workers = SERIAL) -> torch.Tensor:
    """Fixed-point updates of a two-source gain on one STFT of the mix (see the module's docstring).

    Args:
        mix: the mix, a 1-D tensor.
        gain: the starting gain (windows, bins) on the STFT of n_fft (hop `refine_hop(n_fft)`).
        n_fft: that STFT's frame length in samples.
        vocal_targets: {scale n_fft: (windows, 400)} view 0's profiles of the vocal.
        accompaniment_targets: {scale n_fft: (windows, 400)} view 0's profiles of the accompaniment.
        sr: the sample rate in Hz.
        settings: the matching settings (scales, hop fraction, log floor).
        updates: how many updates to make.
        workers: threads that compute the two sources' profile ratios.

    Returns:
        The refitted gain (windows, bins), in [0, 1].
    """
    hop = refine_hop(n_fft)
    n_samples = mix.shape[-1]
    with torch.no_grad():
        X = stft(mix, n_fft, hop)
        windows, bins = X.shape
        for _ in range(updates):
            out = istft(gain * X, n_fft, hop, n_samples)
            log_v, log_a = workers.map(
                lambda source: _log_ratio_on_grid(*source, sr, settings, windows, bins, hop),
                [(out, vocal_targets), (mix - out, accompaniment_targets)])
            v = gain * torch.exp(log_v)
            a = (1 - gain) * torch.exp(log_a)
            gain = (v * v / (v * v + a * a + 1e-20)).clamp(0, 1)
    return gain


def power_ratio(mix: torch.Tensor, estimate: torch.Tensor, n_fft: int) -> torch.Tensor:
    """The gain |V_e|^2 / (|V_e|^2 + |A_e|^2) of an estimate V_e and the mix minus it (A_e).

    Args:
        mix: the mix, a 1-D tensor.
        estimate: the vocal's estimate, a 1-D tensor of the same length.
        n_fft: the STFT's frame length (hop `refine_hop(n_fft)`).

    Returns:
        The gain (windows, bins) on that STFT, in [0, 1].
    """
    hop = refine_hop(n_fft)
    with torch.no_grad():
        v = stft(estimate, n_fft, hop).abs().square()
        a = stft(mix - estimate, n_fft, hop).abs().square()
        return v / (v + a + 1e-20)


def refine(mix: torch.Tensor, gain: np.ndarray, vocal_targets: dict[int, torch.Tensor],
           accompaniment_targets: dict[int, torch.Tensor], sr: int, settings: MatchSettings,
           workers: Workers = SERIAL) -> dict[int, np.ndarray]:
    """Stage 3: the two-source gain refitted on every STFT of `refine_sizes`, in order.

    Args:
        mix: the mix of the stretch, a 1-D tensor.
        gain: the two-source gain (windows, bins) on the mask STFT.
        vocal_targets: {scale n_fft: (windows, 400)} view 0's profiles of the vocal.
        accompaniment_targets: {scale n_fft: (windows, 400)} view 0's profiles of the accompaniment.
        sr: the sample rate in Hz.
        settings: the matching settings (refine_sizes, refine_updates, the mask STFT).
        workers: threads that compute each update's two profile ratios.

    Returns:
        {n_fft: gain (windows, bins)} on each refinement STFT (hop `refine_hop(n_fft)`), numpy
        float32; the vocal is the mean of their renders (`render_refined`).
    """
    gains = {}
    g = torch.as_tensor(gain, dtype=torch.float32, device=mix.device)
    estimate = None
    same_grid = settings.mask_hop == refine_hop(settings.mask_n_fft)
    for n_fft, updates in zip(settings.refine_sizes, settings.refine_updates):
        if estimate is None and same_grid and n_fft == settings.mask_n_fft:
            start = g  # the two-source gain itself
        else:
            if estimate is None:  # the two-source render, re-measured on this STFT
                estimate = istft(g * stft(mix, settings.mask_n_fft, settings.mask_hop), settings.mask_n_fft,
                                 settings.mask_hop, mix.shape[-1])
            start = power_ratio(mix, estimate, n_fft)
        refitted = refit_gain(mix, start, n_fft, vocal_targets, accompaniment_targets, sr, settings, updates,
                              workers)
        with torch.no_grad():
            estimate = istft(refitted * stft(mix, n_fft, refine_hop(n_fft)), n_fft, refine_hop(n_fft), mix.shape[-1])
        gains[n_fft] = refitted.cpu().numpy().astype(np.float32)
    return gains


def mean_render(spectra: dict[int, torch.Tensor], gains: dict[int, torch.Tensor], n_samples: int) -> torch.Tensor:
    """The mean of istft(gain X) over several STFTs of the mix (differentiable in the gains).

    Args:
        spectra: {n_fft: the mix's STFT X of that n_fft (hop `refine_hop(n_fft)`)}.
        gains: {n_fft: gain (windows, bins)} on the same STFTs, as tensors.
        n_samples: the length of the renders in samples.

    Returns:
        The vocal's estimate, a 1-D tensor of n_samples.
    """
    return sum(istft(gains[n] * X, n, refine_hop(n), n_samples) for n, X in spectra.items()) / len(spectra)


def render_refined(mix: torch.Tensor, gains: dict[int, np.ndarray]) -> torch.Tensor:
    """The vocal rendered from stage 3's gains: the mean of istft(gain X) over their STFTs.

    Args:
        mix: the mix, a 1-D tensor.
        gains: {n_fft: gain (windows, bins)} on the STFT of that n_fft (hop `refine_hop(n_fft)`).

    Returns:
        The vocal's estimate, a 1-D tensor as long as the mix.
    """
    with torch.no_grad():
        spectra = {n: stft(mix, n, refine_hop(n)) for n in gains}
        return mean_render(spectra, {n: torch.as_tensor(g, device=mix.device) for n, g in gains.items()},
                           mix.shape[-1])
