"""Separation with a trained vocal U-Net: checkpoints on disk, chunked masks, a whole-file Separator.

Long songs are separated in bounded memory: the STFT of the song is cut into chunks of
`chunk_frames` frames overlapping by `overlap_frames`; the network's masks are cross-faded in the
overlaps. The vocal is the masked mixture; the accompaniment is the input minus the vocal, so the
two always add up to the input exactly.
"""

import math
from pathlib import Path

import numpy as np
import torch

from ..audio import load, resample, write_wav
from ..device import pick_device
from ..errors import InputError
from ..models.vocal_unet import VocalUNet
from .spectrogram import SpecConfig, full_band_mask, istft, network_input, stft

FORMAT = "vocalsep-vocal-unet"


def default_model_path():
    """The pretrained model shipped in the package (vocalsep/models/vocal_unet.pt)."""
    from . import DEFAULT_MODEL

    return Path(__file__).resolve().parent.parent / "models" / DEFAULT_MODEL


def export_model(path, model, spec, info=None, half=True):
    """Write a self-describing model file: network settings, STFT settings, weights, training info.

    half=True stores the weights as float16 (half the size; they are cast back on loading).
    """
    from ..audio import atomic_write_bytes

    state = {k: (v.half() if half and v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "version": 1, "model": model.config(), "spec": spec.as_dict(),
               "state_dict": state, "info": info or {}}
    atomic_write_bytes(path, lambda tmp: torch.save(payload, tmp))


def load_model(path, device="cpu"):
    """(model in eval mode, SpecConfig, info) from a file written by export_model or a training checkpoint.

    A missing, truncated, corrupt or foreign file raises InputError saying so.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "model file does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the file is unusable
        raise InputError(path, f"is not a readable vocal U-Net model (corrupt or truncated file: "
                               f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(path, f"is not a vocal U-Net model file (no '{FORMAT}' format marker)")
    try:
        model = VocalUNet(**payload["model"])
        state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
        model.load_state_dict(state)
        spec = SpecConfig(**payload["spec"])
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise InputError(path, f"holds a damaged or incompatible vocal U-Net ({type(err).__name__}: "
                               f"{str(err).splitlines()[0][:200]})") from None
    return model.to(device).eval(), spec, payload.get("info", {})


def _fade_weights(length, overlap, first, last):
    """Per-frame weights of one chunk: linear ramps over the overlaps (flat at the song's ends)."""
    w = np.ones(length, dtype=np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if not first:
            w[:overlap] = ramp[: min(overlap, length)]
        if not last:
            w[-overlap:] = np.minimum(w[-overlap:], ramp[::-1][-min(overlap, length):])
    return torch.from_numpy(w)


@torch.inference_mode()
def predict_mask(model, mag, spec, chunk_frames=512, overlap_frames=64, device=None):
    """Vocal mask (C, F, T) for magnitudes (C, F, T), computed chunk by chunk on `device`."""
    device = device or next(model.parameters()).device
    channels, _, frames = mag.shape
    multiple = 2 ** model.depth
    chunk_frames = max(multiple, int(math.ceil(chunk_frames / multiple)) * multiple)
    overlap_frames = min(overlap_frames, chunk_frames // 2)
    step = chunk_frames - overlap_frames
    mask = torch.zeros_like(mag)
    total = torch.zeros(frames)
    starts = list(range(0, max(frames - overlap_frames, 1), step)) if frames > chunk_frames else [0]
    for k, start in enumerate(starts):
        stop = min(start + chunk_frames, frames)
        piece = mag[:, :, start:stop].to(device)
        length = stop - start
        pad = (-length) % multiple
        x, _ = network_input(torch.nn.functional.pad(piece, (0, pad)), spec)
        m = full_band_mask(model(x), spec)[..., :length].cpu()
        w = _fade_weights(length, overlap_frames, k == 0, stop >= frames)
        mask[:, :, start:stop] += m * w
        total[start:stop] += w
    return mask / total.clamp_min(1e-6)


def separate_wave(model, spec, wave, chunk_frames=512, overlap_frames=64, device=None):
    """Vocal estimate (C, samples) of float32 mixture waves (C, samples) at spec.sample_rate."""
    x = torch.as_tensor(np.ascontiguousarray(wave), dtype=torch.float32)
    vocal = torch.empty_like(x)
    for c in range(x.shape[0]):  # one channel at a time: memory stays at one channel's STFT
        spec_c = stft(x[c:c + 1], spec)
        mask = predict_mask(model, spec_c.abs(), spec, chunk_frames, overlap_frames, device)
        vocal[c:c + 1] = istft(spec_c * mask, spec, x.shape[-1])
        del spec_c, mask
    return vocal.numpy()


class Separator:
    """Separate whole files or arrays with a vocal U-Net loaded once.

    >>> sep = Separator()                       # the shipped pretrained model, best device
    >>> vocal, accompaniment = sep.separate_file("song.mp3")
    Output is at the input's sample rate and channel count; vocal + accompaniment == input.
    """

    def __init__(self, model_path=None, device="auto", chunk_seconds=12.0, overlap_seconds=1.5):
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.device = pick_device(device)
        self.model, self.spec, self.info = load_model(self.model_path, self.device)
        self.chunk_frames = max(64, int(chunk_seconds * self.spec.sample_rate / self.spec.hop))
        self.overlap_frames = int(overlap_seconds * self.spec.sample_rate / self.spec.hop)

    def separate(self, signal, sr):
        """(vocal, accompaniment) float32 arrays shaped like `signal` ((frames,) or (frames, channels))."""
        signal = np.asarray(signal, dtype=np.float32)
        two_d = signal.ndim == 2
        data = signal if two_d else signal[:, None]
        if data.shape[0] == 0:
            raise ValueError("cannot separate an empty signal")
        low = resample(data, sr, self.spec.sample_rate)
        vocal_low = separate_wave(self.model, self.spec, low.T, self.chunk_frames, self.overlap_frames,
                                  self.device).T
        vocal = resample(vocal_low, self.spec.sample_rate, sr)
        vocal = _fit_length(vocal.reshape(-1, data.shape[1]), data.shape[0])
        accompaniment = data - vocal
        if not two_d:
            return vocal[:, 0], accompaniment[:, 0]
        return vocal, accompaniment

    def separate_file(self, path):
        """(vocal, accompaniment, sr) of any file soundfile or ffmpeg reads."""
        data, sr = load(path)
        vocal, accompaniment = self.separate(data, sr)
        return vocal, accompaniment, sr

    def separate_to(self, path, out_dir, subtype="FLOAT"):
        """Write out_dir/vocal.wav and out_dir/accompaniment.wav for one file; returns their paths."""
        vocal, accompaniment, sr = self.separate_file(path)
        out_dir = Path(out_dir)
        paths = out_dir / "vocal.wav", out_dir / "accompaniment.wav"
        write_wav(paths[0], vocal, sr, subtype=subtype)
        write_wav(paths[1], accompaniment, sr, subtype=subtype)
        return paths


def _fit_length(x, n):
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros((n - len(x),) + x.shape[1:], dtype=x.dtype)])
