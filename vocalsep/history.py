"""The training record both U-Nets write: training.csv, a row an epoch, and its two-panel curve PNG.

The rows are whatever a train module's history holds (vocalsep.training.run_epochs appends one an
epoch); a `Curve` says which columns the PNG draws: losses on the left, scores on the right.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from .audio import atomic_write_bytes, write_text


@dataclass(frozen=True)
class Curve:
    """The training curve's two panels, drawn per epoch: losses left, scores right.

    losses, scores and floor map columns of the history to legend labels; floor's columns are
    drawn on the right as a flat line at their first epoch's value (a baseline to beat). The
    labels name the panels' y axes; score_limits, when given, are the right panel's (bottom, top).
    """

    title: str
    losses: dict
    loss_label: str
    scores: dict
    score_label: str
    floor: dict = field(default_factory=dict)
    score_limits: tuple | None = None


def write_history(
    history: list[dict], csv_path: str | Path, png_path: str | Path | None = None, curve: Curve | None = None
) -> None:
    """Write the training record and, given a png_path and a curve, its curve PNG (both atomically).

    Args:
        history: one row an epoch, each with an 'epoch' and the curve's columns.
        csv_path: training.csv: a row an epoch, the columns of the first row, numbers in full
            (empty when there is no row).
        png_path: the curve PNG, or None for none.
        curve: which columns the PNG draws, or None for no PNG.
    """
    out = io.StringIO()
    if history:
        writer = csv.DictWriter(out, fieldnames=list(history[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
    write_text(csv_path, out.getvalue())
    if png_path is None or curve is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for (column, label), marker in zip(curve.losses.items(), "osd^"):
        left.plot(epochs, [row[column] for row in history], marker=marker, label=label)
    for column, label in curve.scores.items():
        right.plot(epochs, [row[column] for row in history], marker="o", color="C2", label=label)
    for column, label in curve.floor.items():
        if history:
            right.axhline(history[0][column], color="grey", ls="--", label=label)
    left.set(xlabel="epoch", ylabel=curve.loss_label)
    right.set(xlabel="epoch", ylabel=curve.score_label)
    if curve.score_limits:
        right.set_ylim(*curve.score_limits)
    for ax in (left, right):
        ax.legend(), ax.grid(alpha=0.3)
    fig.suptitle(curve.title)
    fig.tight_layout()
    atomic_write_bytes(png_path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
