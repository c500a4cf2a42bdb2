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
state and random streams, so it ends where an uninterrupted run would. `export` writes the model file.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..audio import atomic_write_bytes
from ..device import pick_device
from ..errors import InputError
from ..evaluate import score
from ..models.vocal_unet import VocalUNet
from ..settings import dataclass_from_dict
from .data import PatchSampler, Track, gather_tracks, song_of, split_by_song
from .history import write_history
from .separate import POSTPROCESS, Postprocess, estimate, export_model, separate_grid
from .spectrogram import HALF_RATE_GRID, StftGrid, padded, stft

log = logging.getLogger("vocalsep.unet.train")

GRID = HALF_RATE_GRID
VALIDATION = POSTPROCESS["default"]  # how validation songs are separated: as `separate` does
INITS = ("pretrained", "scratch")
# Settings that fix the network or how it was trained: a checkpoint with others is refused.
ARCHITECTURE = ("init", "width", "depth", "freeze_norm")


@dataclass
class TrainConfig:
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
    def from_dict(cls, values: dict) -> "TrainConfig":
        return dataclass_from_dict(cls, values, "training")

    def patch_samples(self, grid: StftGrid = GRID) -> int:
        """Samples of a wave whose STFT (no padding) has exactly patch_frames frames."""
        return (self.patch_frames - 1) * grid.hop + grid.n_fft


def magnitudes(wave: torch.Tensor, grid: StftGrid = GRID) -> torch.Tensor:
    """Network input (N, 2, frames, bins) of mono waves (N, samples): scaled STFT magnitudes of
    the network's band, framed as given (no padding added), duplicated to two channels (as mono
    songs are separated)."""
    mag = stft(wave, grid)[..., : grid.bins].abs() * grid.scale
    return mag.unsqueeze(1).expand(-1, 2, -1, -1)


def spleeter_loss(vocal_est: torch.Tensor, accomp_est: torch.Tensor, vocal_mag: torch.Tensor,
                  accomp_mag: torch.Tensor) -> torch.Tensor:
    """Spleeter's L1 loss: mean |estimate - magnitude| of the vocal plus that of the accompaniment."""
    return torch.mean(torch.abs(vocal_est - vocal_mag)) + torch.mean(torch.abs(accomp_est - accomp_mag))


def step_loss(model: VocalUNet, vocal: torch.Tensor, accomp: torch.Tensor) -> torch.Tensor:
    """Training loss of a batch of mono (N, samples) vocal and accompaniment patches."""
    v_est, a_est = model(magnitudes(vocal + accomp))
    return spleeter_loss(v_est, a_est, magnitudes(vocal), magnitudes(accomp))


def set_training_mode(model: VocalUNet, freeze_norm: bool) -> None:
    """Train mode (dropout on); with freeze_norm the batch norms normalise with their stored
    running statistics and do not update them (their scale and offset still learn)."""
    model.train()
    if freeze_norm:
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()


@torch.inference_mode()
def validate(model: VocalUNet, tracks: list[Track], floors: dict | None = None,
             settings: Postprocess = VALIDATION) -> tuple[float, float, float]:
    """(mean loss, median vocal SDR in dB, median mixture SDR) over whole validation songs.

    The loss is the training loss on each whole song (its 512-frame segments cross-faded as in
    separation); the SDR is that of the song separated by `separate_grid`, the accompaniment
    being the mix minus the vocal. floors: keeps each song's mixture SDR (the floor an estimate
    must beat, fixed) between calls. Leaves the model in eval mode.
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


def _save(path: Path, payload: dict) -> None:
    atomic_write_bytes(path, lambda tmp: torch.save(payload, tmp))


def _rng_state(rng: np.random.Generator) -> dict:
    state = {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _read(path: Path) -> dict:
    """A checkpoint written by `train`, loaded without unpickling code."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(ckpt, dict) or "model" not in ckpt or "epoch" not in ckpt:
            raise ValueError("not a training checkpoint")
    except Exception as err:  # noqa: BLE001 - any failure to read it means it is unusable
        raise InputError(path, f"training checkpoint is corrupt or foreign ({type(err).__name__}); delete "
                               f"{path.parent} to start the training over") from None
    return ckpt


def _load_checkpoint(path: Path, cfg: TrainConfig) -> dict:
    ckpt = _read(path)
    old = ckpt.get("config", {})
    changed = [f"{k}: {old.get(k)!r} -> {getattr(cfg, k)!r}" for k in ARCHITECTURE if old.get(k) != getattr(cfg, k)]
    if ckpt.get("grid") != GRID.as_dict():
        changed.append("STFT grid")
    if changed:
        raise InputError(path, f"was trained with other settings ({', '.join(changed)}); set them back to resume, "
                               f"or delete {path.parent} to start a new training")
    return ckpt


