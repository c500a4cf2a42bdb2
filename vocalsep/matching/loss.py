"""The fingerprint loss: how far a signal's fingerprint is from the vocal's, over views and scales.

The masked mix is rendered with the inverse STFT (mix phase) and fingerprinted again at every
scale, so the loss sees the real output. Each term is scale-free: energy-like columns (profile,
band energies, total energy) are log-compressed above a floor relative to the vocal, every
column is standardised by the vocal's own spread, and the six metric groups are averaged with
weights (the profile 1, the others 0.1 by default) so that no group drowns the others. Peak
picks (the fundamental, harmonic count and spacing, formant frequencies) stay out of the loss;
the harmonic and formant strengths are taken at the vocal's peaks.

The loss over views weighs view 0 (the raw spectrum, at every scale) by 1 and the mean of the
other 18 views (at every scale) by `other_views_weight`; which views an evaluation uses is
plan.ViewPlan's job. The loss is evaluated block by block of windows (see FingerprintLoss).
"""

from collections.abc import Sequence

import torch

from ..fingerprint.fingerprint import HALO, block_views, scale_metrics, window_blocks
from ..fingerprint.metrics import COLUMNS, GROUPS, NOT_DIFFERENTIABLE, Anchors, window_metrics
from ..fingerprint.views import N_VIEWS, POOLED, pooled_frequencies
from ..parallel import SERIAL, Workers
from ..stft import bin_frequencies, hop_length, stft
from .settings import GROUP_NAMES, MatchSettings

LOG_COLUMNS = tuple(range(GROUPS["profile"].start, GROUPS["bands"].stop)) + (COLUMNS.index("energy"),)

# {n_fft: (full, pooled, anchors_full, anchors_pooled, views)}: a signal's metrics, as reference_metrics
# returns them (full (views, windows, 425), pooled (views, windows // 2, 425), view numbers rising)
ReferenceMetrics = dict[int, tuple[torch.Tensor, torch.Tensor, Anchors, Anchors, tuple[int, ...]]]


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


def reference_metrics(signal: torch.Tensor, sr: int, settings: MatchSettings, views: Sequence[int] | None = None,
                      workers: Workers = SERIAL) -> ReferenceMetrics:
    """The fingerprint metrics of a signal at every scale, without gradient: the loss's targets.

    Args:
        signal: the signal (the vocal), a 1-D tensor.
        sr: its sample rate in Hz.
        settings: the matching settings (scales, hop fraction, loss views).
        views: the view numbers wanted (default: the loss views and view 0).
        workers: a parallel.Workers over which each scale's blocks of windows are spread.

    Returns:
        {n_fft: (full, pooled, anchors_full, anchors_pooled, views)}: the metrics of the wanted
        views and their anchors as fingerprint.scale_metrics returns them, and the view numbers,
        in rising order.
    """
    views = sorted(set(settings.loss_views) | {0}) if views is None else sorted(set(views))
    out = {}
    with torch.no_grad():
        for n_fft in settings.scales:
            mag = stft(signal, n_fft, hop_length(n_fft, settings.hop_fraction)).abs()
            out[n_fft] = (*scale_metrics(mag, n_fft, sr, views=views, workers=workers), tuple(views))
    return out


def to_device(x: object, device: torch.device | str) -> object:
    """A tensor or Anchors moved to a device (anything else as it is).

    Args:
        x: a tensor, an Anchors or anything else (such as a tuple of view numbers).
        device: the device to move it to.

    Returns:
        x on the device, or x itself when it is neither a tensor nor an Anchors.
    """
    if isinstance(x, Anchors):
        return Anchors(x.f0_hz.to(device), x.formant_bins.to(device))
    return x.to(device) if torch.is_tensor(x) else x


def _rows(metrics, anchors, rows):
    """The given rows (views) of a stack of metrics and its anchors."""
    idx = torch.tensor(rows, dtype=torch.long, device=metrics.device)
    return metrics.index_select(0, idx), Anchors(anchors.f0_hz.index_select(0, idx),
                                                 anchors.formant_bins.index_select(0, idx))


