"""Separation with the vocal U-Net: segment-wise estimates, post-processing, Separator.

`postprocess="none"` is Spleeter's own computation: the song at 44.1 kHz (mono duplicated to two
channels), its STFT cut into hard 512-frame segments, both U-Nets on every segment, ratio masks
with exponent 2, no mask above 11 kHz, inverse STFT; vocals and accompaniment each from their
mask. The other settings (`Postprocess`) change the grid, cross-fade overlapping segments, apply
norbert's multichannel Wiener filter and take the accompaniment as the input minus the vocal.
Long songs are processed block by block, so memory stays bounded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..audio import load, resample, write_text, write_wav
from ..device import pick_device
from ..errors import InputError
from ..models.vocal_unet import VocalUNet, ratio_masks
from ..stft import HALF_RATE_GRID, SPLEETER_GRID, grid_stft, overlap_add, padded
from .model_file import load_model

SEGMENT = 512                   # frames per network input (Spleeter's T)
GRIDS = {"44k": SPLEETER_GRID, "22k": HALF_RATE_GRID}


@dataclass(frozen=True)
class Postprocess:
    """How masks are computed and applied around the network.

    grid: "44k" (Spleeter's 44.1 kHz STFT) or "22k" (22.05 kHz, n_fft 2048, hop 512).
    overlap: frames shared by consecutive 512-frame segments, cross-faded (0: hard cuts).
    exponent: separation exponent of the ratio masks (Spleeter: 2).
    wiener: norbert EM iterations of the multichannel Wiener filter (0: ratio masks only).
    residual: accompaniment = input - vocal (else its own mask, as Spleeter).
    bfloat16: autocast the network to bfloat16 where the device computes it natively (native_bfloat16).
    """

    grid: str = "44k"
    overlap: int = 0
    exponent: float = 2.0
    wiener: int = 0
    residual: bool = False
    bfloat16: bool = False

    def __post_init__(self):
        if self.grid not in GRIDS:
            raise ValueError(f"grid must be one of {sorted(GRIDS)}, not {self.grid!r}")
        if not 0 <= self.overlap < SEGMENT:
            raise ValueError(f"overlap must be in [0, {SEGMENT}) frames")


POSTPROCESS = {
    "none": Postprocess(),
    "default": Postprocess(grid="22k", overlap=128, exponent=2.0, wiener=0, residual=True, bfloat16=True),
}


def postprocess_settings(name: str | Postprocess) -> Postprocess:
    """The Postprocess a name stands for.

    Args:
        name: a key of POSTPROCESS ("none", "default"), or a Postprocess (returned as is).

    Returns:
        The settings.

    Raises:
        InputError: an unknown name.
    """
    if isinstance(name, Postprocess):
        return name
    if name not in POSTPROCESS:
        raise InputError("postprocess", f"unknown setting {name!r}; choose one of {', '.join(POSTPROCESS)}")
    return POSTPROCESS[name]


def _segment_weights(overlap: int) -> torch.Tensor:
    """Cross-fade weights of one 512-frame segment: raised-cosine ramps over `overlap` frames."""
    w = torch.ones(SEGMENT)
    if overlap:
        ramp = 0.5 - 0.5 * torch.cos(torch.pi * (torch.arange(overlap) + 0.5) / overlap)
        w[:overlap], w[-overlap:] = ramp, ramp.flip(0)
    return w


def native_bfloat16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 convolutions natively (else autocast would emulate them).

    Args:
        device: a CUDA device, or the CPU (checked for AVX-512 BF16 or AMX); any other is False.

    Returns:
        True where bfloat16 autocast runs natively, not emulated.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


@torch.inference_mode()
def estimate(model: VocalUNet, mag: torch.Tensor, overlap: int = 0, batch: int = 4,
             progress: Callable[[int], object] | None = None,
             bfloat16: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Both U-Nets' magnitude estimates of a whole song's mixture magnitudes.

    The frames are cut into 512-frame segments starting every 512 - overlap frames, the last one
    zero-padded (Spleeter's pad_and_partition when overlap is 0); overlapping estimates are cross-faded.

    Args:
        model: the network (its device is used).
        mag: (C, frames, bins) mixture magnitudes, C the network's channels.
        overlap: frames shared by consecutive segments.
        batch: segments per network call.
        progress: called with the number of segments done after each batch.
        bfloat16: autocast the network to bfloat16 where the device computes it natively.

    Returns:
        (vocal, accompaniment) magnitudes, each (C, frames, bins) float32 on the CPU.
    """
    device = next(model.parameters()).device
    half = bfloat16 and native_bfloat16(device)
    channels, frames, bins = mag.shape
    step = SEGMENT - overlap
    starts = list(range(0, max(frames - overlap, 1), step))
    weights = _segment_weights(overlap)
    out = torch.zeros(2, channels, frames, bins)
    total = torch.zeros(frames)
    for i in range(0, len(starts), batch):
        group = starts[i:i + batch]
        x = torch.zeros(len(group), channels, SEGMENT, bins)
        for k, s in enumerate(group):
            piece = mag[:, s:s + SEGMENT]
            x[k, :, : piece.shape[1]] = piece
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=half):
            v, a = model(x.to(device).contiguous(memory_format=torch.channels_last))
        v, a = v.float(), a.float()
        for k, s in enumerate(group):  # a lone contributor's weight divides out: no edge cases
            n = min(SEGMENT, frames - s)
            out[:, :, s:s + n] += torch.stack((v[k, :, :n], a[k, :, :n])).cpu() * weights[:n, None]
            total[s:s + n] += weights[:n]
        if progress:
            progress(len(group))
    out /= total.clamp_min(1e-12)[:, None]
    return out[0], out[1]


