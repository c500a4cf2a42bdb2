"""Fingerprint matching: a [0, 1] mask on the mix STFT whose output's fingerprint matches the vocal's.

The mask lives on one STFT of the mix (the "mask STFT") and starts as a constant (0.5). Two stages
fit it:

1. Profile matching (`profile_iterations`, no autograd): the 400-point frequency profile of
   slice 0 (the raw spectrum) is a linear smoothing of the magnitude, so the masked mix's profile
   can be pulled onto the vocal's by multiplicative fixed-point updates: at every scale, the ratio
   of the vocal's profile to the rendered output's, interpolated back onto the mask's windows and
   bins; the mask is multiplied by the geometric mean of the scales' ratios and clipped to [0, 1].
   Each update is three STFTs and one inverse STFT, and about 30 of them do most of the work.
2. Gradient refinement (`iterations`): the mask becomes sigmoid(logits) and Adam lowers the whole
   fingerprint loss below (autograd through every view's metrics at every scale).

Both stages use only the vocal's fingerprint, never its STFT: the oracle masks are what the
result is judged against. The masked mix is rendered
with the inverse STFT (mix phase) and fingerprinted again at every scale, so the loss sees the
real output. Each term is scale-free: energy-like columns (profile, band energies, total energy)
are log-compressed above a floor relative to the vocal, every column is standardised by the
vocal's own spread, and the six metric groups are averaged with weights (the profile 1, the
others 0.1 by default) so that no group drowns the others. Peak picks (the fundamental, harmonic
count and spacing, formant frequencies) stay out of the loss; the harmonic and formant strengths
are measured at the vocal's peaks.

The loss over views weighs slice 0 (the raw spectrum, at every scale) by 1 and the mean of the
other 18 views (at every scale) by `other_views_weight`. Evaluating all 57 (view, scale) pairs costs
about 13 times slice 0 alone per step, so by default each step evaluates slice 0 and one other view
drawn at random (an unbiased estimate of the same weighted loss); every `monitor_every` steps and
at both ends all of them are evaluated, which is what the plot and the loss reduction show.
Long songs are optimised in time chunks with context on both sides, which bounds memory.
"""

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .fingerprint.fingerprint import scale_metrics
from .fingerprint.metrics import (COLUMNS, GROUPS, NOT_DIFFERENTIABLE, PROFILE_POINTS, Anchors, layout_for,
                                  profile, window_metrics)
from .fingerprint.stft import bin_frequencies, hop_length, istft, stft
from .fingerprint.views import N_VIEWS, POOLED, compute_views, pooled_frequencies

log = logging.getLogger(__name__)

LOG_COLUMNS = tuple(range(GROUPS["profile"].start, GROUPS["bands"].stop)) + (COLUMNS.index("energy"),)
GROUP_NAMES = tuple(GROUPS)


@dataclass(frozen=True)
class MatchSettings:
    """Settings of the optimisation (config.yaml `fingerprint:` section)."""

    scales: tuple = (2048, 1024, 512)
    hop_fraction: float = 0.5
    mask_n_fft: int = 1024
    mask_hop: int = 256
    profile_iterations: int = 30  # stage 1: fixed-point updates matching slice 0's profiles
    iterations: int = 30          # stage 2: Adam steps on the whole fingerprint loss
    learning_rate: float = 0.05   # Adam on the logits, cosine-decayed to 5 % of this
    init_mask: float = 0.5
    log_floor: float = 1e-5
    group_weights: dict = field(default_factory=lambda: {g: 1.0 if g == "profile" else 0.1 for g in GROUP_NAMES})
    loss_views: tuple = tuple(range(N_VIEWS))  # the views in the loss (all 19 by default)
    other_views_weight: float = 0.25  # total weight of the loss views other than slice 0 (slice 0: 1)
    views_per_step: int = 1      # 0: every loss view each step; n: slice 0 + n others drawn per step
    monitor_every: int = 0       # also evaluate every loss view (no gradient) every n steps (0: never)
    chunk_seconds: float = 30.0
    context_seconds: float = 0.5
    seed: int = 0

    @classmethod
    def from_config(cls, section):
        """Settings from the `fingerprint:` config section (missing keys take the defaults)."""
        keys = cls.__dataclass_fields__
        values = {k: v for k, v in (section or {}).items() if k in keys}
        if "scales" in values:
            values["scales"] = tuple(int(s) for s in values["scales"])
        if "loss_views" in values:
            values["loss_views"] = tuple(int(v) for v in values["loss_views"])
        if "group_weights" in values:
            values["group_weights"] = {**cls().group_weights, **values["group_weights"]}
        return cls(**values)


