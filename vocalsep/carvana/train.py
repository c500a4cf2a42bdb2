"""Training of the image U-Net on a Carvana folder, resumable from per-epoch checkpoints.

BCE (or cross-entropy) + Dice loss, Adam, gradient clipping, learning rate reduced when the
validation Dice stops improving, mixed precision on CUDA only. Every epoch writes
checkpoints/checkpoint_epoch{N}.pth with model, optimizer, scheduler, scaler and RNG states;
a new run with the same settings continues after the last one, bit for bit as if it had
never stopped (on the same device and thread count). The checkpoints, the resume rule and the
epoch loop are vocalsep.training's; this module wires in the data, loss, Dice and network.
"""

import copy
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Self

import torch
from torch.utils.data import DataLoader

from ..audio import write_text
from ..device import pick_device
from ..history import Curve, write_history
from ..models import UNet
from ..settings import dataclass_from_dict
from ..training import (
    Checkpointer,
    EpochPlan,
    TrainState,
    atomic_save,
    optimise,
    read_checkpoint,
    run_epochs,
    seed_everything,
    settings_hash,
)
from .data import CarvanaDataset, car_of, scan_pairs, split_by_car
from .metrics import dice_coeff, multiclass_dice, one_hot, predict_mask, segmentation_loss

LOG = logging.getLogger("vocalsep.carvana")
CHECKPOINT_NAME = "checkpoint_epoch{epoch}.pth"
# Settings that do not change what an epoch computes: a run may resume across changes of these.
RESUMABLE_CHANGES = ("epochs", "device", "keep_checkpoints")
CURVE = Curve(title="Carvana U-Net training", losses={"train_loss": "training"},
              loss_label="training loss (BCE + Dice)", scores={"val_dice": "validation"},
              score_label="validation Dice", score_limits=(0, 1))
# Channels-last activations: faster convolutions on the CPU, and the layout tensor cores want.
CHANNELS_LAST = torch.channels_last


@dataclass
class TrainSettings:
    """What a training run does (config.yaml's carvana.train section).

    Sizes of the network (base_channels, depth, bilinear, n_classes) are UNet's arguments;
    scale is the image scale of both training and prediction; the fractions are of the cars,
    never of the views. All settings but epochs, device and keep_checkpoints fix what an
    epoch computes, so a run resumes only from checkpoints made with the same values.
    """

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
    def from_dict(cls, values: dict) -> Self:
        """Settings from a mapping (a config section), defaults for the keys it lacks.

        Args:
            values: {setting name: value}.

        Returns:
            The settings.

        Raises:
            ValueError: on a key that is not a setting (a misspelt setting).
        """
        return dataclass_from_dict(cls, values, "Carvana training")


def checkpoints_in(folder: str | Path) -> dict[int, Path]:
    """The per-epoch checkpoints of a training run.

    Args:
        folder: the run's checkpoint folder.

    Returns:
        {epoch: path} of the checkpoint_epoch{N}.pth files in the folder.
    """
    return Checkpointer(folder, CHECKPOINT_NAME).files()


def _settings_hash(settings, split, run_tag):
    """A hash of everything that fixes what each epoch computes; checkpoints resume only on a match."""
    content = {k: v for k, v in asdict(settings).items() if k not in RESUMABLE_CHANGES}
    content.update(split=split, run_tag=run_tag)
    return settings_hash(content)


