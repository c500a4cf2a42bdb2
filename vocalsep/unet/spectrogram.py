"""The vocal U-Net's STFT: Spleeter's framing, on its own 44.1 kHz grid or on the 22.05 kHz grid.

Spleeter prepends one frame length of zeros to the wave, frames it with a periodic Hann window
(4096 samples, hop 1024 at 44.1 kHz) up to the last sample (zero padding at the end), and
inverts by windowed overlap-add scaled by 2/3 (the Hann window's squared sum at hop n_fft/4).
At 22.05 kHz, n_fft 2048 and hop 512 give the same bin spacing (10.8 Hz) and frame spacing
(23.2 ms) over the band the network sees (bins 0-1023, up to 11 kHz); a Hann window of half the
length sums half as many samples, so magnitudes are scaled by 2 to meet the network's scale.
Arrays are (channels, frames, bins): the time-major layout of Spleeter's network input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


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


def stft(signal: torch.Tensor, grid: StftGrid) -> torch.Tensor:
    """Complex STFT (C, frames, n_fft // 2 + 1) of an already padded signal (C, samples)."""
    spec = torch.stft(signal, grid.n_fft, grid.hop, window=grid.window(signal.device), center=False,
                      return_complex=True)
    return spec.transpose(-1, -2)


def overlap_add(spec: torch.Tensor, grid: StftGrid) -> torch.Tensor:
    """Windowed overlap-add (C, (frames - 1) * hop + n_fft) of a complex STFT (C, frames, bins).

    The inverse of `stft` up to the scale Spleeter applies: Hann^2 summed over the overlaps.
    """
    frames = torch.fft.irfft(spec, n=grid.n_fft, dim=-1) * grid.window(spec.device)
    channels, count = spec.shape[0], spec.shape[-2]
    parts = grid.n_fft // grid.hop  # each frame spans this many hops (n_fft is a multiple of hop)
    out = frames.new_zeros(channels, count + parts - 1, grid.hop)
    for k, piece in enumerate(frames.reshape(channels, count, parts, grid.hop).unbind(2)):
        out[:, k:k + count] += piece
    return out.reshape(channels, -1) / (0.375 * parts)
