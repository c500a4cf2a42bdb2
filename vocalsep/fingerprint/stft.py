"""Short-time Fourier transforms in torch (Hann window, centred frames), windows first.

Every spectrogram in the package is laid out (..., windows, bins) so that per-window
metrics are reductions over the last axis.
"""

import functools

import torch


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