def _wiener(est: tuple[torch.Tensor, torch.Tensor], spec: torch.Tensor, iterations: int) -> torch.Tensor:
    """Vocal STFT (C, frames, bins) from norbert's multichannel Wiener filter."""
    import norbert

    v = torch.stack(est, dim=-1).permute(1, 2, 0, 3).double().numpy()  # (frames, bins, C, 2)
    x = spec.permute(1, 2, 0).to(torch.complex128).numpy()
    y = norbert.wiener(v, x, iterations=iterations)
    return torch.from_numpy(y[..., 0]).permute(2, 0, 1).to(torch.complex64)


def separate_grid(model: VocalUNet, wave: torch.Tensor, settings: Postprocess, block: int = 2048, batch: int = 4,
                  progress: Callable[[int], object] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Separate a 2-channel wave on settings' grid, block by block (only the network's band is held whole).

    Args:
        model: the network.
        wave: (2, samples) float32 wave on the grid's sample rate.
        settings: grid, overlap, exponent, Wiener iterations, residual, bfloat16.
        block: STFT frames per block.
        batch: segments per network call.
        progress: called with the number of segments done after each batch.

    Returns:
        (vocal, accompaniment) waves (2, samples); accompaniment is None when settings.residual.
    """
    grid = GRIDS[settings.grid]
    samples = wave.shape[-1]
    signal = padded(wave, grid)
    frames = grid.frames(samples)
    mags = torch.empty(wave.shape[0], frames, grid.bins)
    for f0 in range(0, frames, block):  # the network's band of the whole song, block by block
        f1 = min(f0 + block, frames)
        piece = signal[:, f0 * grid.hop:(f1 - 1) * grid.hop + grid.n_fft]
        mags[:, f0:f1] = grid_stft(piece, grid)[..., : grid.bins].abs() * grid.scale
    v, a = estimate(model, mags, settings.overlap, batch, progress, settings.bfloat16)
    del mags
    outputs = [torch.zeros_like(signal), None if settings.residual else torch.zeros_like(signal)]
    for f0 in range(0, frames, block):
        f1 = min(f0 + block, frames)
        piece = signal[:, f0 * grid.hop:(f1 - 1) * grid.hop + grid.n_fft]
        spec = grid_stft(piece, grid)
        vb, ab = v[:, f0:f1], a[:, f0:f1]
        full = torch.zeros(2, *spec.shape)
        if settings.wiener:
            full = full.to(torch.complex64)
            full[0, ..., : grid.bins] = _wiener((vb, ab), spec[..., : grid.bins], settings.wiener)
            full[1] = spec - full[0]
            parts = full
        else:
            full[0, ..., : grid.bins], full[1, ..., : grid.bins] = ratio_masks(vb, ab, settings.exponent)
            parts = full * spec
        for k, out in enumerate(outputs):
            if out is not None:
                out[:, f0 * grid.hop:(f1 - 1) * grid.hop + grid.n_fft] += overlap_add(parts[k], grid)
    crop = slice(grid.n_fft, grid.n_fft + samples)
    return outputs[0][:, crop], None if outputs[1] is None else outputs[1][:, crop]


class Separator:
    """Separate whole files or arrays with the vocal U-Net loaded once.

    >>> sep = Separator()                       # Spleeter's weights, default post-processing
    >>> vocal, accompaniment = sep.separate(signal, 44100)

    Output is at the input's sample rate and channel count. Mono input is duplicated to two
    channels (as Spleeter does) and the two estimates averaged; more channels are separated one
    by one the same way. `model` is a model file (None: Spleeter's weights), `postprocess` a
    POSTPROCESS name or a Postprocess, `device` one of `pick_device`, `batch` segments per network call.
    """

    def __init__(self, model: str | Path | None = None, postprocess: str | Postprocess = "default",
                 device: str = "auto", batch: int = 4):
        self.device = pick_device(device)
        self.model, self.info = load_model(model, self.device)
        # channels-last tensors take oneDNN's faster convolutions on CPUs (the same arithmetic)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.settings = postprocess_settings(postprocess)
        self.postprocess_name = postprocess if isinstance(postprocess, str) else "custom"
        self.batch = batch

    def describe(self) -> dict:
        """Model name and settings, for metrics.json and the report.

        Returns:
            {"model", "postprocess", "settings" (the Postprocess as a dict), "device"}.
        """
        return {"model": self.info.get("name"), "postprocess": self.postprocess_name,
                "settings": asdict(self.settings), "device": str(self.device)}

    def segments(self, samples: int, sr: int, channels: int) -> int:
        """Network segments a signal of this shape takes (for progress bars).

        Args:
            samples: length of the signal.
            sr: its sample rate, in Hz.
            channels: its channel count.

        Returns:
            The segment count that `separate`'s progress calls add up to.
        """
        grid = GRIDS[self.settings.grid]
        frames = grid.frames(int(round(samples * grid.sample_rate / sr)))
        step = SEGMENT - self.settings.overlap
        passes = 1 if channels == 2 else channels
        return passes * len(range(0, max(frames - self.settings.overlap, 1), step))

    def separate(self, signal: np.ndarray, sr: int,
                 progress: Callable[[int], object] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Separate an array at any sample rate and channel count.

        Args:
            signal: (samples,) or (samples, channels) audio.
            sr: its sample rate, in Hz.
            progress: called with the number of segments done after each batch.

        Returns:
            (vocal, accompaniment) float32 arrays shaped like `signal` (which must not be empty).
        """
        signal = np.asarray(signal, dtype=np.float32)
        data = signal if signal.ndim == 2 else signal[:, None]
        if data.shape[0] == 0:
            raise ValueError("cannot separate an empty signal")
        rate = GRIDS[self.settings.grid].sample_rate
        low = resample(data, sr, rate).T
        # a stereo signal is one pass; any other channel is duplicated to a pair and averaged back
        stereo = len(low) == 2
        pairs = [low] if stereo else [np.repeat(low[c:c + 1], 2, axis=0) for c in range(len(low))]
        vocal = np.empty_like(low)
        accompaniment = None if self.settings.residual else np.empty_like(low)
        for c, pair in enumerate(pairs):
            v, a = separate_grid(self.model, torch.from_numpy(np.ascontiguousarray(pair)), self.settings,
                                 batch=self.batch, progress=progress)
            rows = slice(None) if stereo else slice(c, c + 1)
            vocal[rows] = v.numpy() if stereo else v.numpy().mean(axis=0)
            if accompaniment is not None:
                accompaniment[rows] = a.numpy() if stereo else a.numpy().mean(axis=0)
        vocal = _fit_length(resample(vocal.T, rate, sr), data.shape[0])
        if accompaniment is None:
            accompaniment = data - vocal
        else:
            accompaniment = _fit_length(resample(accompaniment.T, rate, sr), data.shape[0])
        if signal.ndim == 1:
            return vocal[:, 0], accompaniment[:, 0]
        return vocal, accompaniment

    def separate_file(self, path: str | Path,
                      progress: Callable[[int], object] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Separate any file soundfile or ffmpeg reads.

        Args:
            path: the audio file.
            progress: called with the number of segments done after each batch.

        Returns:
            (vocal, accompaniment, sr): arrays (samples, channels) at the file's rate and channels.
        """
        data, sr = load(path)
        vocal, accompaniment = self.separate(data, sr, progress)
        return vocal, accompaniment, sr


def separate_to_files(mix: str | Path, vocal: str | Path, accompaniment: str | Path, info: str | Path,
                      model: str | Path | None = None, postprocess: str = "default", device: str = "auto") -> dict:
    """Separate one file into WAV files at its rate and channels; `info` gets the settings as JSON.

    Args:
        mix: the audio file.
        vocal: the vocal WAV to write.
        accompaniment: the accompaniment WAV to write.
        info: the JSON file of `Separator.describe` and the run's seconds.
        model: a model file; None: Spleeter's weights.
        postprocess: a POSTPROCESS name.
        device: "auto", "cpu", "cuda" or "mps".

    Returns:
        The record written to `info`.
    """
    t0 = time.perf_counter()
    sep = Separator(model, postprocess=postprocess, device=device)
    v, a, sr = sep.separate_file(mix)
    write_wav(vocal, v, sr)
    write_wav(accompaniment, a, sr)
    record = {**sep.describe(), "seconds": round(time.perf_counter() - t0, 2)}
    write_text(info, json.dumps(record, indent=2) + "\n")
    return record


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """x as float32 (n, channels): cut, or zero-padded at the end."""
    x = x.reshape(len(x), -1)
    if len(x) >= n:
        return np.ascontiguousarray(x[:n], dtype=np.float32)
    pad = np.zeros((n - len(x), x.shape[1]), dtype=np.float32)
    return np.concatenate([x.astype(np.float32), pad])
