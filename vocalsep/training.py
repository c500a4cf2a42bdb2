"""The training core both U-Nets share: checkpoints, the training record, the epoch loop.

A train module (vocalsep.unet.train, vocalsep.carvana.train) keeps its data, loss, metric and model
and hands them to `run_epochs` as an `EpochPlan`; this module does the rest the same way for both:

- `Checkpointer`: every epoch a checkpoint (model, optimizer, LR schedule, grad scaler, the random
  streams of python, numpy and torch, the history) written atomically, its contents plain tensors,
  dicts, lists and numbers so that `torch.load(..., weights_only=True)` reads it back without
  unpickling code. One resume rule (`Checkpointer.resume`).
- `write_history` (vocalsep.history): training.csv (a row an epoch) and the curve PNG.
- `run_epochs`: train, validate, step the LR schedule, record, keep the best, checkpoint.

A run resumed from a checkpoint continues with the same optimizer state and random streams, so it
ends where an uninterrupted run would (on the same device and thread count).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from .audio import atomic_write_bytes
from .errors import InputError
from .history import Curve, write_history

LOG = logging.getLogger("vocalsep.training")
# What a training checkpoint holds besides what its train module adds.
CHECKPOINT_KEYS = ("epoch", "model", "optimizer", "scheduler", "scaler", "rng", "history", "best_epoch",
                   "best_score", "elapsed", "settings_key", "fixed")


def settings_hash(values: dict) -> str:
    """16 hex digits of SHA-256 over `values` as sorted JSON: equal settings, equal hash."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def atomic_save(obj, path: str | Path) -> None:
    """torch.save(obj) to path through a temporary file and os.replace: never half a file there."""
    atomic_write_bytes(path, lambda tmp: torch.save(obj, tmp))


def read_checkpoint(path: str | Path, keys: Iterable[str] = CHECKPOINT_KEYS) -> dict:
    """A checkpoint dict holding `keys`, loaded on the CPU without unpickling code.

    Raises:
        InputError: naming the file, when it is truncated, foreign, or of an older format.
    """
    path = Path(path)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        missing = [k for k in keys if k not in saved] if isinstance(saved, dict) else ["all"]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
    except Exception as err:  # noqa: BLE001 - any failure to read it means it is unusable
        raise InputError(path, f"training checkpoint is corrupt or foreign, or of an older format "
                               f"({type(err).__name__}); delete {path.parent} to start the training over") from None
    return saved


