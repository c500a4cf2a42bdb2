"""Training of the image U-Net on a Carvana folder, resumable from per-epoch checkpoints.

BCE (or cross-entropy) + Dice loss, Adam, gradient clipping, learning rate reduced when the
validation Dice stops improving, mixed precision on CUDA only. Every epoch writes
checkpoints/checkpoint_epoch{N}.pth with model, optimizer, scheduler, scaler and RNG states;
a new run with the same settings continues after the last one, bit for bit as if it had
never stopped (on the same device and thread count).
"""

import copy
import csv
import hashlib
import io
import json
import logging
import random
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..audio import atomic_write_bytes, write_text
from ..device import pick_device
from ..errors import InputError
from ..settings import dataclass_from_dict
from ..models import UNet
from .data import CarvanaDataset, car_of, scan_pairs, split_by_car
from .metrics import dice_coeff, multiclass_dice, one_hot, predict_mask, segmentation_loss

LOG = logging.getLogger("vocalsep.carvana")
CHECKPOINT_RE = re.compile(r"^checkpoint_epoch(\d+)\.pth$")
# Settings that do not change what an epoch computes: a run may resume across changes of these.
RESUMABLE_CHANGES = ("epochs", "device", "keep_checkpoints")
# Channels-last activations: ~15% faster convolutions on the CPU, and what tensor cores want.
CHANNELS_LAST = torch.channels_last


@dataclass
class TrainSettings:
    """What a training run does (config.yaml's carvana.train section)."""

    epochs: int = 10
    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-6
    grad_clip: float = 1.0
    lr_patience: int = 2          # epochs without a better validation Dice before the LR drops
    lr_factor: float = 0.5
    scale: float = 0.5            # image scale used for training and prediction
    val_fraction: float = 0.15    # fractions of the cars (never of the views)
    test_fraction: float = 0.15
    n_classes: int = 1
    base_channels: int = 16
    depth: int = 4
    bilinear: bool = False
    flip: bool = True             # random left-right mirroring of training images
    amp: bool = True              # mixed precision (CUDA only)
    seed: int = 0
    device: str = "auto"
    keep_checkpoints: int = 0     # keep only the last N epochs' checkpoints (and the best one); 0: all

    @classmethod
    def from_dict(cls, values):
        return dataclass_from_dict(cls, values, "Carvana training")


def checkpoints_in(folder):
    """{epoch: path} of the checkpoint_epoch{N}.pth files in a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        match = CHECKPOINT_RE.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return found


def _fingerprint(settings, split, run_tag):
    """A hash of everything that fixes what each epoch computes; checkpoints resume only on a match."""
    content = {k: v for k, v in asdict(settings).items() if k not in RESUMABLE_CHANGES}
    content.update(split=split, run_tag=run_tag)
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def _save(obj, path):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))


def _prune(checkpoint_dir, history, keep):
    """Delete checkpoints older than the last `keep` epochs, except the best one so far."""
    best = max(history, key=lambda r: r["val_dice"])["epoch"]
    last = history[-1]["epoch"]
    for epoch, path in checkpoints_in(checkpoint_dir).items():
        if epoch <= last - keep and epoch != best:
            path.unlink()


def _load_checkpoint(path, device):
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # noqa: BLE001 - a truncated or foreign file
        raise InputError(path, f"is not a readable checkpoint ({type(err).__name__}: {err})") from None


def _rng_state(generator):
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
             "loader": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state, generator):
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    generator.set_state(state["loader"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def recalibrate_batchnorm(model, loader, device, max_batches=8):
    """Set batch-norm running statistics to their average over some training batches.

    With few steps per epoch the running averages (momentum 0.1) still remember their
    initial values and an eval-mode network predicts nothing at all in the first epochs;
    averaging over batches seen with the current weights fixes that ("precise BN").
    Forward passes only, no random numbers drawn.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for k, (images, _) in enumerate(loader):
            if k == max_batches:
                break
            model(images.to(device, memory_format=CHANNELS_LAST))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


def evaluate_dice(model, loader, device, amp):
    """Mean per-image Dice of thresholded (or argmax) predictions over a loader."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for images, masks in loader:
            images, masks = images.to(device, memory_format=CHANNELS_LAST), masks.to(device)
            with torch.autocast(device.type, enabled=amp):
                logits = model(images)
            pred = predict_mask(logits.float())
            if model.n_classes == 1:
                scores = [dice_coeff(p[None], m[None]) for p, m in zip(pred, masks)]
            else:  # foreground classes only
                scores = [multiclass_dice(one_hot(p[None], model.n_classes)[:, 1:],
                                          one_hot(m[None], model.n_classes)[:, 1:]) for p, m in zip(pred, masks)]
            total += float(sum(scores))
            count += len(scores)
    model.train()
    return total / max(count, 1)


def write_history(path, history):
    """training.csv: epoch, train_loss, val_dice, learning_rate, seconds."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["epoch", "train_loss", "val_dice", "learning_rate", "seconds"],
                            lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text(path, out.getvalue())


