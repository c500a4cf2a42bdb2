"""Training loop of the vocal U-Net: seeded epochs of random patches, validation, checkpoints, resume.

Every epoch writes, in `out_dir`: checkpoints/last.pt (model, optimizer, epoch, RNG states,
history), training.csv (loss, validation loss, validation SDR per epoch), curve.png, and keeps
the best model (by validation vocal SDR) in checkpoints/best.pt. A killed training rerun with the
same settings continues after its last finished epoch, with the same optimizer state and random
streams, so it ends exactly where an uninterrupted run would. `export` writes the final model.
"""

import csv
import io
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..audio import atomic_write_bytes, write_text
from ..device import pick_device
from ..errors import InputError
from ..settings import dataclass_from_dict
from ..evaluate import score
from ..models.vocal_unet import VocalUNet
from .data import PatchSampler
from .separate import export_model, separate_wave
from .spectrogram import SpecConfig, full_band_mask, network_input, stft

log = logging.getLogger("vocalsep.unet.train")

# Settings that shape the network or its input: a checkpoint with others cannot be resumed.
ARCHITECTURE = ("width", "depth", "n_fft", "hop", "bins", "compress", "sample_rate")


@dataclass
class TrainConfig:
    width: int = 16               # channels of the first encoder step (Jansson et al.: 16)
    depth: int = 6
    epochs: int = 20
    steps_per_epoch: int = 200
    batch_size: int = 16
    patch_frames: int = 128       # STFT frames per training patch (128 x 256 / 22050 = 1.5 s)
    lr: float = 1e-3
    lr_decay: float = 1.0         # learning rate multiplied by this after every epoch
    remix: float = 0.5            # probability of a vocal over another song's accompaniment
    gain_db: float = 6.0          # random gain per source, +/- dB
    seed: int = 0
    threads: int = 0              # torch CPU threads (0: torch's default)
    sample_rate: int = 22050
    n_fft: int = 1024
    hop: int = 256
    bins: int = 512
    compress: float = 100.0
    extra: dict = field(default_factory=dict)  # free-form notes stored with the model

    @classmethod
    def from_dict(cls, values):
        return dataclass_from_dict(cls, values, "training")

    def spec(self):
        return SpecConfig(self.sample_rate, self.n_fft, self.hop, self.bins, self.compress)


def loss_fn(model, vocal, accomp, spec):
    """L1 between the masked mix magnitude and the vocal magnitude (both scaled by the mix's max)."""
    mix_mag = stft(vocal + accomp, spec).abs()
    vocal_mag = stft(vocal, spec).abs()
    x, scale = network_input(mix_mag, spec)
    mask = full_band_mask(model(x), spec)
    return torch.mean(torch.abs(mask * mix_mag - vocal_mag) / scale)


@torch.no_grad()
def validate(model, tracks, spec, device, floors=None):
    """Mean validation loss over whole songs, median vocal SDR (museval) and the mixture's SDR floor.

    floors: a dict that keeps each song's floor between calls (it does not change with training).
    """
    floors = {} if floors is None else floors
    model.eval()
    losses, sdrs = [], []
    sr = spec.sample_rate
    for track in tracks:
        mix = track.mixture
        est = separate_wave(model, spec, mix[None, :], device=device)[0]
        vocal_t = torch.from_numpy(track.vocal)[None]
        mix_mag = stft(torch.from_numpy(mix)[None], spec).abs()
        est_mag = stft(torch.from_numpy(est)[None], spec).abs()
        losses.append(float(torch.mean(torch.abs(est_mag - stft(vocal_t, spec).abs())) / (mix_mag.max() + 1e-8)))
        sdrs.append(score(track.vocal, track.accompaniment, est, mix - est, sr)["vocals"]["SDR"])
        key = (track.name, track.source)
        if key not in floors:
            floors[key] = score(track.vocal, track.accompaniment, mix, mix, sr)["vocals"]["SDR"]
    model.train()
    return float(np.mean(losses)), float(np.nanmedian(sdrs)), float(np.nanmedian([floors[(t.name, t.source)]
                                                                                 for t in tracks]))


def _save(path, payload):
    atomic_write_bytes(path, lambda tmp: torch.save(payload, tmp))


def _rng_state(rng):
    return {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}