def _column_tables(device):
    """Which columns are log-compressed, which are in the loss, and their group."""
    is_log = torch.zeros(len(COLUMNS), dtype=torch.bool)
    is_log[list(LOG_COLUMNS)] = True
    in_loss = torch.ones(len(COLUMNS), dtype=torch.bool)
    in_loss[[COLUMNS.index(c) for c in NOT_DIFFERENTIABLE]] = False
    group = torch.zeros(len(COLUMNS), len(GROUPS))
    for g, sl in enumerate(GROUPS.values()):
        group[sl, g] = 1.0
    group = group * in_loss[:, None]
    group = group / group.sum(0).clamp(min=1)  # mean over a group's loss columns
    return is_log.to(device), in_loss.to(device), group.to(device)


class _ViewSetTarget:
    """Reference metrics of a stack of views (one scale, full or pooled), transformed and scaled."""

    def __init__(self, ref, anchors, log_floor, tables, views):
        is_log, in_loss, _ = tables
        self.position = {v: i for i, v in enumerate(views)}  # view number -> row of the stack
        self.anchors = Anchors(anchors.f0_hz.reshape(ref.shape[:2]), anchors.formant_bins.reshape(*ref.shape[:2], 3))
        floors = torch.ones(ref.shape[0], 1, ref.shape[-1], device=ref.device)  # 1: unused (linear)
        for sl in (GROUPS["profile"], GROUPS["bands"], slice(COLUMNS.index("energy"), COLUMNS.index("energy") + 1)):
            level = ref[..., sl].mean(dim=(1, 2), keepdim=True)
            floors[..., sl] = log_floor * level + 1e-12
        self.floors = floors
        self.is_log = is_log
        t = self.transform(ref)
        spread = t.std(dim=1, keepdim=True, unbiased=False)
        for sl in (GROUPS["profile"], GROUPS["bands"]):  # pooled over the group: bins can be silent
            spread[..., sl] = t[..., sl].std(dim=(1, 2), keepdim=True, unbiased=False)
        scale = spread + 0.05 * t.abs().mean(dim=1, keepdim=True) + 1e-6
        self.target = t
        self.inv_scale = in_loss / scale

    def transform(self, m):
        # log of every column (floors keep it finite), kept only where the column is log-compressed
        return torch.where(self.is_log, torch.log(m.abs() + self.floors), m)

    def rows(self, views, device):
        """Row indices in this stack of the given view numbers."""
        return torch.tensor([self.position[v] for v in views], device=device)

    def select(self, rows):
        """Anchors of the given rows, flattened."""
        return Anchors(self.anchors.f0_hz[rows].reshape(-1), self.anchors.formant_bins[rows].reshape(-1, 3))


class FingerprintLoss:
    """Distance between a signal's fingerprint and a reference's over all views and scales."""

    def __init__(self, reference, sr, settings):
        self.sr = sr
        self.settings = settings
        self.tables = _column_tables(reference.device)
        self.weights = torch.tensor([settings.group_weights[g] for g in GROUP_NAMES], device=reference.device)
        self.weights = self.weights / self.weights.sum()
        self.targets = {}
        views = sorted(set(settings.loss_views))
        full_views = [v for v in views if v not in POOLED]
        pooled_views = [v for v in views if v in POOLED]
        with torch.no_grad():
            for n in settings.scales:
                hop = hop_length(n, settings.hop_fraction)
                mag = stft(reference, n, hop).abs()
                full, pooled, a_full, a_pooled = scale_metrics(mag, n, sr, views=views)
                self.targets[n] = (
                    _ViewSetTarget(full, a_full, settings.log_floor, self.tables, full_views) if full_views else None,
                    _ViewSetTarget(pooled, a_pooled, settings.log_floor, self.tables, pooled_views)
                    if pooled_views else None)

    def _view_losses(self, target, metrics):
        z = (target.transform(metrics) - target.target) * target.inv_scale
        per_group = (z * z).mean(dim=1) @ self.tables[2]  # (views, groups)
        return per_group @ self.weights

    def __call__(self, signal, views=None):
        """(total, per_view): the weighted loss, and a (scales, 19) tensor of each (scale, view)
        pair's loss (NaN where not evaluated).

        views: None for all 19 views, or a list of view numbers to evaluate at every scale. The total
        weighs slice 0 by 1 and the mean of the other evaluated views by `other_views_weight`; with
        the others drawn at random each step it is an unbiased estimate of the same weighting over all.
        """
        views = sorted(set(self.settings.loss_views)) if views is None else sorted(views)
        full_idx = [v for v in views if v not in POOLED]
        pool_idx = [v for v in views if v in POOLED]
        per_view = torch.full((len(self.settings.scales), N_VIEWS), float("nan"), device=signal.device)
        losses = []
        for s, n in enumerate(self.settings.scales):
            hop = hop_length(n, self.settings.hop_fraction)
            mag = stft(signal, n, hop).abs()
            t_full, t_pool = self.targets[n]
            freqs = bin_frequencies(n, self.sr).to(signal.device)
            full_v, pooled_v = compute_views(mag, views)
            if full_idx:
                idx = t_full.rows(full_idx, signal.device)
                m, _ = window_metrics(full_v, freqs, self.sr, t_full.select(idx))
                loss = self._view_losses(_Subset(t_full, idx), m)
                per_view[s, full_idx] = loss.detach()
                losses.extend(zip(full_idx, loss))
            if pool_idx:
                idx = t_pool.rows(pool_idx, signal.device)
                m, _ = window_metrics(pooled_v, pooled_frequencies(freqs), self.sr, t_pool.select(idx))
                loss = self._view_losses(_Subset(t_pool, idx), m)
                per_view[s, pool_idx] = loss.detach()
                losses.extend(zip(pool_idx, loss))
        raw = [v for k, v in losses if k == 0]
        other = [v for k, v in losses if k != 0]
        parts, weights = [], []
        if raw:
            parts.append(torch.stack(raw).mean())
            weights.append(1.0)
        if other and (self.settings.other_views_weight > 0 or not raw):
            parts.append(torch.stack(other).mean())
            weights.append(self.settings.other_views_weight if raw else 1.0)
        total = sum(w * p for w, p in zip(weights, parts)) / sum(weights)
        return total, per_view