def plot_history(path, history):
    """training.png: training loss and validation Dice per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, [r["train_loss"] for r in history], marker="o")
    ax1.set(xlabel="epoch", ylabel="training loss (BCE + Dice)", title="Loss")
    ax2.plot(epochs, [r["val_dice"] for r in history], marker="o", color="tab:green")
    ax2.set(xlabel="epoch", ylabel="validation Dice", title="Validation Dice", ylim=(0, 1))
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write_bytes(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def train(data_dir, out_dir, settings, checkpoint_dir=None, run_tag="", progress=None):
    """Train (or resume training) on data_dir/imgs + masks; write the results into out_dir.

    Writes out_dir/split.json (train/val/test ids, by car), out_dir/training.csv,
    out_dir/training.png and out_dir/model.pth (the weights of the epoch with the best
    validation Dice), all at the end, so an interrupted run leaves none of them behind.
    Checkpoints and a training.csv updated every epoch go to checkpoint_dir (default
    out_dir/checkpoints).
    `run_tag` (e.g. a code hash) is part of what a checkpoint must match to be resumed.
    Returns a summary dict.
    """
    if isinstance(settings, dict):
        settings = TrainSettings.from_dict(settings)
    out_dir = Path(out_dir)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else out_dir / "checkpoints"
    device = pick_device(settings.device)
    amp = settings.amp and device.type == "cuda"

    pairs = scan_pairs(data_dir)
    train_ids, val_ids, test_ids = split_by_car([p[0] for p in pairs], settings.val_fraction,
                                                settings.test_fraction, settings.seed)
    split = {"train": train_ids, "val": val_ids, "test": test_ids}
    LOG.info("%d images of %d cars: %d train, %d validation, %d test images (split by car)", len(pairs),
             len({car_of(p[0]) for p in pairs}), len(train_ids), len(val_ids), len(test_ids))

    torch.manual_seed(settings.seed)
    np.random.seed(settings.seed)
    random.seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    by_id = {p[0]: p for p in pairs}
    train_set = CarvanaDataset([by_id[i] for i in train_ids], settings.scale, settings.n_classes,
                               flip=settings.flip, generator=generator)
    val_set = CarvanaDataset([by_id[i] for i in val_ids], settings.scale, settings.n_classes)
    train_loader = DataLoader(train_set, batch_size=settings.batch_size, shuffle=True, generator=generator,
                              drop_last=len(train_set) > settings.batch_size)
    val_loader = DataLoader(val_set, batch_size=settings.batch_size)
    plain_train = copy.copy(train_set)
    plain_train.flip = False
    calibration_loader = DataLoader(plain_train, batch_size=settings.batch_size)

    model = UNet(3, settings.n_classes, settings.bilinear, settings.base_channels, settings.depth)
    model = model.to(device, memory_format=CHANNELS_LAST)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=settings.lr_factor,
                                                           patience=settings.lr_patience)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    fingerprint = _fingerprint(settings, split, run_tag)

    history, start = [], 1
    found = checkpoints_in(checkpoint_dir)
    state, last = None, None
    for last in sorted(found, key=lambda e: (e <= settings.epochs, e), reverse=True):
        try:
            state = _load_checkpoint(found[last], device)
            break
        except InputError as err:  # e.g. a disk that filled up: fall back to the epoch before
            LOG.warning("%s; trying an earlier checkpoint", err)
    if state is not None:
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            _set_rng_state(state["rng"], generator)
            history, start = state["history"], state["epoch"] + 1
            LOG.info("resuming after epoch %d from %s", state["epoch"], found[last])
        else:
            LOG.warning("checkpoints in %s come from other settings or code: training from scratch", checkpoint_dir)
            for path in found.values():
                path.unlink()
            found = {}
    if any(e > settings.epochs for e in found):
        LOG.info("checkpoints after epoch %d are kept but not used by this run", settings.epochs)

    for epoch in range(start, settings.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        loss_sum, batches = 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{settings.epochs}", unit="batch", leave=False,
                   disable=None if progress is None else not progress)
        for images, masks in bar:
            images, masks = images.to(device, memory_format=CHANNELS_LAST), masks.to(device)
            with torch.autocast(device.type, enabled=amp):
                logits = model(images)
            loss = segmentation_loss(logits, masks)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            loss_sum += loss.item()
            batches += 1
            bar.set_postfix(loss=f"{loss.item():.3f}")
        recalibrate_batchnorm(model, calibration_loader, device)
        val_dice = evaluate_dice(model, val_loader, device, amp)
        scheduler.step(val_dice)
        row = {"epoch": epoch, "train_loss": loss_sum / max(batches, 1), "val_dice": val_dice,
               "learning_rate": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
        history.append(row)
        LOG.info("epoch %d: loss %.4f, validation Dice %.4f, lr %.2g, %.1f s", epoch, row["train_loss"],
                 val_dice, row["learning_rate"], row["seconds"])
        _save({"epoch": epoch, "fingerprint": fingerprint, "model_config": model.config(),
               "scale": settings.scale, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
               "rng": _rng_state(generator), "history": history, "settings": asdict(settings)},
              checkpoint_dir / f"checkpoint_epoch{epoch}.pth")
        write_history(checkpoint_dir / "training.csv", history)  # progress; out_dir gets it at the end
        if settings.keep_checkpoints > 0:
            _prune(checkpoint_dir, history, settings.keep_checkpoints)

    history = history[: settings.epochs]
    if not history:
        raise ValueError("no epoch was trained (epochs must be at least 1)")
    available = checkpoints_in(checkpoint_dir)
    best = max((r for r in history if r["epoch"] in available), key=lambda r: r["val_dice"])
    best_state = _load_checkpoint(checkpoint_dir / f"checkpoint_epoch{best['epoch']}.pth", "cpu")
    _save({"model_config": best_state["model_config"], "model": best_state["model"], "scale": settings.scale,
           "epoch": best["epoch"], "val_dice": best["val_dice"], "settings": asdict(settings)},
          out_dir / "model.pth")
    write_history(out_dir / "training.csv", history)
    write_text(out_dir / "split.json", json.dumps(split, indent=1) + "\n")
    plot_history(out_dir / "training.png", history)
    LOG.info("model.pth: epoch %d, validation Dice %.4f", best["epoch"], best["val_dice"])
    return {"epochs": len(history), "resumed_from": start - 1, "best_epoch": best["epoch"],
            "val_dice": best["val_dice"], "history": history, "device": str(device)}
