"""Fingerprint matching: a [0, 1] mask on the mix STFT whose output's fingerprint matches the vocal's.

The mask lives on one STFT of the mix (the "mask STFT") and starts as a constant (0.5). Two stages
fit it:

1. Profile matching (`profile_iterations`, no autograd): the 400-point frequency profile of
   slice 0 (the raw spectrum) is a linear smoothing of the magnitude, so the masked mix's profile
   can be pulled onto the vocal's by multiplicative fixed-point updates: at every scale, the ratio
   of the vocal's profile to the rendered output's, interpolated back onto the mask's windows and
   bins; the mask is multiplied by a geometric mean of the scales' ratios, each weighted by
   n_fft^1.5 (the finer frequency resolution counts more), and clipped to [0, 1]. Each update is
   three STFTs and one inverse STFT. On the real pairs of bench/fingerprint_quality.py, equal
   weights of the scales were 0.3 dB worse in median SDR than weights n_fft (n_fft^1.5: another
   0.03 dB in mean, and a shorter tail), and the SDR is best after about 6 updates (the
   default): more of them fit the profiles closer but the SDR falls slightly.
2. Gradient refinement (`iterations`): the mask becomes sigmoid(logits) and Adam lowers the whole
   fingerprint loss below (autograd through every view's metrics at every scale). On those real
   recordings it lowers the loss but moves the SDR by under 0.1 dB (0, 5 or 10 steps; 3 or 5
   steps: within 0.01 dB on every pair of two held-out sets of 9), so the default is a short
   refinement (3 steps, each about 50 ms of a 4.7 s clip's 0.8 s).

3. Rendering (`render`): the matched mask m estimates |V| / |X|. By default a second mask m_a is
   matched (stage 1, batched with the vocal's) to the accompaniment's slice-0 profiles (the
   mix minus the vocal, which the oracle-informed setting knows as well), and the vocal is
   rendered with m^2 / (m^2 + m_a^2), the Wiener filter of the two estimated magnitudes (see
   `render_gain`), with the mix phase.

The stages use only fingerprints (the vocal's; and the accompaniment's 400-point profiles),
never the sources' STFTs on the mask's grid: the oracle masks, which use those, are what the
result is judged against. In the workflow the vocal's fingerprint is read from its cache (rule
fingerprint), chunk by chunk, rather than computed again. The masked mix is rendered
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
drawn at random (an unbiased estimate of the same weighted loss). The losses at both ends (of
the constant starting mask and of the result), which the loss reduction compares, are evaluated
on the same views: slice 0 and `check_views` others drawn once (the same in every chunk of a
song); every `monitor_every` steps, when set, all the views are.
The loss is evaluated block by block of windows (see FingerprintLoss). Long songs are optimised
in time chunks with context on both sides, which bounds memory.
"""

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .fingerprint.fingerprint import HALO, block_views, scale_metrics, window_blocks
from .fingerprint.metrics import (COLUMNS, GROUPS, NOT_DIFFERENTIABLE, PROFILE_POINTS, Anchors, layout_for,
                                  profile, window_metrics)
from .fingerprint.stft import bin_frequencies, hop_length, istft, stft
from .fingerprint.views import N_VIEWS, POOLED, pooled_frequencies
from .parallel import SERIAL, cpu_workers

log = logging.getLogger(__name__)

RENDERS = ("two_source", "wiener", "magnitude")
LOG_COLUMNS = tuple(range(GROUPS["profile"].start, GROUPS["bands"].stop)) + (COLUMNS.index("energy"),)
GROUP_NAMES = tuple(GROUPS)
SCALE_WEIGHT_POWER = 1.5  # stage 1 weighs each scale's profile ratio by n_fft ** this