def write_history(history, csv_path, png_path=None):
    """training.csv (one row per epoch) and, if asked, the training-curve PNG."""
    buf = io.StringIO()
    if history:
        writer = csv.DictWriter(buf, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    write_text(csv_path, buf.getvalue())
    if png_path is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(epochs, [h["train_loss"] for h in history], "o-", label="training (patches)")
    ax1.plot(epochs, [h["valid_loss"] for h in history], "s-", label="validation (whole songs)")
    ax1.set_xlabel("epoch"), ax1.set_ylabel("L1 loss"), ax1.legend(), ax1.grid(alpha=0.3)
    ax2.plot(epochs, [h["valid_sdr"] for h in history], "o-", color="C2", label="U-Net")
    if history:
        ax2.axhline(history[0]["valid_sdr_mixture"], color="grey", ls="--", label="mixture (floor)")
    ax2.set_xlabel("epoch"), ax2.set_ylabel("median vocal SDR (dB)"), ax2.legend(), ax2.grid(alpha=0.3)
    fig.suptitle("Vocal U-Net training")
    fig.tight_layout()
    atomic_write_bytes(png_path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def _load_checkpoint(path, cfg):
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001
        raise InputError(path, f"training checkpoint is corrupt ({type(err).__name__}); delete it to start over") from None
    old = ckpt.get("config", {})
    changed = [k for k in ARCHITECTURE if old.get(k) != getattr(cfg, k)]
    if changed:
        raise InputError(path, f"was trained with other settings ({', '.join(changed)}); delete the checkpoint "
                               "folder to start a new training")
    return ckpt


def train(train_tracks, valid_tracks, out_dir, cfg, device="auto", progress=True, stop_after=None):
    """Train (or resume) in out_dir; returns the history (list of per-epoch dicts).

    stop_after: end after this many epochs of *this call* (to test resuming), as a kill would.
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
    spec = cfg.spec()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = VocalUNet(width=cfg.width, depth=cfg.depth).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_decay)
    history, start_epoch, best_sdr, elapsed = [], 1, -np.inf, 0.0
    last = ckpt_dir / "last.pt"
    if last.exists():
        ckpt = _load_checkpoint(last, cfg)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        rng.bit_generator.state = ckpt["rng"]["numpy"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        history, best_sdr, elapsed = ckpt["history"], ckpt["best_sdr"], ckpt.get("elapsed", 0.0)
        start_epoch = ckpt["epoch"] + 1
        log.info("resuming from %s after epoch %d", last, ckpt["epoch"])
    sampler = PatchSampler(train_tracks, spec.frames_to_samples(cfg.patch_frames), rng, cfg.remix, cfg.gain_db)
    model.train()
    done_here, floors = 0, {}
    for epoch in range(start_epoch, cfg.epochs + 1):
        if stop_after is not None and done_here >= stop_after:
            break
        t0 = time.time()
        losses = []
        bar = tqdm(range(cfg.steps_per_epoch), desc=f"epoch {epoch}/{cfg.epochs}", disable=not progress,
                   mininterval=5, leave=False)
        for _ in bar:
            vocal, accomp = sampler.batch(cfg.batch_size)
            loss = loss_fn(model, torch.from_numpy(vocal).to(device), torch.from_numpy(accomp).to(device), spec)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", refresh=False)
        sched.step()
        valid_loss, valid_sdr, floor = validate(model, valid_tracks, spec, device, floors) if valid_tracks else (
            float("nan"), float("nan"), float("nan"))
        elapsed += time.time() - t0
        history.append({"epoch": epoch, "steps": epoch * cfg.steps_per_epoch, "train_loss": float(np.mean(losses)),
                        "valid_loss": valid_loss, "valid_sdr": valid_sdr, "valid_sdr_mixture": floor,
                        "lr": opt.param_groups[0]["lr"], "seconds": round(elapsed, 1)})
        log.info("epoch %d: train loss %.4f, valid loss %.4f, valid SDR %.2f dB (mixture %.2f dB), %.0f s",
                 epoch, history[-1]["train_loss"], valid_loss, valid_sdr, floor, elapsed)
        if progress:
            tqdm.write(f"epoch {epoch}: loss {history[-1]['train_loss']:.4f} valid {valid_loss:.4f} "
                       f"SDR {valid_sdr:.2f} dB (mix {floor:.2f}) {elapsed:.0f} s")
        improved = not np.isfinite(best_sdr) or (np.isfinite(valid_sdr) and valid_sdr > best_sdr)
        if improved:
            best_sdr = valid_sdr if np.isfinite(valid_sdr) else best_sdr
            _save(ckpt_dir / "best.pt", {"model": model.state_dict(), "epoch": epoch, "valid_sdr": valid_sdr})
        _save(last, {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "rng": _rng_state(rng), "epoch": epoch, "history": history, "best_sdr": best_sdr,
                     "elapsed": elapsed, "config": asdict(cfg)})
        write_history(history, out_dir / "training.csv", out_dir / "curve.png")
        done_here += 1
    return history


def export(out_dir, model_path, cfg, info=None, which="best"):
    """Write the model file from checkpoints/{which}.pt with the settings and the training record."""
    ckpt_dir = Path(out_dir) / "checkpoints"
    last = torch.load(ckpt_dir / "last.pt", map_location="cpu", weights_only=False)
    chosen = torch.load(ckpt_dir / f"{which}.pt", map_location="cpu", weights_only=False)
    model = VocalUNet(width=cfg.width, depth=cfg.depth)
    model.load_state_dict(chosen["model"])
    record = {"epoch": chosen["epoch"], "epochs_run": last["epoch"], "steps": chosen["epoch"] * cfg.steps_per_epoch,
              "valid_sdr": chosen.get("valid_sdr"), "seconds": last.get("elapsed"),
              "train_config": asdict(cfg), "history": last["history"]}
    record.update(info or {})
    export_model(model_path, model, cfg.spec(), record)
    return record


def gather_tracks(sr, rtg_dir=None, musdb_dir=None, corpus_dir=None):
    """Training tracks from every source given: all prepared pairs in rtg/, the train split of a
    MUSDB18-HQ folder and the train split of the open corpus (test splits stay unseen)."""
    from .data import musdb_tracks, rtg_tracks

    tracks = []
    if rtg_dir:
        tracks += rtg_tracks(rtg_dir, sr)
    if musdb_dir:
        tracks += musdb_tracks(musdb_dir, sr, splits=("train",), source="musdb")
    if corpus_dir:
        tracks += musdb_tracks(corpus_dir, sr, splits=("train",), source="corpus")
    return tracks


def run_training(out_dir, model_path, cfg, rtg_dir=None, musdb_dir=None, corpus_dir=None,
                 valid_fraction=0.15, max_valid=12, device="auto", progress=True):
    """Gather the pairs, split by song, train (or resume) and export the best model to model_path."""
    from .data import split_by_song, song_of

    tracks = gather_tracks(cfg.sample_rate, rtg_dir, musdb_dir, corpus_dir)
    if not tracks:
        raise InputError(rtg_dir or musdb_dir or corpus_dir or out_dir,
                         "no training pairs found (prepared pairs in rtg/, a MUSDB folder or the open corpus)")
    train_set, valid_set = split_by_song(tracks, valid_fraction, cfg.seed)
    if max_valid and len(valid_set) > max_valid:  # whole songs, a fixed spread of them
        keep = np.linspace(0, len(valid_set) - 1, max_valid).round().astype(int)
        valid_set = [valid_set[i] for i in sorted(set(keep))]
    log.info("%d training tracks (%.1f min), %d validation tracks (%d songs)", len(train_set),
             sum(len(t) for t in train_set) / cfg.sample_rate / 60, len(valid_set),
             len({song_of(t) for t in valid_set}))
    train(train_set, valid_set, out_dir, cfg, device=device, progress=progress)
    return export(out_dir, model_path, cfg, info={
        "data": {"rtg": bool(rtg_dir), "musdb": bool(musdb_dir), "corpus": bool(corpus_dir),
                 "train_tracks": len(train_set), "valid_tracks": len(valid_set),
                 "train_minutes": round(sum(len(t) for t in train_set) / cfg.sample_rate / 60, 1),
                 "valid_songs": sorted({song_of(t) for t in valid_set})},
        "device": str(pick_device(device)), "torch_threads": torch.get_num_threads()})
