"""Summaries of an optimisation history (the dict that optimise.optimise_mask returns)."""

from collections.abc import Sequence
from typing import Any

import numpy as np

# the numeric entries of a history, averaged over a song's chunks
CURVES = ("profile", "total", "per_view", "initial", "final", "initial_per_view", "final_per_view")


def average(weighted: Sequence[tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    """The curves of chunk histories averaged, weighted by each chunk's share of the song.

    Args:
        weighted: [(weight, history)] of the chunks, the weights their shares of the song (summing
            to 1).

    Returns:
        {curve: weighted sum} of the numeric entries in CURVES (arrays keep their shapes).
    """
    return {k: sum(w * h[k] for w, h in weighted) for k in CURVES}


def checked_views(history: dict[str, Any]) -> str:
    """Which views the losses at both ends were evaluated on, in words.

    Args:
        history: an optimisation history, with its (scales, 19) "final_per_view" (NaN where not
            evaluated).

    Returns:
        "all views", or "views 0, 3, 7" listing the views evaluated.
    """
    seen = ~np.isnan(np.asarray(history["final_per_view"], dtype=float)).all(axis=0)  # (views,)
    if seen.all():
        return "all views"
    return "views " + ", ".join(str(k) for k in np.flatnonzero(seen))


def loss_reduction(history: dict[str, Any]) -> float:
    """How much of the fingerprint loss the optimiser removed (not a separation quality).

    Args:
        history: an optimisation history, with its "initial" and "final" losses.

    Returns:
        1 - final / initial, or 0.0 when the initial loss is not positive.
    """
    return float(1.0 - history["final"] / history["initial"]) if history["initial"] > 0 else 0.0
