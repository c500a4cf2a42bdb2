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
def _hann(n_fft: int, device_type: str, dtype: torch.dtype) -> torch.Tensor:
    """The periodic Hann window, cached per length, device type and dtype."""
    return torch.hann_window(n_fft, periodic=True, dtype=dtype, device=torch.device(device_type))


def hop_length(n_fft: int, hop_fraction: float) -> int:
    """Hop in samples for a scale.

    Args:
        n_fft: the frame length in samples.
        hop_fraction: the hop as a fraction of the frame.

    Returns:
        round(n_fft * hop_fraction), at least 1.
    """
    return max(1, int(round(n_fft * hop_fraction)))


def stft(signal: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """Complex STFT with centred frames (zero padding at both ends), as librosa does by default.

    Args:
        signal: samples (..., samples), a tensor or anything torch.as_tensor takes; other dtypes
            than float32 and float64 are computed in float32.
        n_fft: the frame length in samples.
        hop: the hop in samples.

    Returns:
        Complex (..., windows, n_fft // 2 + 1), windows = samples // hop + 1 (see `frame_count`).
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


def istft(spec: torch.Tensor, n_fft: int, hop: int, length: int) -> torch.Tensor:
    """Inverse of `stft`.

    Args:
        spec: complex (..., windows, n_fft // 2 + 1).
        n_fft: the frame length in samples, as given to `stft`.
        hop: the hop in samples, as given to `stft`.
        length: the number of samples to return (the original signal's).

    Returns:
        Real samples (..., length).
    """
    window = _hann(n_fft, spec.device.type, spec.real.dtype)
    lead = spec.shape[:-2]
    flat = spec.reshape(-1, *spec.shape[-2:]).transpose(-1, -2)
    out = torch.istft(flat, n_fft, hop_length=hop, window=window, center=True, length=length)
    return out.reshape(*lead, length)


def bin_frequencies(n_fft: int, sr: float) -> torch.Tensor:
    """Centre frequency of each STFT bin.

    Args:
        n_fft: the frame length in samples.
        sr: the sample rate in Hz.

    Returns:
        float32 (n_fft // 2 + 1,), in Hz from 0 to sr / 2.
    """
    return torch.arange(n_fft // 2 + 1, dtype=torch.float32) * (sr / n_fft)


def frame_count(samples: int, hop: int) -> int:
    """Number of centred frames `stft` returns for a signal.

    Args:
        samples: the signal's length in samples.
        hop: the hop in samples.

    Returns:
        samples // hop + 1.
    """
    return samples // hop + 1


@dataclass(frozen=True)
class StftGrid:
    """Spleeter's framing at one sample rate: the grid a vocal U-Net's spectrograms are on.

    Fields: sample_rate in Hz, n_fft (frame) and hop in samples (n_fft a multiple of hop), bins
    (the low bins the network sees) and scale (the factor from this grid's magnitudes to
    Spleeter's 44.1 kHz ones).
    """

    sample_rate: int = 44100
    n_fft: int = 4096
    hop: int = 1024
    bins: int = 1024
    scale: float = 1.0

    def __post_init__(self):
        if self.n_fft % self.hop:
            raise ValueError("n_fft must be a multiple of hop (the overlap-add works hop by hop)")

    def as_dict(self) -> dict:
        """The fields as a dictionary (for a model's saved settings).

        Returns:
            {field name: value}.
        """
        return asdict(self)

    def frames(self, samples: int) -> int:
        """Number of frames of a wave on this grid.

        Args:
            samples: the wave's length in samples.

        Returns:
            The frames, the prepended one included: ceil((samples + n_fft) / hop).
        """
        return -(-(samples + self.n_fft) // self.hop)

    def window(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The periodic Hann window of the grid's frame.

        Args:
            device: where to make it.

        Returns:
            (n_fft,), in torch's default float dtype.
        """
        return torch.hann_window(self.n_fft, periodic=True, device=device)


SPLEETER_GRID = StftGrid()
HALF_RATE_GRID = StftGrid(sample_rate=22050, n_fft=2048, hop=512, bins=1024, scale=2.0)


def padded(wave: torch.Tensor, grid: StftGrid) -> torch.Tensor:
    """The signal Spleeter frames: one frame of zeros before the wave, zeros after it to the last frame.

    Args:
        wave: samples (C, samples).
        grid: the framing.

    Returns:
        (C, (grid.frames(samples) - 1) * hop + n_fft), ready for `grid_stft`.
    """
    samples = wave.shape[-1]
    end = (grid.frames(samples) - 1) * grid.hop + grid.n_fft - samples - grid.n_fft
    return F.pad(wave, (grid.n_fft, end))


def grid_stft(signal: torch.Tensor, grid: StftGrid) -> torch.Tensor:
    """Complex STFT on the grid of an already padded signal (see `padded`), frames not centred.

    Args:
        signal: samples (C, samples).
        grid: the framing.

    Returns:
        Complex (C, frames, n_fft // 2 + 1).
    """
    spec = torch.stft(signal, grid.n_fft, grid.hop, window=grid.window(signal.device), center=False,
                      return_complex=True)
    return spec.transpose(-1, -2)


def overlap_add(spec: torch.Tensor, grid: StftGrid) -> torch.Tensor:
    """Windowed overlap-add (C, (frames - 1) * hop + n_fft) of a complex STFT (C, frames, bins).

    The inverse of `grid_stft` up to the scale Spleeter applies: Hann^2 summed over the overlaps.

    Args:
        spec: complex (C, frames, n_fft // 2 + 1).
        grid: the framing.

    Returns:
        Real samples (C, (frames - 1) * hop + n_fft), on the padded signal's time axis.
    """
    frames = torch.fft.irfft(spec, n=grid.n_fft, dim=-1) * grid.window(spec.device)
    channels, count = spec.shape[0], spec.shape[-2]
    parts = grid.n_fft // grid.hop  # each frame spans this many hops (n_fft is a multiple of hop)
    out = frames.new_zeros(channels, count + parts - 1, grid.hop)
    for k, piece in enumerate(frames.reshape(channels, count, parts, grid.hop).unbind(2)):
        out[:, k:k + count] += piece
    return out.reshape(channels, -1) / (0.375 * parts)
