"""The matched mask of a whole song: stages 1, 2 (and 3) on each time chunk, stitched, rendered.

Stage 1 (profiles.match_profiles) pulls view 0's profiles of the masked mix onto the vocal's.
Stage 2 (`iterations`): the mask becomes sigmoid(logits) and Adam lowers the whole fingerprint
loss (loss.FingerprintLoss: autograd through every view's metrics at every scale). On real
recordings it lowers the loss but barely moves the SDR, whatever the number of steps, so the
default is a short refinement (3 steps). Stage 3 (refine.refine, `refine_sizes`, render
"two_source" only) refits the rendered vocal and accompaniment to both sources' profiles on one
or more STFTs and renders the vocal as the mean of those; stage 4 (polish.polish, `polish_steps`)
takes Adam steps on those gains, through that mean render, on the fingerprint loss.

The stages use only fingerprints (the vocal's; and the accompaniment's 400-point profiles),
never the sources' STFTs on the mask's grid: the oracle masks, which use those, are what the
result is judged against. In the workflow the vocal's fingerprint is read from its cache (rule
fingerprint), chunk by chunk, rather than computed again. Long songs are optimised in time
chunks with context on both sides, which bounds memory.
"""

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..fingerprint.cache_reader import CachedFingerprint
from ..fingerprint.views import N_VIEWS
from ..parallel import SERIAL, Workers, cpu_workers
from ..stft import hop_length, istft, stft
from . import history as histories
from .adam import CosineAdam
from .loss import FingerprintLoss, ReferenceMetrics, reference_metrics, to_device
from .plan import ViewPlan
from .polish import polish
from .profiles import match_profiles, signal_profiles, view0_profiles
from .refine import refine, refine_hop, render_refined
from .render import render_gain
from .settings import MatchSettings

log = logging.getLogger(__name__)