class _Subset:
    """A _ViewSetTarget restricted to some of its views."""

    def __init__(self, target, idx):
        self.floors = target.floors.index_select(0, idx)
        self.is_log = target.is_log
        self.target = target.target.index_select(0, idx)
        self.inv_scale = target.inv_scale.index_select(0, idx)

    transform = _ViewSetTarget.transform


def _views_for_step(step, settings, rng):
    views = list(settings.loss_views)
    others = [v for v in views if v != 0]
    if not settings.views_per_step or settings.views_per_step >= len(others):
        return views
    drawn = rng.choice(np.asarray(others), size=settings.views_per_step, replace=False)
    return sorted(({0} & set(views)) | {int(v) for v in drawn})


class _Lerp:
    """Linear interpolation along one axis at fixed fractional positions (clamped to the ends)."""

    def __init__(self, positions, n_in, device):
        pos = positions.double().clamp(0, n_in - 1)
        self.lo = pos.floor().long().clamp(max=max(n_in - 2, 0)).to(device)
        self.hi = (self.lo + 1).clamp(max=n_in - 1)
        self.w = (pos.to(device) - self.lo).float()

    def __call__(self, x, dim):
        shape = [1] * x.dim()
        shape[dim] = -1
        w = self.w.reshape(shape)
        return x.index_select(dim, self.lo) * (1 - w) + x.index_select(dim, self.hi) * w


def match_profiles(X, vocal, sr, settings, length):
    """Stage 1: a [0, 1] mask on X whose output's slice-0 profiles match the vocal's at every scale.

    Returns (mask tensor like X.real, distances), distances[i] being the RMS log-ratio of the
    profiles (mean over scales) before update i + 1: how far the profiles still are apart.
    """
    device = X.device
    windows, bins = X.shape
    mask = torch.full(X.shape, settings.init_mask, device=device)
    if settings.profile_iterations <= 0:
        return mask, np.zeros(0)
    grid_step = sr / 2 / (PROFILE_POINTS - 1)
    to_bins = _Lerp(bin_frequencies(settings.mask_n_fft, sr) / grid_step, PROFILE_POINTS, device)
    scales = []
    with torch.no_grad():
        for n in settings.scales:
            hop = hop_length(n, settings.hop_fraction)
            lay = layout_for(bin_frequencies(n, sr).to(device), sr)
            target = profile(stft(vocal, n, hop).abs(), lay)
            floor = settings.log_floor * target.mean() + 1e-12
            to_windows = _Lerp(torch.arange(windows) * (settings.mask_hop / hop), target.shape[0], device)
            scales.append((n, hop, lay, torch.log(target + floor), floor, to_windows))
        distances = []
        for _ in range(settings.profile_iterations):
            out = istft(mask * X, settings.mask_n_fft, settings.mask_hop, length)
            log_ratio, dist = 0.0, 0.0
            for n, hop, lay, log_target, floor, to_windows in scales:
                diff = log_target - torch.log(profile(stft(out, n, hop).abs(), lay) + floor)
                log_ratio = log_ratio + to_bins(to_windows(diff, 0), 1)
                dist += float(diff.square().mean().sqrt())
            distances.append(dist / len(scales))
            mask = (mask * torch.exp(log_ratio / len(scales))).clamp(0, 1)
    return mask, np.asarray(distances)