def train(train_tracks: list[Track], valid_tracks: list[Track], out_dir: str | Path, cfg: TrainConfig,
          device: str = "auto", progress: bool = True, stop_after: int | None = None) -> list[dict]:
    """Train (or resume) in out_dir; returns the history (per-epoch dicts, epoch 0 first).

    stop_after: end after this many training epochs of *this call* (to test resuming), as a kill would.
    """
    from tqdm import tqdm

    if not train_tracks:
        raise ValueError("no training tracks: give prepared pairs, a MUSDB folder or the open corpus")
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    last = ckpt_dir / "last.pt"
    ckpt = _load_checkpoint(last, cfg) if last.exists() else None
    if cfg.init == "pretrained" and ckpt is None:
        from ..models.pretrained import load_pretrained

        model = load_pretrained(device)
    else:
        model = VocalUNet(width=cfg.width, depth=cfg.depth).to(device)
    freeze = cfg.freeze_norm and cfg.init == "pretrained"
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_decay)
    history, start, best_sdr, elapsed = [], 0, -np.inf, 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        _set_rng_state(rng, ckpt["rng"])
        history, best_sdr, elapsed = ckpt["history"], ckpt["best_sdr"], ckpt["elapsed"]
        start = ckpt["epoch"] + 1
        log.info("resuming from %s after epoch %d", last, ckpt["epoch"])
    sampler = PatchSampler(train_tracks, cfg.patch_samples(), rng, cfg.remix, cfg.gain_db)
    trained, floors = 0, {}
    for epoch in range(start, cfg.epochs + 1):
        t0, losses = time.time(), []
        if epoch > 0:  # epoch 0 only validates the starting model
            if stop_after is not None and trained >= stop_after:
                break
            set_training_mode(model, freeze)
            bar = tqdm(range(cfg.steps_per_epoch), desc=f"epoch {epoch}/{cfg.epochs}", disable=not progress,
                       mininterval=5, leave=False)
            for _ in bar:
                vocal, accomp = (torch.from_numpy(x).to(device) for x in sampler.batch(cfg.batch_size))
                loss = step_loss(model, vocal, accomp)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.item())
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", refresh=False)
            sched.step()
            trained += 1
        valid_loss, valid_sdr, floor = validate(model, valid_tracks, floors) if valid_tracks else (
            float("nan"),) * 3
        elapsed += time.time() - t0
        history.append({"epoch": epoch, "steps": epoch * cfg.steps_per_epoch,
                        "train_loss": float(np.mean(losses)) if losses else float("nan"),
                        "valid_loss": valid_loss, "valid_sdr": valid_sdr, "valid_sdr_mixture": floor,
                        "lr": opt.param_groups[0]["lr"], "seconds": round(elapsed, 1)})
        log.info("epoch %d: train loss %.4f, valid loss %.4f, valid SDR %.2f dB (mixture %.2f dB), %.0f s",
                 epoch, history[-1]["train_loss"], valid_loss, valid_sdr, floor, elapsed)
        # Without validation (no SDR) the latest weights count as the best.
        if not np.isfinite(best_sdr) or (np.isfinite(valid_sdr) and valid_sdr > best_sdr):
            best_sdr = valid_sdr if np.isfinite(valid_sdr) else best_sdr
            _save(ckpt_dir / "best.pt", {"model": model.state_dict(), "epoch": epoch, "valid_sdr": valid_sdr})
        _save(last, {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "rng": _rng_state(rng), "epoch": epoch, "history": history, "best_sdr": float(best_sdr),
                     "elapsed": elapsed, "config": asdict(cfg), "grid": GRID.as_dict()})
        write_history(history, out_dir / "training.csv", out_dir / "curve.png")
    return history


def export(out_dir: str | Path, model_path: str | Path, cfg: TrainConfig, info: dict | None = None,
           which: str = "best") -> dict:
    """Write the model file from checkpoints/{which}.pt with the training record; returns the record."""
    ckpt_dir = Path(out_dir) / "checkpoints"
    last = _load_checkpoint(ckpt_dir / "last.pt", cfg)
    chosen = _read(ckpt_dir / f"{which}.pt")
    model = VocalUNet(width=cfg.width, depth=cfg.depth)
    model.load_state_dict(chosen["model"])
    record = {"epoch": chosen["epoch"], "epochs_run": last["epoch"], "steps": chosen["epoch"] * cfg.steps_per_epoch,
              "valid_sdr": chosen.get("valid_sdr"), "seconds": last.get("elapsed"), "init": cfg.init,
              "grid": GRID.as_dict(), "validation": asdict(VALIDATION), "train_config": asdict(cfg),
              "history": last["history"]}
    record.update(info or {})
    export_model(model_path, model, record)
    return record


def run_training(out_dir: str | Path, model_path: str | Path, cfg: TrainConfig, rtg_dir=None, musdb_dir=None,
                 corpus_dir=None, valid_fraction: float = 0.15, max_valid: int = 12, device: str = "auto",
                 progress: bool = True) -> dict:
    """Gather the pairs, split by song, train (or resume) and export the best model to model_path."""
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
