"""Training of the vocal U-Net (Spleeter's 2-stem network): fine-tuning or from scratch, resumable.

On the 22.05 kHz grid (HALF_RATE_GRID), each step feeds mono patches of `patch_frames` frames,
duplicated to two channels, and minimises Spleeter's loss: over both sources, the mean absolute
difference between the net's output (mask x mixture magnitude) and the source's magnitude.
`init: pretrained` starts from Deezer's weights, `scratch` from a fresh seeded VocalUNet.

Epoch 0 validates the starting model; every epoch writes, in `out_dir`, checkpoints/last.pt (model,
optimizer, RNG states, history), training.csv and curve.png, and keeps the weights with the best
median validation vocal SDR in checkpoints/best.pt. Validation separates whole held-out songs as
inference does (`separate_grid`, POSTPROCESS["default"]) and scores them (`evaluate.score`). A killed
run, rerun with the same settings, continues after its last finished epoch with the same optimizer
state and random streams (vocalsep.training), as an uninterrupted run would. `export` writes the model file.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..device import pick_device
from ..errors import InputError
from ..evaluate import score
from ..models.vocal_unet import VocalUNet
from ..settings import dataclass_from_dict
from ..stft import HALF_RATE_GRID, StftGrid, grid_stft, padded
from ..training import (
    Checkpointer,
    Draws,
    EpochPlan,
    TrainState,
    optimise,
    read_checkpoint,
    run_epochs,
    seed_everything,
)
from .data import PatchSampler, PathLike, Track, gather_tracks, song_of, split_by_song
from .history import CURVE
from .model_file import export_model
from .separate import POSTPROCESS, Postprocess, estimate, separate_grid

log = logging.getLogger("vocalsep.unet.train")

GRID = HALF_RATE_GRID
VALIDATION = POSTPROCESS["default"]  # how validation songs are separated: as `separate` does
INITS = ("pretrained", "scratch")
# Settings that fix the network or how it was trained: a checkpoint with others is refused.
ARCHITECTURE = ("init", "width", "depth", "freeze_norm")


@dataclass
class TrainSettings:
    """Settings of a training run (config.yaml's `unet: train: settings:`, `unet-train --settings`).

    Each field's meaning is in its comment; init "pretrained" fixes width 16 and depth 6.
    """

    init: str = "pretrained"      # "pretrained": Deezer's Spleeter weights; "scratch": a fresh network
    width: int = 16               # first encoder step's channels (scratch only; Spleeter's: 16)
    depth: int = 6                # encoder steps (scratch only; Spleeter's: 6)
    epochs: int = 10
    steps_per_epoch: int = 100
    batch_size: int = 4
    patch_frames: int = 256       # STFT frames per patch (x 512 / 22050 Hz = 5.9 s), a multiple of 64;
                                  # half Spleeter's 512 (its T) halves a step on a CPU
    lr: float = 1e-4              # Adam (Spleeter's learning rate)
    lr_decay: float = 1.0         # learning rate multiplied by this after every epoch
    freeze_norm: bool = True      # pretrained only: batch norms keep Spleeter's running statistics
    remix: float = 0.5            # probability of a vocal over another song's accompaniment
    gain_db: float = 6.0          # random gain per source, +/- dB
    seed: int = 0
    threads: int = 0              # torch CPU threads (0: torch's default)
    extra: dict = field(default_factory=dict)  # free-form notes stored with the model

    def __post_init__(self):
        if self.init not in INITS:
            raise ValueError(f"training init must be one of {', '.join(INITS)}, not {self.init!r}")
        if self.init == "pretrained" and (self.width, self.depth) != (16, 6):
            raise ValueError("init: pretrained is Spleeter's network (width 16, depth 6); "
                             "set init: scratch to train another size")

    @classmethod
    def from_dict(cls, values: dict) -> TrainSettings:
        """Settings from a mapping of field names; fields left out take their defaults.

        Args:
            values: field name -> value.

        Returns:
            The settings.

        Raises:
            ValueError: an unknown key, an unknown init, or another size with init "pretrained".
        """
        return dataclass_from_dict(cls, values, "training")

    def patch_samples(self, grid: StftGrid = GRID) -> int:
        """Samples of a wave whose STFT (no padding) has exactly patch_frames frames.

        Args:
            grid: the STFT grid.

        Returns:
            (patch_frames - 1) * hop + n_fft.
        """
        return (self.patch_frames - 1) * grid.hop + grid.n_fft


def magnitudes(wave: torch.Tensor, grid: StftGrid = GRID) -> torch.Tensor:
    """Network input of mono waves: scaled STFT magnitudes of the network's band.

    Framed as given (no padding added), duplicated to two channels (as mono songs are separated).

    Args:
        wave: (N, samples) mono waves.
        grid: the STFT grid.

    Returns:
        (N, 2, frames, bins) magnitudes (the two channels are one expanded view).
    """
    mag = grid_stft(wave, grid)[..., : grid.bins].abs() * grid.scale
    return mag.unsqueeze(1).expand(-1, 2, -1, -1)


def spleeter_loss(vocal_est: torch.Tensor, accomp_est: torch.Tensor, vocal_mag: torch.Tensor,
                  accomp_mag: torch.Tensor) -> torch.Tensor:
    """Spleeter's L1 loss: mean |estimate - magnitude| of the vocal plus that of the accompaniment.

    Args:
        vocal_est: the network's vocal magnitudes.
        accomp_est: the network's accompaniment magnitudes, shaped like vocal_est.
        vocal_mag: the true vocal magnitudes, shaped like vocal_est.
        accomp_mag: the true accompaniment magnitudes, shaped like vocal_est.

    Returns:
        The loss, a scalar tensor.
    """
    return torch.mean(torch.abs(vocal_est - vocal_mag)) + torch.mean(torch.abs(accomp_est - accomp_mag))


def step_loss(model: VocalUNet, vocal: torch.Tensor, accomp: torch.Tensor) -> torch.Tensor:
    """Training loss of a batch of patches: the network on their mix, against both sources.

    Args:
        model: the network.
        vocal: (N, samples) mono vocal patches.
        accomp: (N, samples) mono accompaniment patches.

    Returns:
        `spleeter_loss`, a scalar tensor.
    """
    v_est, a_est = model(magnitudes(vocal + accomp))
    return spleeter_loss(v_est, a_est, magnitudes(vocal), magnitudes(accomp))


def set_training_mode(model: VocalUNet, freeze_norm: bool) -> None:
    """Put the model in train mode (dropout on), its batch norms frozen if asked.

    Args:
        model: the network.
        freeze_norm: batch norms normalise with their stored running statistics and do not
            update them (their scale and offset still learn).
    """
    model.train()
    if freeze_norm:
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()


@torch.inference_mode()
def validate(model: VocalUNet, tracks: list[Track], floors: dict | None = None,
             settings: Postprocess = VALIDATION) -> tuple[float, float, float]:
    """Score the model on whole validation songs; leaves it in eval mode.

    The loss is the training loss on each whole song (its 512-frame segments cross-faded as in
    separation); the SDR is that of the song separated by `separate_grid`, the accompaniment
    being the mix minus the vocal.

    Args:
        model: the network.
        tracks: the validation tracks.
        floors: keeps each song's mixture SDR (the floor an estimate must beat, fixed) between
            calls, keyed by (name, source); filled in where missing.
        settings: how the songs are separated.

    Returns:
        (mean loss, median vocal SDR in dB, median mixture SDR in dB).
    """
    floors = {} if floors is None else floors
    model.eval()
    losses, sdrs, grid = [], [], GRID
    for track in tracks:
        mix = track.mixture
        mags = magnitudes(padded(torch.from_numpy(np.stack([mix, track.vocal, track.accompaniment])), grid))
        v_est, a_est = estimate(model, mags[0], settings.overlap)
        losses.append(float(spleeter_loss(v_est, a_est, mags[1], mags[2])))
        vocal, _ = separate_grid(model, torch.from_numpy(np.stack([mix, mix])), settings)
        est = vocal.mean(dim=0).numpy()
        sdrs.append(score(track.vocal, track.accompaniment, est, mix - est, grid.sample_rate)["vocals"]["SDR"])
        key = (track.name, track.source)
        if key not in floors:
            floors[key] = score(track.vocal, track.accompaniment, mix, mix, grid.sample_rate)["vocals"]["SDR"]
    floor = [floors[(t.name, t.source)] for t in tracks]
    return float(np.mean(losses)), float(np.nanmedian(sdrs)), float(np.nanmedian(floor))


def _checkpointer(out_dir: str | Path, cfg: TrainSettings) -> Checkpointer:
    """checkpoints/last.pt, rewritten every epoch, and best.pt; a checkpoint with another network
    (ARCHITECTURE, the STFT grid) is refused, any other setting may change between runs."""
    fixed = {k: getattr(cfg, k) for k in ARCHITECTURE} | {"grid": GRID.as_dict()}
    return Checkpointer(Path(out_dir) / "checkpoints", "last.pt", fixed=fixed, best_name="best.pt")


def train(train_tracks: list[Track], valid_tracks: list[Track], out_dir: str | Path, cfg: TrainSettings,
          device: str = "auto", progress: bool = True, stop_after: int | None = None) -> list[dict]:
    """Train (or resume) in out_dir: checkpoints/, training.csv and curve.png.

    Args:
        train_tracks: the training tracks (at least one).
        valid_tracks: the validation tracks; none: validation scores are NaN.
        out_dir: the training folder.
        cfg: the settings.
        device: "auto", "cpu", "cuda" or "mps".
        progress: show progress bars.
        stop_after: end after this many training epochs of *this call* (to test resuming), as a kill would.

    Returns:
        The history: one dict per epoch (the columns of training.csv), epoch 0 first.
    """
    if not train_tracks:
        raise ValueError("no training tracks: give prepared pairs, a MUSDB folder or the open corpus")
    out_dir = Path(out_dir)
    device = pick_device(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    checkpointer = _checkpointer(out_dir, cfg)
    if cfg.init == "pretrained" and not checkpointer.files():
        from ..models.pretrained import load_pretrained

        model = load_pretrained(device)
    else:
        model = VocalUNet(width=cfg.width, depth=cfg.depth).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = TrainState(model, opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_decay),
                       numpy_rngs=(rng,))
    last = checkpointer.resume(state, cfg.epochs)
    sampler = PatchSampler(train_tracks, cfg.patch_samples(), rng, cfg.remix, cfg.gain_db)
    floors = {}

    def step(batch: tuple[np.ndarray, np.ndarray]) -> float:
        vocal, accomp = (torch.from_numpy(x).to(device) for x in batch)
        return optimise(state, step_loss(model, vocal, accomp))

    def scores() -> dict:
        values = validate(model, valid_tracks, floors) if valid_tracks else (float("nan"),) * 3
        return dict(zip(("valid_loss", "valid_sdr", "valid_sdr_mixture"), values))

    def row(epoch: int, train_loss: float, metrics: dict, seconds: float) -> dict:
        return {"epoch": epoch, "steps": epoch * cfg.steps_per_epoch, "train_loss": train_loss, **metrics,
                "lr": opt.param_groups[0]["lr"], "seconds": round(state.elapsed, 1)}

    plan = EpochPlan(Draws(lambda: sampler.batch(cfg.batch_size), cfg.steps_per_epoch), step, scores, row,
                     score="valid_sdr", curve=CURVE,
                     train_mode=lambda: set_training_mode(model, cfg.freeze_norm and cfg.init == "pretrained"))
    return run_epochs(state, plan, checkpointer, 0 if last is None else last + 1, cfg.epochs,
                      out_dir / "training.csv", out_dir / "curve.png", progress=progress, stop_after=stop_after)


def export(out_dir: str | Path, model_path: str | Path, cfg: TrainSettings, info: dict | None = None,
           which: str = "best") -> dict:
    """Write the model file from checkpoints/{which}.pt with the training record.

    Args:
        out_dir: the training folder.
        model_path: the model file to write.
        cfg: the settings the run was trained with.
        info: more entries of the record (they override the others).
        which: "best" (best validation SDR) or "last".

    Returns:
        The record stored in the model file.

    Raises:
        InputError: there is no checkpoint yet.
    """
    checkpointer = _checkpointer(out_dir, cfg)
    found = checkpointer.latest(cfg.epochs)
    if found is None:
        raise InputError(checkpointer.path(0), "no training checkpoint to export: train first")
    last = found[1]
    chosen = read_checkpoint(checkpointer.folder / f"{which}.pt", keys=("model", "epoch"))
    model = VocalUNet(width=cfg.width, depth=cfg.depth)
    model.load_state_dict(chosen["model"])
    record = {"epoch": chosen["epoch"], "epochs_run": last["epoch"], "steps": chosen["epoch"] * cfg.steps_per_epoch,
              "valid_sdr": chosen.get("valid_sdr"), "seconds": last["elapsed"], "init": cfg.init,
              "grid": GRID.as_dict(), "validation": asdict(VALIDATION), "train_config": asdict(cfg),
              "history": last["history"]}
    record.update(info or {})
    export_model(model_path, model, record)
    return record


def run_training(out_dir: str | Path, model_path: str | Path, cfg: TrainSettings, rtg_dir: PathLike | None = None,
                 musdb_dir: PathLike | None = None, corpus_dir: PathLike | None = None, valid_fraction: float = 0.15,
                 max_valid: int = 12, device: str = "auto", progress: bool = True) -> dict:
    """Gather the pairs, split by song, train (or resume) and export the best model to model_path.

    Args:
        out_dir: the training folder.
        model_path: the model file to write.
        cfg: the settings.
        rtg_dir: folder of prepared pairs (rtg/).
        musdb_dir: a MUSDB18-HQ folder (its train split).
        corpus_dir: the open corpus (its train split).
        valid_fraction: share of the songs held out for validation.
        max_valid: at most this many validation tracks, evenly spread (0: all).
        device: "auto", "cpu", "cuda" or "mps".
        progress: show progress bars.

    Returns:
        The record stored in the model file (`export`).

    Raises:
        InputError: no training pairs were found.
    """
    sr = GRID.sample_rate
    tracks = gather_tracks(sr, rtg_dir, musdb_dir, corpus_dir)
    if not tracks:
        raise InputError(rtg_dir or musdb_dir or corpus_dir or out_dir,
                         "no training pairs found (prepared pairs in rtg/, a MUSDB folder or the open corpus)")
    train_set, valid_set = split_by_song(tracks, valid_fraction, cfg.seed)
    if max_valid and len(valid_set) > max_valid:  # whole songs, a fixed spread of them
        keep = np.linspace(0, len(valid_set) - 1, max_valid).round().astype(int)
        valid_set = [valid_set[i] for i in sorted(set(keep))]
    minutes = round(sum(len(t) for t in train_set) / sr / 60, 1)
    log.info("%d training tracks (%.1f min), %d validation tracks (%d songs), init %s", len(train_set), minutes,
             len(valid_set), len({song_of(t) for t in valid_set}), cfg.init)
    train(train_set, valid_set, out_dir, cfg, device=device, progress=progress)
    return export(out_dir, model_path, cfg, info={
        "data": {"rtg": bool(rtg_dir), "musdb": bool(musdb_dir), "corpus": bool(corpus_dir),
                 "train_tracks": len(train_set), "valid_tracks": len(valid_set), "train_minutes": minutes,
                 "valid_songs": sorted({song_of(t) for t in valid_set})},
        "device": str(pick_device(device)), "torch_threads": torch.get_num_threads()})
