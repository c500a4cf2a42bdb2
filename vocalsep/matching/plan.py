"""Which views each loss evaluation of one chunk's optimisation uses.

Evaluating all 57 (view, scale) pairs costs many times what view 0 alone does per step, so by
default each Adam step evaluates view 0 and one other view drawn at random (an unbiased estimate
of the same weighted loss, see loss.FingerprintLoss). The losses at both ends (of the constant
starting mask and of the result), which the loss reduction compares, are evaluated on the same
views: view 0 and `check_views` others drawn once (the same in every chunk of a song); every
`monitor_every` steps, when set, all the views are. Stage 4 (polish.py), when it runs, evaluates
`polish_views` at each of its steps.
"""

import numpy as np

from .settings import MatchSettings


class ViewPlan:
    """Which views each evaluation of one chunk's optimisation uses, drawn up front from the seed.

    The plan is the same for every chunk of a song. Attributes: `check`, the views of the losses
    at both ends; `steps`, each Adam step's views; `polish`, stage 4's views (empty when it does
    not run); `needed`, the views whose reference metrics are read (view 0 always, for stage 1).

    Args:
        settings: the matching settings (seed, loss views, views per step, check views,
            iterations, monitoring).
    """

    def __init__(self, settings: MatchSettings) -> None:
        rng = np.random.default_rng(settings.seed)
        self.check = draw_views(settings, rng, settings.check_views)
        self.steps = [draw_views(settings, rng, settings.views_per_step or None) for _ in range(settings.iterations)]
        used = set(settings.loss_views) if settings.monitor_every else set(self.check).union(*self.steps)
        polished = settings.render == "two_source" and settings.refine_sizes and settings.polish_steps > 0
        self.polish = sorted(set(settings.polish_views)) if polished else []
        self.needed = sorted(used | {0} | set(self.polish))


def draw_views(settings: MatchSettings, rng: np.random.Generator, count: int | None) -> list[int]:
    """View 0 (when a loss view) and `count` other loss views drawn at random.

    Args:
        settings: the matching settings, whose `loss_views` are drawn from.
        rng: the numpy Generator that draws them.
        count: how many views other than view 0 to draw; None (or as many as there are) for
            every loss view.

    Returns:
        The view numbers: every loss view in the settings' order, or the drawn ones in rising order.
    """
    views = list(settings.loss_views)
    others = [v for v in views if v != 0]
    if count is None or count >= len(others):
        return views
    drawn = rng.choice(np.asarray(others), size=count, replace=False) if count else []
    return sorted(({0} & set(views)) | {int(v) for v in drawn})
