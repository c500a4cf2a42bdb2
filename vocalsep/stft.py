"""Short-time Fourier transforms of the package, in torch, time-major: (..., frames, bins).

Two framings share this module:

- Centred frames (`stft`, `istft`): zero padding of n_fft // 2 at both ends, as librosa does by
  default; used by the fingerprint, the matching and the oracle masks. Per-frame metrics are
  reductions over the last axis.
- Spleeter's framing (`StftGrid`, `padded`, `grid_stft`, `overlap_add`): one frame length of zeros
  prepended to the wave, frames up to the last sample (zero padding at the end), and the inverse
  by windowed overlap-add scaled by the Hann window's squared sum. Used by the vocal U-Net, on
  Spleeter's own 44.1 kHz grid (n_fft 4096, hop 1024) or on the 22.05 kHz grid (n_fft 2048,
  hop 512: the same bin and frame spacing over the 1024 bins the network sees; a window of half
  the length sums half as many samples, so magnitudes are scaled by 2 to meet the network's scale).

Both use a periodic Hann window.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@functools.lru_cache(maxsize=16)
def _hann(n_fft, device_type, dtype):
    return torch.hann_window(n_fft, periodic=True, dtype=dtype, device=torch.device(device_type))


def hop_length(n_fft, hop_fraction):
    """Hop in samples for a scale: n_fft * hop_fraction, at least 1."""
    return max(1, int(round(n_fft * hop_fraction)))


def stft(signal, n_fft, hop):
    """Complex STFT of a (..., samples) tensor as (..., windows, n_fft // 2 + 1).

    Frames are centred (zero padding at both ends), as librosa does by default.
    """
    signal = torch.as_tensor(signal)
    if signal.dtype not in (torch.float32, torch.float64):
        signal = signal.float()
    window = _hann(n_fft, signal.device.type, signal.dtype)
    lead = signal.shape[:-1]
    flat = signal.reshape(-1, signal.shape[-1])
    spec = torch.stft(flat, n_fft, hop_length=hop, window=window, center=True, pad_mode="constant",
                      return_complex=True)
    return spec.transpose(-1, -2).reshape(*lead, spec.shape[-1], spec.shape[-2])


def istft(spec, n_fft, hop, length):
    """Inverse of `stft`: a (..., windows, bins) complex tensor back to (..., length) samples."""
    window = _hann(n_fft, spec.device.type, spec.real.dtype)
    lead = spec.shape[:-2]
    flat = spec.reshape(-1, *spec.shape[-2:]).transpose(-1, -2)
    out = torch.istft(flat, n_fft, hop_length=hop, window=window, center=True, length=length)
    return out.reshape(*lead, length)


def bin_frequencies(n_fft, sr):
    """Centre frequency in Hz of each STFT bin (0 .. sr/2)."""
    return torch.arange(n_fft // 2 + 1, dtype=torch.float32) * (sr / n_fft)


def frame_count(samples, hop):
    """Number of centred frames torch.stft returns for a signal of `samples` samples."""
    return samples // hop + 1


@dataclass(frozen=True)
class StftGrid:
    """Sample rate, frame, hop, the bins the network sees, and the factor to Spleeter's magnitudes."""

    sample_rate: int = 44100
    n_fft: int = 4096
    hop: int = 1024
    bins: int = 1024
    scale: float = 1.0

    def __post_init__(self):
        if self.n_fft % self.hop:
            raise ValueError("n_fft must be a multiple of hop (the overlap-add works hop by hop)")

    def as_dict(self) -> dict:
        return asdict(self)

    def frames(self, samples: int) -> int:
        """Frames of a wave of `samples` samples (the prepended frame included)."""
        return -(-(samples + self.n_fft) // self.hop)

    def window(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.hann_window(self.n_fft, periodic=True, device=device)


SPLEETER_GRID = StftGrid()
HALF_RATE_GRID = StftGrid(sample_rate=22050, n_fft=2048, hop=512, bins=1024, scale=2.0)


def padded(wave: torch.Tensor, grid: StftGrid) -> torch.Tensor:
    """(C, samples) -> (C, n_fft + samples + end padding): the signal Spleeter frames."""
    samples = wave.shape[-1]
    end = (grid.frames(samples) - 1) * grid.hop + grid.n_fft - samples - grid.n_fft
    return F.pad(wave, (grid.n_fft, end))


def grid_stft(signal: torch.Tensor, grid: StftGrid) -> torch.Tensor:
    """Complex STFT (C, frames, n_fft // 2 + 1) of an already padded signal (C, samples)."""
    spec = torch.stft(signal, grid.n_fft, grid.hop, window=grid.window(signal.device), center=False,
                      return_complex=True)
    return spec.transpose(-1, -2)


def overlap_add(spec: torch.Tensor, grid: StftGrid) -> torch.Tensor:
    """Windowed overlap-add (C, (frames - 1) * hop + n_fft) of a complex STFT (C, frames, bins).

    The inverse of `grid_stft` up to the scale Spleeter applies: Hann^2 summed over the overlaps.
    """
    frames = torch.fft.irfft(spec, n=grid.n_fft, dim=-1) * grid.window(spec.device)
    channels, count = spec.shape[0], spec.shape[-2]
    parts = grid.n_fft // grid.hop  # each frame spans this many hops (n_fft is a multiple of hop)
    out = frames.new_zeros(channels, count + parts - 1, grid.hop)
    for k, piece in enumerate(frames.reshape(channels, count, parts, grid.hop).unbind(2)):
        out[:, k:k + count] += piece
    return out.reshape(channels, -1) / (0.375 * parts)