def _spread(t, dims):
    """Standard deviation (population) over dims, kept, written out: torch's std over a middle
    dimension of a (views, windows, 425) stack is slow, as slow as the rest of a step."""
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

    Calling it with a signal returns (total, per_view), see `__call__`.

    Args:
        reference: the vocal signal (a 1-D tensor), or its metrics as `reference_metrics` returns
            them (with at least the views to evaluate, in rising view order).
        sr: the sample rate in Hz.
        settings: the matching settings (scales, group weights, view weights, log floor).
        views: the loss views this loss will evaluate (default all of them): only their targets
            are prepared.
    """

    def __init__(self, reference: torch.Tensor | ReferenceMetrics, sr: int, settings: MatchSettings,
                 views: Sequence[int] | None = None) -> None:
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
        for n_fft in settings.scales:
            full, pooled, a_full, a_pooled, have = reference[n_fft]
            stacks = ((full, a_full, [v for v in have if v not in POOLED]),
                      (pooled, a_pooled, [v for v in have if v in POOLED]))
            self.targets[n_fft] = tuple(
                _ViewSetTarget(*_rows(m, a, [order.index(v) for v in want]), settings.log_floor, self.tables, want)
                if want else None
                for (m, a, order), want in zip(stacks, wanted))

    def _coefficients(self, views):
        """(scales, 19) weight of each evaluated (scale, view) pair's loss in the total: view 0
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

    def __call__(self, signal: torch.Tensor, views: Sequence[int] | None = None, backward: bool = False,
                 workers: Workers = SERIAL) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss of a signal's fingerprint, optionally back-propagated.

        The total weighs view 0 by 1 and the mean of the other evaluated views by
        `other_views_weight`; with the others drawn at random each step it is an unbiased
        estimate of the same weighting over all.

        Args:
            signal: the rendered output, a 1-D tensor (the graph that made it is kept for backward).
            views: None for all the views this loss prepared, or a list of them to evaluate.
            backward: also back-propagate the total into the graph that made `signal`.
            workers: a parallel.Workers over which the blocks of windows of every scale are spread.

        Returns:
            (total, per_view): the weighted loss (a detached scalar), and a (scales, 19) tensor of
            each (scale, view) pair's loss (NaN where not evaluated).
        """
        views = self.views if views is None else sorted(views)
        scales, device = self.settings.scales, signal.device
        counts = torch.ones(len(scales), N_VIEWS, device=device)
        coef = self._coefficients(views).to(device)
        kinds = ([v for v in views if v not in POOLED], [v for v in views if v in POOLED])
        mags, rows = [], []
        for s, n_fft in enumerate(scales):
            mags.append(stft(signal, n_fft, hop_length(n_fft, self.settings.hop_fraction)).abs())
            rows.append([t.rows(k, device) if k else None for t, k in zip(self.targets[n_fft], kinds)])
            for t, k in zip(self.targets[n_fft], kinds):
                if k:
                    counts[s, k] = t.windows
        weight = coef / counts
        detached = [m.detach() for m in mags]

        def block_loss(task):
            """(scale, first window of the piece, per-view loss sums, the piece's gradient) of one
            block. Each block is its own leaf (its windows and the neighbours its views need), so
            that a block's backward touches only its own part of the gradient."""
            s, a, b = task
            n_fft, mag = scales[s], detached[s]
            lo, hi = max(0, a - HALO), min(mag.shape[-2], b + HALO)
            piece = mag[lo:hi].detach().requires_grad_(backward)
            freqs = bin_frequencies(n_fft, self.sr).to(device)
            spans = ((a, b), (a // 2, a // 2 + (b - a) // 2))
            sums = torch.zeros(N_VIEWS, device=device)
            block = 0.0
            for view_stack, t, k, r, f, (i, j) in zip(block_views(piece, a - lo, b - lo, views), self.targets[n_fft],
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
            # scalar's backward (backward with explicit gradients imports sympy, slow in every job)
            sum((root * g).sum() for root, g in zip(mags, grads)).backward()
        evaluated = torch.zeros_like(coef, dtype=torch.bool)
        evaluated[:, views] = True
        per_view = torch.where(evaluated, sums / counts, torch.full_like(sums, float("nan")))
        total = (coef * torch.nan_to_num(per_view)).sum()
        return total, per_view