def optimise_mask(mix: torch.Tensor, vocal: torch.Tensor | None, sr: int, settings: MatchSettings,
                  device: torch.device | str | None = None, reference: ReferenceMetrics | None = None,
                  workers: Workers = SERIAL, accompaniment: torch.Tensor | None = None
                  ) -> tuple[np.ndarray, dict[str, Any]]:
    """Optimise the mask for one stretch of signal: stage 1, then stage 2.

    Args:
        mix: the mix of the stretch, a 1-D tensor.
        vocal: the vocal of the stretch, a 1-D tensor of the same length (may be None when
            `reference` is given).
        sr: the sample rate in Hz.
        settings: the matching settings.
        device: where to optimise (default: the mix's device).
        reference: the vocal's metrics for this stretch (`reference_metrics`, or read from its
            fingerprint cache), of at least the views `ViewPlan(settings).needed`; computed from
            `vocal` when None.
        workers: a parallel.Workers over which the scales and blocks of windows are spread.
        accompaniment: the accompaniment's signal (mix minus vocal), or None: when given, stage 1
            also matches a mask to its profiles, in the same batched updates as the vocal's.

    Returns:
        (mask, history): the mask (windows, bins) on the mask STFT, numpy float32, and a dict with
        'profile' (the stage-1 distances), 'total' (iterations,) and 'per_view' (iterations,
        scales, 19) arrays of stage 2, plus 'initial'/'final' losses and their (scales, 19)
        'initial_per_view'/'final_per_view': of the constant starting mask and of the result, on
        view 0 and the check views, NaN elsewhere; 'accompaniment_mask': the accompaniment's
        matched mask, or None; 'refined': stage 3's {n_fft: gain} (refine.refine) when the
        accompaniment is given and `refine_sizes` is set, else None.
    """
    device = device or mix.device
    mix = mix.to(device)
    n_samples = mix.shape[-1]
    X = stft(mix, settings.mask_n_fft, settings.mask_hop)
    plan = ViewPlan(settings)
    if reference is None:
        reference = reference_metrics(vocal.to(device), sr, settings, plan.needed, workers)
    reference = {k: tuple(to_device(x, device) for x in v) for k, v in reference.items()}
    loss_fn = FingerprintLoss(reference, sr, settings, [v for v in plan.needed if v in settings.loss_views])
    totals, per_views = [], []

    def render(lg):  # the output of the mask sigmoid(lg)
        return istft(torch.sigmoid(lg) * X, settings.mask_n_fft, settings.mask_hop, n_samples)

    check = plan.check  # the ends are compared on the same views
    with torch.no_grad():
        constant = torch.full(X.shape, settings.init_mask, device=device)
        initial, initial_views = loss_fn(istft(constant * X, settings.mask_n_fft, settings.mask_hop, n_samples),
                                         check, workers=workers)
    vocal_targets = targets = view0_profiles(reference, settings.scales)
    if accompaniment is not None:  # one mask per source, matched together
        other = signal_profiles(accompaniment.to(device), sr, settings)
        targets = {k: torch.stack([v, other[k].to(v.device)]) for k, v in targets.items()}
    masks, distances = match_profiles(X, targets, sr, settings, n_samples, workers)
    start, acc_mask = (masks[0], masks[1].cpu().numpy()) if accompaniment is not None else (masks, None)
    distances = distances[:, 0] if accompaniment is not None else distances
    start = start.clamp(1e-4, 1 - 1e-4)
    logits = torch.log(start / (1 - start)).requires_grad_(True)
    opt = CosineAdam(logits, settings.learning_rate, settings.iterations)
    monitored = {}
    for step in range(settings.iterations):
        logits.grad = None
        loss, per_view = loss_fn(render(logits), plan.steps[step], backward=True, workers=workers)
        opt.step()
        totals.append(float(loss.detach()))
        per_views.append(per_view.cpu().numpy())
        if settings.monitor_every and (step + 1) % settings.monitor_every == 0 and step + 1 < settings.iterations:
            with torch.no_grad():
                monitored[step] = loss_fn(render(logits), list(settings.loss_views), workers=workers)
    with torch.no_grad():
        final, final_views = loss_fn(render(logits), check, workers=workers)
        mask = torch.sigmoid(logits).cpu().numpy().astype(np.float32)
    refined = None
    if acc_mask is not None and settings.refine_sizes:  # stage 3: the rendered outputs refitted
        refined = refine(mix, render_gain(mask, "two_source", acc_mask), vocal_targets, other, sr, settings,
                         workers)
        if plan.polish:  # stage 4: the gains' mean render polished on the fingerprint loss
            refined = polish(mix, refined, FingerprintLoss(reference, sr, settings, plan.polish), settings, workers)
    for step, (full_total, full_views) in monitored.items():  # full evaluations replace the step's
        totals[step], per_views[step] = float(full_total), full_views.cpu().numpy()
    history = {
        "profile": distances,
        "total": np.asarray(totals, dtype=np.float64),
        "per_view": np.asarray(per_views, dtype=np.float64).reshape(-1, len(settings.scales), N_VIEWS),
        "initial": float(initial), "final": float(final),
        "initial_per_view": initial_views.cpu().numpy(), "final_per_view": final_views.cpu().numpy(),
        "accompaniment_mask": acc_mask, "refined": refined,
    }
    return mask, history


def _alignment(settings):
    """Samples that chunk boundaries are multiples of: whole windows of the mask and of every
    scale (and of the pooled views, at half the windows) and of stage 3's STFTs."""
    hops = [hop_length(n_fft, settings.hop_fraction) for n_fft in settings.scales]
    return math.lcm(settings.mask_hop, *[2 * h for h in hops], *[refine_hop(n) for n in settings.refine_sizes])


def chunks(n_samples: int, sr: int, settings: MatchSettings) -> list[tuple[int, int, int, int]]:
    """The time chunks a song is optimised in, aligned to whole windows of every STFT.

    Chunks are `chunk_seconds` long (a short last one is merged into the one before), each
    optimised with `context_seconds` more on both sides.

    Args:
        n_samples: the song's length in samples.
        sr: the sample rate in Hz.
        settings: the matching settings (chunk and context lengths, the STFTs' hops).

    Returns:
        [(start, stop, seg_start, seg_stop)] in samples: the spans kept, which tile the song, and
        the spans optimised (with context).
    """
    align = _alignment(settings)
    size = max(align, int(round(settings.chunk_seconds * sr / align)) * align)
    ctx = int(math.ceil(settings.context_seconds * sr / align)) * align
    spans = []
    start = 0
    while start < n_samples:
        stop = min(n_samples, start + size)
        if n_samples - stop < size // 4:  # no tiny last chunk: merge it
            stop = n_samples
        spans.append((start, stop, max(0, start - ctx), min(n_samples, stop + ctx)))
        start = stop
    return spans