def rng_state(numpy_rngs: Iterable[np.random.Generator] = (),
              torch_rngs: Iterable[torch.Generator] = ()) -> dict:
    """The random streams of python, numpy (global and `numpy_rngs`), torch (CPU, CUDA, `torch_rngs`),
    as plain numbers, lists and tensors."""
    legacy = np.random.get_state(legacy=False)
    legacy["state"] = {"key": legacy["state"]["key"].tolist(), "pos": legacy["state"]["pos"]}
    state = {"python": random.getstate(), "numpy_global": legacy,
             "numpy": [g.bit_generator.state for g in numpy_rngs], "torch": torch.get_rng_state(),
             "torch_generators": [g.get_state() for g in torch_rngs], "cuda": []}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, numpy_rngs: Iterable[np.random.Generator] = (),
                  torch_rngs: Iterable[torch.Generator] = ()) -> None:
    """Put back streams saved by `rng_state` (the same generators, in the same order)."""
    random.setstate(state["python"])
    legacy = dict(state["numpy_global"])
    legacy["state"] = {"key": np.asarray(legacy["state"]["key"], np.uint32), "pos": legacy["state"]["pos"]}
    np.random.set_state(legacy)
    for generator, saved in zip(numpy_rngs, state["numpy"], strict=True):
        generator.bit_generator.state = saved
    torch.set_rng_state(state["torch"].cpu())
    for generator, saved in zip(torch_rngs, state["torch_generators"], strict=True):
        generator.set_state(saved.cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's global and torch's random streams."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainState:
    """What a checkpoint saves and a resume puts back. best_epoch/best_score: the epoch with the
    highest finite score so far (the first of equals); elapsed: seconds of training so far."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any                                  # an LR scheduler, ReduceLROnPlateau included
    scaler: torch.amp.GradScaler | None = None      # mixed precision's loss scaler
    numpy_rngs: tuple = ()                          # np.random.Generator streams of the data
    torch_rngs: tuple = ()                          # torch.Generator streams of the data
    history: list = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -math.inf
    elapsed: float = 0.0

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict() if self.scaler else {},
                "rng": rng_state(self.numpy_rngs, self.torch_rngs), "history": self.history,
                "best_epoch": self.best_epoch, "best_score": self.best_score, "elapsed": self.elapsed}

    def load_state_dict(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        if self.scaler is not None:
            self.scaler.load_state_dict(saved["scaler"])
        set_rng_state(saved["rng"], self.numpy_rngs, self.torch_rngs)
        self.history, self.elapsed = list(saved["history"]), saved["elapsed"]
        self.best_epoch, self.best_score = saved["best_epoch"], saved["best_score"]

    def improves(self, score: float) -> bool:
        """Whether `score` beats the best so far; until a score is finite every epoch does."""
        return not math.isfinite(self.best_score) or (math.isfinite(score) and score > self.best_score)


def optimise(state: TrainState, loss: torch.Tensor, clip: float | None = None) -> float:
    """One optimizer step on `loss` (through the scaler if any; gradient norm clipped to `clip` if
    given); returns the loss as a float."""
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


class Checkpointer:
    """Training checkpoints in `folder`, named `name`: with "{epoch}" in it one file an epoch
    (optionally only the last `keep` and the best one kept), else one file rewritten every epoch.

    key: settings_hash of the settings that fix what an epoch computes; fixed: settings that fix
    the network itself (plain values); extra: plain entries stored in every checkpoint (e.g. what
    rebuilds the model). best_name: a file also given the weights of each new best epoch
    ({"model", "epoch", score}).
    """

    def __init__(self, folder, name: str, key: str = "", fixed: dict | None = None, keep: int = 0,
                 best_name: str | None = None, extra: dict | None = None):
        self.folder, self.name, self.key, self.fixed = Path(folder), name, key, dict(fixed or {})
        self.keep, self.best_name, self.extra = keep, best_name, dict(extra or {})
        self.pattern = re.compile("^" + re.escape(name).replace(re.escape("{epoch}"), r"(\d+)") + "$")

    def path(self, epoch: int) -> Path:
        return self.folder / self.name.format(epoch=epoch)

    def files(self) -> dict[int, Path]:
        """{epoch: path} of the per-epoch files; {-1: path} for an existing single file."""
        if "{epoch}" not in self.name:
            return {-1: self.folder / self.name} if (self.folder / self.name).is_file() else {}
        if not self.folder.is_dir():
            return {}
        found = (self.pattern.match(p.name) for p in self.folder.iterdir())
        return {int(m.group(1)): self.folder / m.group(0) for m in found if m}

    def latest(self, epochs: int) -> tuple[Path, dict] | None:
        """(path, contents) of the newest readable checkpoint, those of epochs <= `epochs` first;
        an unreadable one is passed over for the one before. None where there is none.

        Raises:
            InputError: checkpoints exist but none is readable (the newest is named), or the newest
                readable one was trained with other `fixed` settings.
        """
        found = self.files()
        order = sorted(found, key=lambda e: (e <= epochs, e), reverse=True)
        first_error = None
        for k, epoch in enumerate(order):
            try:
                saved = read_checkpoint(found[epoch])
            except InputError as err:  # e.g. a foreign file: fall back to the epoch before
                if k + 1 < len(order):
                    LOG.warning("%s; trying an earlier checkpoint", err)
                first_error = first_error or err
                continue
            changed = [f"{k}: {saved['fixed'].get(k)!r} -> {v!r}" for k, v in self.fixed.items()
                       if saved["fixed"].get(k) != v]
            if changed:
                raise InputError(found[epoch], f"was trained with other settings ({', '.join(changed)}); set them "
                                               f"back to resume, or delete {self.folder} to start a new training")
            return found[epoch], saved
        if first_error:
            raise first_error
        return None

    def resume(self, state: TrainState, epochs: int) -> int | None:
        """The one resume rule: load the newest readable checkpoint (see `latest`) into `state` and
        return its epoch; where its settings key differs (other settings or code), delete the
        checkpoints and return None, as where there are none."""
        found = self.latest(epochs)
        if found is None:
            return None
        path, saved = found
        if saved["settings_key"] != self.key:
            LOG.warning("checkpoints in %s come from other settings or code: training from scratch", self.folder)
            best = [self.folder / self.best_name] if self.best_name else []
            for stale in [*self.files().values(), *best]:
                stale.unlink(missing_ok=True)
            return None
        state.load_state_dict(saved)
        LOG.info("resuming after epoch %d from %s", saved["epoch"], path)
        if any(e > epochs for e in self.files()):
            LOG.info("checkpoints after epoch %d are kept but not used by this run", epochs)
        return saved["epoch"]

    def save(self, epoch: int, state: TrainState, best: dict | None = None) -> None:
        """Checkpoint `epoch`; first the best file when `best` ({score: value}) is given; then drop
        per-epoch files older than the last `keep`, except the best epoch's."""
        if best is not None and self.best_name:
            atomic_save({"model": state.model.state_dict(), "epoch": epoch, **best}, self.folder / self.best_name)
        atomic_save({**self.extra, "epoch": epoch, "settings_key": self.key, "fixed": self.fixed,
                     **state.state_dict()}, self.path(epoch))
        if self.keep > 0 and "{epoch}" in self.name:
            for old, path in self.files().items():
                if old <= epoch - self.keep and old != state.best_epoch:
                    path.unlink()


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
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(score)  # it follows the score
    else:
        scheduler.step()


def run_epochs(state: TrainState, plan: EpochPlan, checkpointer: Checkpointer, start: int, epochs: int,
               csv_path, png_path=None, progress: bool | None = True, stop_after: int | None = None) -> list[dict]:
    """Epochs start..epochs; returns the history. Epoch 0, where asked for, validates the starting
    model without a step. Every epoch: train on plan.batches, validate, step the LR schedule,
    append the row, keep the best, checkpoint (see Checkpointer.save), write the history.

    progress: a bar per epoch (None: where the output is a terminal). stop_after: end after this
    many trained epochs of this call, as a kill would (to test resuming).
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