@dataclass(frozen=True)
class MatchSettings:
    """Settings of the optimisation (config.yaml `fingerprint:` section)."""

    scales: tuple = (2048, 1024, 512)
    hop_fraction: float = 0.5
    mask_n_fft: int = 1024
    mask_hop: int = 256
    profile_iterations: int = 6   # stage 1: fixed-point updates matching slice 0's profiles
    iterations: int = 3           # stage 2: Adam steps on the whole fingerprint loss
    learning_rate: float = 0.05   # Adam on the logits, cosine-decayed to 5 % of this
    init_mask: float = 0.5
    log_floor: float = 1e-5
    group_weights: dict = field(default_factory=lambda: {g: 1.0 if g == "profile" else 0.1 for g in GROUP_NAMES})
    loss_views: tuple = tuple(range(N_VIEWS))  # the views in the loss (all 19 by default)
    other_views_weight: float = 0.25  # total weight of the loss views other than slice 0 (slice 0: 1)
    views_per_step: int = 1      # 0: every loss view each step; n: slice 0 + n others drawn per step
    check_views: int = 3         # the losses at both ends: slice 0 + n others drawn once (0: slice 0 alone)
    monitor_every: int = 0       # also evaluate every loss view (no gradient) every n steps (0: never)
    render: str = "two_source"   # the vocal's gain: see render_gain ("two_source", "wiener", "magnitude")
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
        if values.get("render", "two_source") not in RENDERS:
            raise ValueError(f"fingerprint render must be one of {', '.join(RENDERS)}, not {values['render']!r}")
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


def reference_metrics(signal, sr, settings, views=None, workers=SERIAL):
    """{n_fft: (full, pooled, anchors_full, anchors_pooled, views)} of a signal at every scale (no
    gradient): the metrics of the wanted views (default: the loss views and slice 0), as
    fingerprint.scale_metrics returns them, and the view numbers, in rising order."""
    views = sorted(set(settings.loss_views) | {0}) if views is None else sorted(set(views))
    out = {}
    with torch.no_grad():
        for n in settings.scales:
            mag = stft(signal, n, hop_length(n, settings.hop_fraction)).abs()
            out[n] = (*scale_metrics(mag, n, sr, views=views, workers=workers), tuple(views))
    return out


def _to(x, device):
    """A tensor or Anchors moved to device (anything else as it is)."""
    if isinstance(x, Anchors):
        return Anchors(x.f0_hz.to(device), x.formant_bins.to(device))
    return x.to(device) if torch.is_tensor(x) else x


def _rows(metrics, anchors, rows):
    """The given rows (views) of a stack of metrics and its anchors."""
    idx = torch.tensor(rows, dtype=torch.long, device=metrics.device)
    return metrics.index_select(0, idx), Anchors(anchors.f0_hz.index_select(0, idx),
                                                 anchors.formant_bins.index_select(0, idx))


def _spread(t, dims):
    """Standard deviation (population) over dims, kept: torch's std over a middle dimension of a
    (views, windows, 425) stack took 3 ms per call, as long as the rest of a step."""
    centred = t - t.mean(dim=dims, keepdim=True)
    return (centred * centred).mean(dim=dims, keepdim=True).sqrt()


class _ViewSetTarget:
    """Reference metrics of a stack of views (one scale, full or pooled), transformed and scaled."""

    def __init__(self, ref, anchors, log_floor, tables, views):
        is_log, in_loss, _ = tables
        self.position = {v: i for i, v in enumerate(views)}  # view number -> row of the stack
        self.windows = ref.shape[1]
        self.anchors = Anchors(anchors.f0_hz.reshape(ref.shape[:2]), anchors.formant_bins.reshape(*ref.shape[:2], 3))
        floors = torch.ones(ref.shape[0], 1, ref.shape[-1], device=ref.device)  # 1: unused (linear)
        for sl in (GROUPS["profile"], GROUPS["bands"], slice(COLUMNS.index("energy"), COLUMNS.index("energy") + 1)):
            level = ref[..., sl].mean(dim=(1, 2), keepdim=True)
            floors[..., sl] = log_floor * level + 1e-12
        self.floors = floors
        self.is_log = is_log
        t = self.transform(ref)
        spread = _spread(t, 1)
        for sl in (GROUPS["profile"], GROUPS["bands"]):  # pooled over the group: bins can be silent
            spread[..., sl] = _spread(t[..., sl], (1, 2))
        scale = spread + 0.05 * t.abs().mean(dim=1, keepdim=True) + 1e-6
        self.target = t
        self.inv_scale = in_loss / scale

    def transform(self, m, rows=None):
        """Log of every column (floors keep it finite), kept only where the column is log-compressed;
        rows: the views (rows of the stack) that m holds, when not all of them."""
        floors = self.floors if rows is None else self.floors[rows]
        return torch.where(self.is_log, torch.log(m.abs() + floors), m)

    def rows(self, views, device):
        """Row indices in this stack of the given view numbers."""
        return torch.tensor([self.position[v] for v in views], device=device)

    def window_losses(self, rows, a, b, metrics, per_window):
        """Summed per-window losses (len(rows),) of windows a..b of the given rows."""
        z = (self.transform(metrics, rows) - self.target[rows, a:b]) * self.inv_scale[rows]
        return ((z * z) @ per_window).sum(-1)

    def anchors_of(self, rows, a, b):
        """Anchors of windows a..b of the given rows."""
        return Anchors(self.anchors.f0_hz[rows, a:b], self.anchors.formant_bins[rows, a:b])


