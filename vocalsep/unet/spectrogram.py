"""STFT settings of the vocal U-Net and the network's view of a magnitude spectrogram.

At 22050 Hz an n_fft of 1024 gives 513 bins from 0 to 11025 Hz: the network sees the lowest
512 (0 to 11003 Hz, a multiple of 2**6 for six strided steps) and the Nyquist bin reuses the
mask of bin 511, so the whole band 0-11 kHz is separated (no hard cut as in Spleeter).
"""

import math
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class SpecConfig:
    sample_rate: int = 22050
    n_fft: int = 1024
    hop: int = 256
    bins: int = 512            # bins the network sees (multiple of 2**depth)
    compress: float = 100.0    # input = log1p(compress * |X| / max|X|) / log1p(compress)

    def as_dict(self):
        return asdict(self)

    def frames_to_samples(self, frames):
        """Samples that give exactly `frames` STFT frames (centred STFT)."""
        return (frames - 1) * self.hop


def stft(wave, cfg):
    """Complex STFT of (..., samples) float waves -> (..., n_fft//2+1, frames)."""
    shape = wave.shape[:-1]
    window = torch.hann_window(cfg.n_fft, device=wave.device, dtype=wave.dtype)
    spec = torch.stft(wave.reshape(-1, wave.shape[-1]), cfg.n_fft, cfg.hop, window=window, center=True,
                      return_complex=True)
    return spec.reshape(*shape, *spec.shape[-2:])


def istft(spec, cfg, length):
    """Inverse of stft, `length` samples."""
    shape = spec.shape[:-2]
    window = torch.hann_window(cfg.n_fft, device=spec.device)
    wave = torch.istft(spec.reshape(-1, *spec.shape[-2:]), cfg.n_fft, cfg.hop, window=window, center=True,
                       length=length)
    return wave.reshape(*shape, length)


def network_input(mag, cfg, eps=1e-8):
    """(N, bins+1, T) magnitudes -> (N, 1, bins, T) compressed input and the per-item scale used.

    Each item is scaled by its own maximum (as Jansson et al. do per patch), then log-compressed
    so that quiet harmonics high up carry weight.
    """
    scale = mag[..., : cfg.bins, :].amax(dim=(-2, -1), keepdim=True) + eps
    x = torch.log1p(cfg.compress * mag[..., : cfg.bins, :] / scale) / math.log1p(cfg.compress)
    return x.unsqueeze(1), scale


def full_band_mask(mask, cfg):
    """(N, 1, bins, T) network mask -> (N, bins+1, T): the Nyquist bin takes bin bins-1's value."""
    mask = mask.squeeze(1)
    return torch.cat([mask, mask[..., -1:, :]], dim=-2)
