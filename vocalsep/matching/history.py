"""Summaries of an optimisation history (the dict that optimise.optimise_mask returns)."""

import numpy as np

# the numeric entries of a history, averaged over a song's chunks
CURVES = ("profile", "total", "per_view", "initial", "final", "initial_per_view", "final_per_view")


def average(weighted):
    """The curves of chunk histories averaged: weighted is [(weight, history)], the weights the
    chunks' shares of the song (summing to 1)."""
    return {k: sum(w * h[k] for w, h in weighted) for k in CURVES}


def checked_views(history):
    """Which views the losses at both ends were evaluated on, in words."""
    seen = ~np.isnan(np.asarray(history["final_per_view"], dtype=float)).all(axis=0)  # (views,)
    if seen.all():
        return "all views"
    return "views " + ", ".join(str(k) for k in np.flatnonzero(seen))


def loss_reduction(history):
    """1 - final / initial fingerprint loss: how much of the loss the optimiser removed (not quality)."""
    return float(1.0 - history["final"] / history["initial"]) if history["initial"] > 0 else 0.0