class FingerprintLoss:
    """Distance between a signal's fingerprint and a reference's over all views and scales.

    The loss of one (scale, view) pair is the mean over windows of a per-window loss, so it is
    evaluated block by block of windows (fingerprint.window_blocks: the views of a block are
    computed with the neighbours they need, the values are those of the whole): small blocks
    stay in the CPU caches, and with `backward=True` each block's graph is freed as soon as its
    gradient is taken, so memory does not grow with the length of the signal.
    """

    def __init__(self, reference, sr, settings, views=None):
        """reference: the vocal signal (a 1-D tensor), or its metrics as `reference_metrics` returns
        them (with at least the views to evaluate, in rising view order).
        views: the loss views this loss will evaluate (default all of them): only their targets
        are prepared."""
        self.views = sorted(set(settings.loss_views) if views is None else set(views))
        if torch.is_tensor(reference):
            reference = reference_metrics(reference, sr, settings, self.views)
        device = reference[settings.scales[0]][0].device
        self.sr = sr
        self.settings = settings
        self.tables = _column_tables(device)
        weights = torch.tensor([settings.group_weights[g] for g in GROUP_NAMES], device=device)
        # per-window loss = sum over groups of weight x mean z^2 over the group's loss columns
        self.per_window = self.tables[2] @ (weights / weights.sum())
        self.targets = {}
        wanted = ([v for v in self.views if v not in POOLED], [v for v in self.views if v in POOLED])
        for n in settings.scales:
            full, pooled, a_full, a_pooled, have = reference[n]
            stacks = ((full, a_full, [v for v in have if v not in POOLED]),
                      (pooled, a_pooled, [v for v in have if v in POOLED]))
            self.targets[n] = tuple(
                _ViewSetTarget(*_rows(m, a, [order.index(v) for v in want]), settings.log_floor, self.tables, want)
                if want else None
                for (m, a, order), want in zip(stacks, wanted))

    def _coefficients(self, views):
        """(scales, 19) weight of each evaluated (scale, view) pair's loss in the total: slice 0
        by 1 and the mean of the other evaluated views by `other_views_weight`, normalised."""
        coef = torch.zeros(len(self.settings.scales), N_VIEWS)
        raw = [v for v in views if v == 0]
        other = [v for v in views if v != 0]
        w_other = self.settings.other_views_weight if raw else 1.0
        if not (other and w_other > 0):
            other, w_other = [], 0.0
        total = (1.0 if raw else 0.0) + w_other
        if raw:
            coef[:, 0] = 1.0 / len(self.settings.scales) / total
        if other:
            coef[:, other] = w_other / (len(other) * len(self.settings.scales)) / total
        return coef

    def __call__(self, signal, views=None, backward=False, workers=SERIAL):
        """(total, per_view): the weighted loss (detached), and a (scales, 19) tensor of each
        (scale, view) pair's loss (NaN where not evaluated).

        views: None for all the views this loss prepared, or a list of them to evaluate. The
        total weighs slice 0 by 1 and the mean of the other evaluated views by `other_views_weight`;
        with the others drawn at random each step it is an unbiased estimate of the same weighting
        over all. backward: also back-propagate the total into the graph that made `signal`.
        workers: a parallel.Workers over which the blocks of windows of every scale are spread.
        """
        views = self.views if views is None else sorted(views)
        scales, device = self.settings.scales, signal.device
        counts = torch.ones(len(scales), N_VIEWS, device=device)
        coef = self._coefficients(views).to(device)
        kinds = ([v for v in views if v not in POOLED], [v for v in views if v in POOLED])
        mags, rows = [], []
        for s, n in enumerate(scales):
            mags.append(stft(signal, n, hop_length(n, self.settings.hop_fraction)).abs())
            rows.append([t.rows(k, device) if k else None for t, k in zip(self.targets[n], kinds)])
            for t, k in zip(self.targets[n], kinds):
                if k:
                    counts[s, k] = t.windows
        weight = coef / counts
        detached = [m.detach() for m in mags]

        def block_loss(task):
            """(scale, first window of the piece, per-view loss sums, the piece's gradient) of one
            block. Each block is its own leaf (its windows and the neighbours its views need), so
            that a block's backward touches only its own part of the gradient."""
            s, a, b = task
            n, mag = scales[s], detached[s]
            lo, hi = max(0, a - HALO), min(mag.shape[-2], b + HALO)
            piece = mag[lo:hi].detach().requires_grad_(backward)
            freqs = bin_frequencies(n, self.sr).to(device)
            spans = ((a, b), (a // 2, a // 2 + (b - a) // 2))
            sums = torch.zeros(N_VIEWS, device=device)
            block = 0.0
            for view_stack, t, k, r, f, (i, j) in zip(block_views(piece, a - lo, b - lo, views), self.targets[n],
                                                      kinds, rows[s], (freqs, pooled_frequencies(freqs)), spans):
                if not k or j <= i:
                    continue
                m, _ = window_metrics(view_stack, f, self.sr, t.anchors_of(r, i, j))
                part = t.window_losses(r, i, j, m, self.per_window)
                sums[k] += part.detach()
                block = block + (part * weight[s, k]).sum()
            if backward and torch.is_tensor(block) and block.requires_grad:
                block.backward()
                return s, lo, sums, piece.grad
            return s, lo, sums, None

        tasks = [(s, a, b) for s, mag in enumerate(detached) for a, b in window_blocks(*mag.shape)]
        sums = torch.zeros(len(scales), N_VIEWS, device=device)
        grads = [torch.zeros_like(m) for m in detached] if backward else None
        for s, lo, part, grad in workers.map(block_loss, tasks):
            sums[s] += part
            if grad is not None:
                grads[s][lo : lo + grad.shape[0]] += grad
        if backward:
            # the blocks' gradients on to the signal, as the gradient of sum(mag * its gradient): a
            # scalar's backward (backward with explicit gradients imports sympy, ~0.4 s per job)
            sum((root * g).sum() for root, g in zip(mags, grads)).backward()
        evaluated = torch.zeros_like(coef, dtype=torch.bool)
        evaluated[:, views] = True
        per_view = torch.where(evaluated, sums / counts, torch.full_like(sums, float("nan")))
        total = (coef * torch.nan_to_num(per_view)).sum()
        return total, per_view


class ViewPlan:
    """Which views each evaluation of one chunk's optimisation uses, drawn up front from the seed
    (the same for every chunk of a song): the check views of both ends, each Adam step's views,
    and `needed`, the views whose reference metrics are read (slice 0 always, for stage 1)."""

    def __init__(self, settings):
        rng = np.random.default_rng(settings.seed)
        self.check = _draw_views(settings, rng, settings.check_views)
        self.steps = [_draw_views(settings, rng, settings.views_per_step or None) for _ in range(settings.iterations)]
        used = set(settings.loss_views) if settings.monitor_every else set(self.check).union(*self.steps)
        self.needed = sorted(used | {0})


def _draw_views(settings, rng, count):
    """Slice 0 (when a loss view) and `count` other loss views drawn at random; every loss view
    when count is None or covers them all."""
    views = list(settings.loss_views)
    others = [v for v in views if v != 0]
    if count is None or count >= len(others):
        return views
    drawn = rng.choice(np.asarray(others), size=count, replace=False) if count else []
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


def slice0_profiles(reference, scales):
    """{n_fft: (windows, 400)}: slice 0's profiles from metrics as `reference_metrics` returns
    them (slice 0 first among the full views)."""
    return {n: reference[n][0][0, :, GROUPS["profile"]] for n in scales}


def signal_profiles(signal, sr, settings):
    """{n_fft: (windows, 400)}: slice 0's profiles of a signal at every scale (no gradient)."""
    with torch.no_grad():
        return {n: profile(stft(signal, n, hop_length(n, settings.hop_fraction)).abs(),
                           layout_for(bin_frequencies(n, sr).to(signal.device), sr)) for n in settings.scales}


def match_profiles(X, targets, sr, settings, length, workers=SERIAL):
    """Stage 1: a [0, 1] mask on X whose output's slice-0 profiles match the targets at every scale.

    targets: {n_fft: (windows, 400)} slice-0 profiles (the vocal's, `slice0_profiles`; or the
    accompaniment's, `signal_profiles`), or {n_fft: (sources, windows, 400)} to match one mask
    per source at once (batched: cheaper than one after the other). workers: a
    parallel.Workers over which the scales are spread.

    Returns (masks, distances): the mask (X.shape, or (sources, *X.shape)) and distances[i],
    the RMS log-ratio of the profiles (mean over scales; per source when batched) before update
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
        for n in settings.scales:
            hop = hop_length(n, settings.hop_fraction)
            lay = layout_for(bin_frequencies(n, sr).to(device), sr)
            target = targets[n].to(device)
            floor = settings.log_floor * target.mean(dim=(-2, -1), keepdim=True) + 1e-12  # per source
            to_windows = _Lerp(torch.arange(windows) * (settings.mask_hop / hop), target.shape[-2], device)
            scales.append((n, hop, lay, torch.log(target + floor), floor, to_windows))
        weights = [n**SCALE_WEIGHT_POWER for n in settings.scales]  # finer frequency resolution counts more
        distances = []
        for _ in range(settings.profile_iterations):
            out = istft(mask * X, settings.mask_n_fft, settings.mask_hop, length)

            def scale_ratio(item):  # one scale's weighted log ratio on the mask's windows, its distance
                (n, hop, lay, log_target, floor, to_windows), w = item
                diff = log_target - torch.log(profile(stft(out, n, hop).abs(), lay) + floor)
                return (w / sum(weights)) * to_windows(diff, -2), diff.square().mean(dim=(-2, -1)).sqrt().cpu().numpy()

            log_ratio, dist = 0.0, 0.0
            for ratio, d in workers.map(scale_ratio, zip(scales, weights)):  # in order: same sums
                log_ratio, dist = log_ratio + ratio, dist + d
            distances.append(dist / len(scales))
            mask = (mask * torch.exp(to_bins(log_ratio))).clamp(0, 1)  # onto the bins once (it is linear)
    return mask, np.asarray(distances, dtype=np.float64)


class CosineAdam:
    """Adam on one tensor (torch.optim.Adam's update and defaults) with the learning rate
    cosine-annealed from lr to 5 % of it over `steps` (torch's CosineAnnealingLR), written out:
    a process's first torch.optim optimiser imports torch._dynamo, about 1.1 s that every
    workflow job would pay for a few steps. tests/test_matching.py checks it step for step
    against torch.optim."""

    def __init__(self, param, lr, steps, betas=(0.9, 0.999), eps=1e-8, final_fraction=0.05):
        self.param, self.lr, self.steps = param, lr, max(1, steps)
        self.betas, self.eps, self.eta_min = betas, eps, final_fraction * lr
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    def learning_rate(self, t):
        """The learning rate of step t (0-based)."""
        return self.eta_min + (self.lr - self.eta_min) * (1 + math.cos(math.pi * t / self.steps)) / 2

    @torch.no_grad()
    def step(self):
        b1, b2 = self.betas
        g = self.param.grad
        lr = self.learning_rate(self.t)
        self.t += 1
        self.m.lerp_(g, 1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (self.v.sqrt() / math.sqrt(1 - b2**self.t)).add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-lr / (1 - b1**self.t))


def optimise_mask(mix, vocal, sr, settings, device=None, reference=None, workers=SERIAL, accompaniment=None):
    """Optimise the mask for one stretch of signal (1-D tensors of equal length).

    reference: the vocal's metrics for this stretch (`reference_metrics`, or read from its
    fingerprint cache), of at least the views `ViewPlan(settings).needed`; computed from `vocal`
    when None (then `vocal` may be None).
    accompaniment: the accompaniment's signal (mix minus vocal), or None: when given, stage 1
    also matches a mask to its profiles, in the same batched updates as the vocal's.

    Returns (mask (windows, bins) numpy float32, history dict with 'profile' (the stage-1
    distances), 'total' (iterations,) and 'per_view' (iterations, scales, 19) arrays of stage 2,
    plus 'initial'/'final' losses and their (scales, 19) 'initial_per_view'/'final_per_view': of the
    constant starting mask and of the result, on slice 0 and the check views, NaN elsewhere;
    'accompaniment_mask': the accompaniment's matched mask, or None).
    """
    device = device or mix.device
    mix = mix.to(device)
    n = mix.shape[-1]
    X = stft(mix, settings.mask_n_fft, settings.mask_hop)
    plan = ViewPlan(settings)
    if reference is None:
        reference = reference_metrics(vocal.to(device), sr, settings, plan.needed, workers)
    reference = {k: tuple(_to(x, device) for x in v) for k, v in reference.items()}
    loss_fn = FingerprintLoss(reference, sr, settings, [v for v in plan.needed if v in settings.loss_views])
    totals, per_views = [], []

    def render(lg):
        return istft(torch.sigmoid(lg) * X, settings.mask_n_fft, settings.mask_hop, n)

    check = plan.check  # the ends are compared on the same views
    with torch.no_grad():
        constant = torch.full(X.shape, settings.init_mask, device=device)
        initial, initial_views = loss_fn(istft(constant * X, settings.mask_n_fft, settings.mask_hop, n), check,
                                         workers=workers)
    targets = slice0_profiles(reference, settings.scales)
    if accompaniment is not None:  # one mask per source, matched together
        other = signal_profiles(accompaniment.to(device), sr, settings)
        targets = {k: torch.stack([v, other[k].to(v.device)]) for k, v in targets.items()}
    masks, distances = match_profiles(X, targets, sr, settings, n, workers)
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
    for step, (full_total, full_views) in monitored.items():  # full evaluations replace the step's
        totals[step], per_views[step] = float(full_total), full_views.cpu().numpy()
    history = {
        "profile": distances,
        "total": np.asarray(totals, dtype=np.float64),
        "per_view": np.asarray(per_views, dtype=np.float64).reshape(-1, len(settings.scales), N_VIEWS),
        "initial": float(initial), "final": float(final),
        "initial_per_view": initial_views.cpu().numpy(), "final_per_view": final_views.cpu().numpy(),
        "accompaniment_mask": acc_mask,
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


def match(mix, vocal, sr, settings, device=None, progress=None, vocal_fingerprint=None):
    """Fingerprint-matching separation of a whole song.

    mix, vocal: 1-D float arrays of equal length. Returns (vocal_estimate, mask, history), the
    estimate as float32 numpy, the matched mask (windows, bins) on the mask STFT of the whole mix,
    and the optimisation history (chunk curves averaged, weighted by chunk length), with
    "accompaniment_mask": for render "two_source", the mask matched to the accompaniment's
    profiles (else None).
    vocal_fingerprint: the vocal's fingerprint cache folder (rule fingerprint): its metrics are
    read for each chunk instead of being computed again from `vocal` (a cache that is damaged, made
    with other settings or from another signal is an InputError naming the file).
    """
    device = torch.device(device or "cpu")
    mix_t = torch.as_tensor(np.asarray(mix, dtype=np.float32))
    vocal_t = torch.as_tensor(np.asarray(vocal, dtype=np.float32))
    n = mix_t.shape[-1]
    hop = settings.mask_hop
    X = stft(mix_t, settings.mask_n_fft, hop)
    mask = np.zeros(tuple(X.shape), dtype=np.float32)
    acc_mask = np.zeros_like(mask) if settings.render == "two_source" else None
    weighted = []
    cached = None
    if vocal_fingerprint is not None:
        from .fingerprint.cache import CachedFingerprint

        cached = CachedFingerprint(vocal_fingerprint, sr, settings.scales, settings.hop_fraction, n,
                                   signal=vocal_t.numpy())  # the vocal's cache, not another's
    needed = ViewPlan(settings).needed  # the same views in every chunk
    with cpu_workers(device) as workers:
        for i, (a, b, sa, sb) in enumerate(chunks(n, sr, settings)):
            t0 = time.perf_counter()
            reference = cached.metrics(sa, sb, needed) if cached else None
            acc = mix_t[sa:sb] - vocal_t[sa:sb] if acc_mask is not None else None
            m, hist = optimise_mask(mix_t[sa:sb], vocal_t[sa:sb], sr, settings, device, reference, workers, acc)
            first = (a - sa) // hop
            last = (b - sa) // hop if b < n else m.shape[0]
            mask[a // hop : a // hop + (last - first)] = m[first:last]
            if acc_mask is not None:  # matched to the accompaniment's profiles (mix minus vocal)
                acc_mask[a // hop : a // hop + (last - first)] = hist["accompaniment_mask"][first:last]
            weighted.append(((b - a) / n, hist))
            log.info("chunk %d: %.1f-%.1f s, loss %.4g -> %.4g, %.1f s", i, a / sr, b / sr,
                     hist["initial"], hist["final"], time.perf_counter() - t0)
            if progress:
                progress(i, hist)
    history = {k: sum(w * h[k] for w, h in weighted) for k in
               ("profile", "total", "per_view", "initial", "final", "initial_per_view", "final_per_view")}
    history["accompaniment_mask"] = acc_mask
    with torch.no_grad():
        est = istft(torch.from_numpy(render_gain(mask, settings.render, acc_mask)) * X, settings.mask_n_fft, hop,
                    n).numpy().astype(np.float32)
    return est, mask, history


def render_gain(mask, render="two_source", accompaniment_mask=None):
    """The gain applied to the mix STFT to render the vocal from a matched mask.

    The matched mask m makes the output's magnitudes |m X| match the vocal's: m estimates
    |V| / |X|. "magnitude" renders with m itself. With the vocal and the accompaniment adding in
    power (independent phases), |X|^2 ~ |V|^2 + |A|^2, so m^2 estimates |V|^2 / (|V|^2 + |A|^2),
    the power-ratio gain that IRM2 computes from the true sources: "wiener" renders with it. It
    is only as good as that approximation: where the phases interfere, even the exact (|V|/|X|)^2
    falls short of IRM2 (by 1.2 dB SDR on one held-out pair). "two_source" also matches a mask m_a
    to the accompaniment's profiles (the mix minus the vocal: known here too) and renders with
    m^2 / (m^2 + m_a^2), the Wiener filter of the two estimated magnitudes (as Open-Unmix
    combines its estimates). On the 52 held-out real pairs of bench/fingerprint_quality.py it
    scores 0.23 dB above "wiener" in mean SDR (43 pairs up, 9 down): median distance to IRM2
    -0.39 dB instead of -0.60, worst -0.97 instead of -1.21, every pair within 1 dB. It costs a
    second stage 1 (batched with the first: ~50 ms of a 4.7 s clip).
    """
    if render == "magnitude":
        return mask
    if render == "wiener":
        return mask * mask
    if render == "two_source":
        if accompaniment_mask is None:
            raise ValueError('render "two_source" needs the accompaniment\'s matched mask')
        v2, a2 = mask * mask, accompaniment_mask * accompaniment_mask
        return v2 / np.maximum(v2 + a2, 1e-12)
    raise ValueError(f"render must be one of {', '.join(RENDERS)}, not {render!r}")


def checked_views(history):
    """Which views the losses at both ends were evaluated on, in words."""
    seen = ~np.isnan(np.asarray(history["final_per_view"], dtype=float)).all(axis=0)  # (views,)
    if seen.all():
        return "all views"
    return "views " + ", ".join(str(k) for k in np.flatnonzero(seen))


def loss_reduction(history):
    """1 - final / initial fingerprint loss: how much of the loss the optimiser removed (not quality)."""
    return float(1.0 - history["final"] / history["initial"]) if history["initial"] > 0 else 0.0

