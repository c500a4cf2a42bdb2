"""Training checkpoints both U-Nets share: what a checkpoint holds, how it is read, the resume rule.

Every epoch a checkpoint (model, optimizer, LR schedule, grad scaler, the random streams of python,
numpy and torch, the history) is written atomically, its contents plain tensors, dicts, lists and
numbers so that `torch.load(..., weights_only=True)` reads it back without unpickling code.
`Checkpointer.resume` is the one resume rule.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..audio import atomic_write_bytes
from ..errors import InputError

LOG = logging.getLogger("vocalsep.training")
# What a training checkpoint holds besides what its train module adds.
CHECKPOINT_KEYS = ("epoch", "model", "optimizer", "scheduler", "scaler", "rng", "history", "best_epoch",
                   "best_score", "elapsed", "settings_key", "fixed")


def settings_hash(values: dict) -> str:
    """A short fingerprint of settings: equal settings, equal hash.

    Args:
        values: JSON-serialisable settings.

    Returns:
        16 hex digits of SHA-256 over `values` as sorted JSON.
    """
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save(obj) to path through a temporary file and os.replace: never half a file there.

    Args:
        obj: what to save.
        path: the file to write.
    """
    atomic_write_bytes(path, lambda tmp: torch.save(obj, tmp))


def read_checkpoint(path: str | Path, keys: Iterable[str] = CHECKPOINT_KEYS) -> dict:
    """Load a checkpoint on the CPU without unpickling code, checking it holds `keys`.

    Args:
        path: the checkpoint file.
        keys: the entries it must hold.

    Returns:
        The checkpoint dict.

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
    """The random streams of python, numpy and torch, as plain numbers, lists and tensors.

    Args:
        numpy_rngs: numpy generators saved besides numpy's global stream.
        torch_rngs: torch generators saved besides torch's CPU and CUDA streams.

    Returns:
        The state, for `set_rng_state`.
    """
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
    """Put back the streams saved by `rng_state`.

    Args:
        state: as from `rng_state`.
        numpy_rngs: the same numpy generators as saved, in the same order.
        torch_rngs: the same torch generators as saved, in the same order.
    """
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
    """Seed python's, numpy's global and torch's random streams.

    Args:
        seed: the seed of all three.
    """
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
        """What a checkpoint saves of the state, random streams included.

        Returns:
            Plain tensors, dicts, lists and numbers.
        """
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict() if self.scaler else {},
                "rng": rng_state(self.numpy_rngs, self.torch_rngs), "history": self.history,
                "best_epoch": self.best_epoch, "best_score": self.best_score, "elapsed": self.elapsed}

    def load_state_dict(self, saved: dict) -> None:
        """Put back a state saved by `state_dict`.

        Args:
            saved: a checkpoint holding the entries of `state_dict`.
        """
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        if self.scaler is not None:
            self.scaler.load_state_dict(saved["scaler"])
        set_rng_state(saved["rng"], self.numpy_rngs, self.torch_rngs)
        self.history, self.elapsed = list(saved["history"]), saved["elapsed"]
        self.best_epoch, self.best_score = saved["best_epoch"], saved["best_score"]

    def improves(self, score: float) -> bool:
        """Whether `score` beats the best so far; until a score is finite every epoch does.

        Args:
            score: the epoch's score (higher is better).

        Returns:
            True when the epoch is the new best.
        """
        return not math.isfinite(self.best_score) or (math.isfinite(score) and score > self.best_score)



class Checkpointer:
    """Training checkpoints in a folder: one file an epoch, or one file rewritten every epoch.

    Args:
        folder: where the checkpoints go.
        name: file name; with "{epoch}" in it one file an epoch, else one file.
        key: settings_hash of the settings that fix what an epoch computes.
        fixed: settings that fix the network itself (plain values); others refuse a resume.
        keep: keep only the last `keep` per-epoch files and the best one (0: all).
        best_name: a file also given the weights of each new best epoch ({"model", "epoch", score}).
        extra: plain entries stored in every checkpoint (e.g. what rebuilds the model).
    """

    def __init__(self, folder: str | Path, name: str, key: str = "", fixed: dict | None = None, keep: int = 0,
                 best_name: str | None = None, extra: dict | None = None):
        self.folder, self.name, self.key, self.fixed = Path(folder), name, key, dict(fixed or {})
        self.keep, self.best_name, self.extra = keep, best_name, dict(extra or {})
        self.pattern = re.compile("^" + re.escape(name).replace(re.escape("{epoch}"), r"(\d+)") + "$")

    def path(self, epoch: int) -> Path:
        """The checkpoint file of an epoch.

        Args:
            epoch: the epoch (ignored without "{epoch}" in the name).

        Returns:
            folder / name, the epoch filled in.
        """
        return self.folder / self.name.format(epoch=epoch)

    def files(self) -> dict[int, Path]:
        """The checkpoint files there are.

        Returns:
            {epoch: path} of the per-epoch files; {-1: path} for an existing single file.
        """
        if "{epoch}" not in self.name:
            return {-1: self.folder / self.name} if (self.folder / self.name).is_file() else {}
        if not self.folder.is_dir():
            return {}
        found = (self.pattern.match(p.name) for p in self.folder.iterdir())
        return {int(m.group(1)): self.folder / m.group(0) for m in found if m}

    def latest(self, epochs: int) -> tuple[Path, dict] | None:
        """The newest readable checkpoint, those of epochs <= `epochs` first.

        An unreadable one is passed over for the one before.

        Args:
            epochs: the last epoch of this run.

        Returns:
            (path, contents), or None where there is no checkpoint.

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
        """The one resume rule: load the newest readable checkpoint (see `latest`) into `state`.

        Where its settings key differs (other settings or code), the checkpoints are deleted.

        Args:
            state: the fresh training state, loaded in place.
            epochs: the last epoch of this run.

        Returns:
            The epoch loaded, or None (no checkpoint, or deleted ones): train from the start.
        """
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
        """Checkpoint an epoch, then drop per-epoch files older than the last `keep`, except the best.

        Args:
            epoch: the epoch just done.
            state: the training state to save.
            best: {score name: value} when the epoch is a new best: the best file is written first.
        """
        if best is not None and self.best_name:
            atomic_save({"model": state.model.state_dict(), "epoch": epoch, **best}, self.folder / self.best_name)
        atomic_save({**self.extra, "epoch": epoch, "settings_key": self.key, "fixed": self.fixed,
                     **state.state_dict()}, self.path(epoch))
        if self.keep > 0 and "{epoch}" in self.name:
            for old, path in self.files().items():
                if old <= epoch - self.keep and old != state.best_epoch:
                    path.unlink()