def recalibrate_batchnorm(model: torch.nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
                          device: torch.device, max_batches: int = 8) -> None:
    """Set batch-norm running statistics to their average over some training batches.

    With few steps per epoch the running averages (momentum 0.1) still remember their
    initial values and an eval-mode network predicts nothing at all in the first epochs;
    averaging over batches seen with the current weights fixes that ("precise BN").
    Forward passes only, no random numbers drawn. Leaves the model in training mode.

    Args:
        model: the network, on `device`.
        loader: (images, masks) batches of training images, unmirrored; masks are not used.
        device: where the images go.
        max_batches: the most batches to average over.
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


def evaluate_dice(model: UNet, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device,
                  amp: bool) -> float:
    """Mean per-image Dice of thresholded (or argmax) predictions over a loader.

    With several classes each image's Dice is the mean over its foreground classes.
    The model is left in training mode.

    Args:
        model: the network, on `device`.
        loader: (images (N, 3, H, W), masks (N, H, W)) batches.
        device: where the batches go.
        amp: predict in mixed precision (autocast).

    Returns:
        The mean Dice over all images of the loader (0 for an empty loader).
    """
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


def train(data_dir: str | Path, out_dir: str | Path, settings: TrainSettings | dict,
          checkpoint_dir: str | Path | None = None, run_tag: str = "", progress: bool | None = None) -> dict:
    """Train (or resume training) on data_dir/imgs + masks; write the results into out_dir.

    Writes out_dir/split.json (train/val/test ids, by car), out_dir/training.csv,
    out_dir/training.png and out_dir/model.pth (the weights of the epoch with the best
    validation Dice), all at the end, so an interrupted run leaves none of them behind.
    Checkpoints and a training.csv updated every epoch go to checkpoint_dir.

    Args:
        data_dir: a Carvana folder (imgs/, masks/).
        out_dir: the folder for the results.
        settings: the training settings, or a mapping of them (as TrainSettings.from_dict).
        checkpoint_dir: the folder of the checkpoints (default out_dir/checkpoints).
        run_tag: a tag (e.g. a code hash) a checkpoint must match to be resumed.
        progress: a progress bar per epoch (None: when the output is a terminal).

    Returns:
        A summary: "epochs" (in the history, resumed ones included), "resumed_from" (the last
        epoch found, 0 for a fresh run), "best_epoch", its "val_dice", "history" (one row an
        epoch) and "device".

    Raises:
        InputError: on a problem with an input file (see scan_pairs).
        ValueError: on unknown settings, too few cars for the split, or epochs below 1.
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

    seed_everything(settings.seed)
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
    state = TrainState(model, optimizer, scheduler, torch.amp.GradScaler(device.type, enabled=amp),
                       torch_rngs=(generator,))
    checkpointer = Checkpointer(checkpoint_dir, CHECKPOINT_NAME, key=_settings_hash(settings, split, run_tag),
                                keep=settings.keep_checkpoints,
                                extra={"model_config": model.config(), "scale": settings.scale,
                                       "settings": asdict(settings)})
    last = checkpointer.resume(state, settings.epochs)

    def step(batch):
        images, masks = batch
        images, masks = images.to(device, memory_format=CHANNELS_LAST), masks.to(device)
        with torch.autocast(device.type, enabled=amp):
            logits = model(images)
        return optimise(state, segmentation_loss(logits, masks), clip=settings.grad_clip)

    def validate():
        recalibrate_batchnorm(model, calibration_loader, device)
        return {"val_dice": evaluate_dice(model, val_loader, device, amp)}

    def row(epoch, train_loss, metrics, seconds):
        return {"epoch": epoch, "train_loss": train_loss, **metrics,
                "learning_rate": optimizer.param_groups[0]["lr"], "seconds": seconds}

    start = 1 if last is None else last + 1
    plan = EpochPlan(train_loader, step, validate, row, score="val_dice", curve=CURVE)
    # progress in checkpoint_dir every epoch; out_dir gets the record at the end
    history = run_epochs(state, plan, checkpointer, start, settings.epochs, checkpoint_dir / "training.csv",
                         progress=progress)[: settings.epochs]
    if not history:
        raise ValueError("no epoch was trained (epochs must be at least 1)")
    available = checkpoints_in(checkpoint_dir)
    best = max((r for r in history if r["epoch"] in available), key=lambda r: r["val_dice"])
    best_state = read_checkpoint(available[best["epoch"]])
    atomic_save({"model_config": best_state["model_config"], "model": best_state["model"], "scale": settings.scale,
                 "epoch": best["epoch"], "val_dice": best["val_dice"], "settings": asdict(settings)},
                out_dir / "model.pth")
    write_history(history, out_dir / "training.csv", out_dir / "training.png", CURVE)
    write_text(out_dir / "split.json", json.dumps(split, indent=1) + "\n")
    LOG.info("model.pth: epoch %d, validation Dice %.4f", best["epoch"], best["val_dice"])
    return {"epochs": len(history), "resumed_from": start - 1, "best_epoch": best["epoch"],
            "val_dice": best["val_dice"], "history": history, "device": str(device)}