def optimise_mask(mix, vocal, sr, settings, device=None):
    """Optimise the mask for one stretch of signal (1-D tensors of equal length).

    Returns (mask (windows, bins) numpy float32, history dict with 'profile' (the stage-1
    distances), 'total' (iterations,) and 'per_view' (iterations, scales, 19) arrays of stage 2,
    plus 'initial'/'final' full losses: of the constant starting mask and of the result).
    """
    device = device or mix.device
    mix = mix.to(device)
    vocal = vocal.to(device)
    n = mix.shape[-1]
    X = stft(mix, settings.mask_n_fft, settings.mask_hop)
    loss_fn = FingerprintLoss(vocal, sr, settings)
    rng = np.random.default_rng(settings.seed)
    totals, per_views = [], []

    def render(lg):
        return istft(torch.sigmoid(lg) * X, settings.mask_n_fft, settings.mask_hop, n)

    with torch.no_grad():
        constant = torch.full(X.shape, settings.init_mask, device=device)
        initial, initial_views = loss_fn(istft(constant * X, settings.mask_n_fft, settings.mask_hop, n),
                                         list(settings.loss_views))
    start, distances = match_profiles(X, vocal, sr, settings, n)
    start = start.clamp(1e-4, 1 - 1e-4)
    logits = torch.log(start / (1 - start)).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=settings.learning_rate)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, settings.iterations),
                                                       eta_min=0.05 * settings.learning_rate)
    monitored = {}
    for step in range(settings.iterations):
        loss, per_view = loss_fn(render(logits), _views_for_step(step, settings, rng))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        totals.append(float(loss.detach()))
        per_views.append(per_view.cpu().numpy())
        if settings.monitor_every and (step + 1) % settings.monitor_every == 0 and step + 1 < settings.iterations:
            with torch.no_grad():
                monitored[step] = loss_fn(render(logits), list(settings.loss_views))
    with torch.no_grad():
        final, final_views = loss_fn(render(logits), list(settings.loss_views))
        mask = torch.sigmoid(logits).cpu().numpy().astype(np.float32)
    for step, (full_total, full_views) in monitored.items():  # full evaluations replace the step's
        totals[step], per_views[step] = float(full_total), full_views.cpu().numpy()
    history = {
        "profile": distances,
        "total": np.asarray(totals, dtype=np.float64),
        "per_view": np.asarray(per_views, dtype=np.float64).reshape(-1, len(settings.scales), N_VIEWS),
        "initial": float(initial), "final": float(final),
        "initial_per_view": initial_views.cpu().numpy(), "final_per_view": final_views.cpu().numpy(),
    }
    return mask, history


def _alignment(settings):
    hops = [hop_length(n, settings.hop_fraction) for n in settings.scales]
    return math.lcm(settings.mask_hop, *[2 * h for h in hops])


def chunks(n_samples, sr, settings):
    """[(start, stop, seg_start, seg_stop)]: kept spans and the spans optimised (with context)."""
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


def match(mix, vocal, sr, settings, device=None, progress=None):
    """Fingerprint-matching separation of a whole song.

    mix, vocal: 1-D float arrays of equal length. Returns (vocal_estimate, mask, history), the
    estimate as float32 numpy, the mask (windows, bins) on the mask STFT of the whole mix, and
    the optimisation history (chunk curves averaged, weighted by chunk length).
    """
    device = torch.device(device or "cpu")
    mix_t = torch.as_tensor(np.asarray(mix, dtype=np.float32))
    vocal_t = torch.as_tensor(np.asarray(vocal, dtype=np.float32))
    n = mix_t.shape[-1]
    hop = settings.mask_hop
    X = stft(mix_t, settings.mask_n_fft, hop)
    mask = np.zeros(tuple(X.shape), dtype=np.float32)
    weighted = []
    for i, (a, b, sa, sb) in enumerate(chunks(n, sr, settings)):
        t0 = time.perf_counter()
        m, hist = optimise_mask(mix_t[sa:sb], vocal_t[sa:sb], sr, settings, device)
        first = (a - sa) // hop
        last = (b - sa) // hop if b < n else m.shape[0]
        mask[a // hop : a // hop + (last - first)] = m[first:last]
        weighted.append(((b - a) / n, hist))
        log.info("chunk %d: %.1f-%.1f s, loss %.4g -> %.4g, %.1f s", i, a / sr, b / sr,
                 hist["initial"], hist["final"], time.perf_counter() - t0)
        if progress:
            progress(i, hist)
    history = {k: sum(w * h[k] for w, h in weighted) for k in
               ("profile", "total", "per_view", "initial", "final", "initial_per_view", "final_per_view")}
    with torch.no_grad():
        est = istft(torch.from_numpy(mask) * X, settings.mask_n_fft, hop, n).numpy().astype(np.float32)
    return est, mask, history


def loss_reduction(history):
    """1 - final / initial fingerprint loss: how much of the loss the optimiser removed (not quality)."""
    return float(1.0 - history["final"] / history["initial"]) if history["initial"] > 0 else 0.0

