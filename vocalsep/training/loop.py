"""The epoch loop both U-Nets share: train, validate, schedule, record, keep the best, checkpoint.

A train module (vocalsep.unet.train, vocalsep.carvana.train) keeps its data, loss, metric and model
and hands them to `run_epochs` as an `EpochPlan`; this module does the rest the same way for both:

- `Checkpointer` (vocalsep.training.checkpoint): every epoch a checkpoint written atomically and
  read back without unpickling code; one resume rule.
- `write_history` (vocalsep.history): training.csv (a row an epoch) and the curve PNG.
- `run_epochs`: train, validate, step the LR schedule, record, keep the best, checkpoint.

A run resumed from a checkpoint continues with the same optimizer state and random streams, so it
ends where an uninterrupted run would (on the same device and thread count).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..history import Curve, write_history
from .checkpoint import Checkpointer, TrainState

LOG = logging.getLogger("vocalsep.training")


def optimise(state: TrainState, loss: torch.Tensor, clip: float | None = None) -> float:
    """One optimizer step on `loss`, through the state's grad scaler if it has one.

    Args:
        state: holds the model, the optimizer and the scaler.
        loss: the batch's loss, a scalar tensor.
        clip: clip the gradient norm to this value (None: no clipping).

    Returns:
        The loss as a float.
    """
    state.optimizer.zero_grad(set_to_none=True)
    scaler = state.scaler
    (scaler.scale(loss) if scaler else loss).backward()
    if clip is not None:
        if scaler:
            scaler.unscale_(state.optimizer)
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), clip)
    if scaler:
        scaler.step(state.optimizer)
        scaler.update()
    else:
        state.optimizer.step()
    return loss.item()



class Draws:
    """A sized iterable of `count` calls of draw(): batches sampled as they are used."""

    def __init__(self, draw: Callable[[], Any], count: int):
        self.draw, self.count = draw, count

    def __len__(self):
        return self.count

    def __iter__(self):
        return (self.draw() for _ in range(self.count))


@dataclass
class EpochPlan:
    """What a train module gives the loop.

    batches: iterated once an epoch; step(batch) -> loss (e.g. by `optimise`); validate() -> {name:
    value} of the epoch's model; row(epoch, train_loss, metrics, seconds) -> the history row;
    score: the metric whose highest value makes the best epoch (and that ReduceLROnPlateau
    follows); train_mode() puts the model in training mode (default model.train()).
    """

    batches: Iterable
    step: Callable[[Any], float]
    validate: Callable[[], dict]
    row: Callable[[int, float, dict, float], dict]
    score: str
    curve: Curve | None = None
    train_mode: Callable[[], None] | None = None


def _train_epoch(state: TrainState, plan: EpochPlan, desc: str, progress: bool | None) -> float:
    """One pass over plan.batches in training mode; the mean loss (nan without a batch)."""
    (plan.train_mode or state.model.train)()
    losses = []
    bar = tqdm(plan.batches, desc=desc, unit="batch", mininterval=5, leave=False,
               disable=None if progress is None else not progress)
    for batch in bar:
        losses.append(plan.step(batch))
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", refresh=False)
    return float(np.mean(losses)) if losses else math.nan


def _step_schedule(scheduler, score: float) -> None:
    """Step the LR schedule once an epoch."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(score)  # it follows the score
    else:
        scheduler.step()


def run_epochs(state: TrainState, plan: EpochPlan, checkpointer: Checkpointer, start: int, epochs: int,
               csv_path: str | Path, png_path: str | Path | None = None, progress: bool | None = True,
               stop_after: int | None = None) -> list[dict]:
    """Run epochs start..epochs: train, validate, step the LR schedule, record, keep the best, checkpoint.

    Epoch 0, where asked for, validates the starting model without a step.

    Args:
        state: the training state (resumed or fresh); updated in place.
        plan: the train module's data, step, validation and row.
        checkpointer: saves each epoch (see Checkpointer.save).
        start: the first epoch to run.
        epochs: the last epoch.
        csv_path: training.csv, rewritten every epoch.
        png_path: the curve PNG, rewritten every epoch (None: none).
        progress: a bar per epoch (None: where the output is a terminal).
        stop_after: end after this many trained epochs of this call, as a kill would (to test resuming).

    Returns:
        The history: one row per epoch, those of earlier runs included.
    """
    trained = 0
    for epoch in range(start, epochs + 1):
        if epoch > 0 and stop_after is not None and trained >= stop_after:
            break
        t0, train_loss = time.perf_counter(), math.nan
        if epoch > 0:
            train_loss = _train_epoch(state, plan, f"epoch {epoch}/{epochs}", progress)
            trained += 1
        metrics = plan.validate()
        score = metrics[plan.score]
        if epoch > 0:
            _step_schedule(state.scheduler, score)
        seconds = time.perf_counter() - t0
        state.elapsed += seconds
        row = plan.row(epoch, train_loss, metrics, seconds)
        state.history.append(row)
        LOG.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"))
        best = state.improves(score)
        if best:
            state.best_epoch, state.best_score = epoch, score if math.isfinite(score) else state.best_score
        checkpointer.save(epoch, state, {plan.score: score} if best else None)
        write_history(state.history, csv_path, png_path, plan.curve)
    return state.history