def match(mix: np.ndarray, vocal: np.ndarray, sr: int, settings: MatchSettings,
          device: torch.device | str | None = None, progress: Callable[[int, dict[str, Any]], object] | None = None,
          vocal_fingerprint: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Fingerprint-matching separation of a whole song, chunk by chunk.

    Args:
        mix: the mix, a 1-D float array.
        vocal: the vocal, a 1-D float array of the same length.
        sr: the sample rate in Hz.
        settings: the matching settings.
        device: where to optimise (default: the CPU).
        progress: None, or called with (chunk number, its history) after each chunk.
        vocal_fingerprint: the vocal's fingerprint cache folder (rule fingerprint): its metrics are
            read for each chunk instead of being computed again from `vocal`.

    Returns:
        (vocal_estimate, mask, history): the estimate as float32 numpy, the matched mask (windows,
        bins) on the mask STFT of the whole mix, and the optimisation history (chunk curves
        averaged, weighted by chunk length), with "accompaniment_mask": for render "two_source",
        the mask matched to the accompaniment's profiles (else None), and "refined": stage 3's
        {n_fft: gain} on each refinement STFT (refine.refine), whose renders' mean is the
        estimate, or None when stage 3 did not run (the estimate is then the mask's render).

    Raises:
        InputError: a vocal fingerprint cache that is damaged, made with other settings or from
            another signal (naming the file).
    """
    device = torch.device(device or "cpu")
    mix_t = torch.as_tensor(np.asarray(mix, dtype=np.float32))
    vocal_t = torch.as_tensor(np.asarray(vocal, dtype=np.float32))
    n_samples = mix_t.shape[-1]
    hop = settings.mask_hop
    X = stft(mix_t, settings.mask_n_fft, hop)
    mask = np.zeros(tuple(X.shape), dtype=np.float32)
    acc_mask = np.zeros_like(mask) if settings.render == "two_source" else None
    refined = {}  # stage 3's gains, {n_fft: (windows, bins)}, stitched like the masks
    if acc_mask is not None:
        refined = {n: np.zeros((n_samples // refine_hop(n) + 1, n // 2 + 1), dtype=np.float32)
                   for n in settings.refine_sizes}
    weighted = []
    cached = None
    if vocal_fingerprint is not None:
        cached = CachedFingerprint(vocal_fingerprint, sr, settings.scales, settings.hop_fraction, n_samples,
                                   signal=vocal_t.numpy())  # the vocal's cache, not another's
    needed = ViewPlan(settings).needed  # the same views in every chunk
    with cpu_workers(device) as workers:
        for i, (a, b, sa, sb) in enumerate(chunks(n_samples, sr, settings)):
            t0 = time.perf_counter()
            reference = cached.metrics(sa, sb, needed) if cached else None
            acc = mix_t[sa:sb] - vocal_t[sa:sb] if acc_mask is not None else None
            m, hist = optimise_mask(mix_t[sa:sb], vocal_t[sa:sb], sr, settings, device, reference, workers, acc)
            _stitch(mask, m, a, b, sa, hop, n_samples)
            if acc_mask is not None:  # matched to the accompaniment's profiles (mix minus vocal)
                _stitch(acc_mask, hist["accompaniment_mask"], a, b, sa, hop, n_samples)
            for n, gain in refined.items():
                _stitch(gain, hist["refined"][n], a, b, sa, refine_hop(n), n_samples)
            weighted.append(((b - a) / n_samples, hist))
            log.info("chunk %d: %.1f-%.1f s, loss %.4g -> %.4g, %.1f s", i, a / sr, b / sr,
                     hist["initial"], hist["final"], time.perf_counter() - t0)
            if progress:
                progress(i, hist)
    history = histories.average(weighted)
    history["accompaniment_mask"] = acc_mask
    history["refined"] = refined or None
    with torch.no_grad():
        if refined:  # stage 3: the mean of the refitted renders
            est = render_refined(mix_t, refined).numpy().astype(np.float32)
        else:
            est = istft(torch.from_numpy(render_gain(mask, settings.render, acc_mask)) * X, settings.mask_n_fft,
                        hop, n_samples).numpy().astype(np.float32)
    return est, mask, history


def _stitch(whole, part, a, b, sa, hop, n_samples):
    """Copy the windows of samples a..b of a chunk (optimised from sa) into the song's array."""
    first = (a - sa) // hop
    last = (b - sa) // hop if b < n_samples else part.shape[0]
    whole[a // hop : a // hop + (last - first)] = part[first:last]
