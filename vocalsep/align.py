"""Automatic alignment of an acapella to its full mix: lag, polarity, gain and the null test.

The original instructions had users line the acapella up by hand in Audacity and check it by
inverting one file and summing ("even a few milliseconds off ruins the match"). Here the lag and
polarity come from a phase-transform cross-correlation (GCC-PHAT), whose peak is sharp even for
pitched, repetitive material; the gain of the stem inside the mix is a least-squares fit, and the
null test is the energy left in mix - gain * aligned stem, relative to the mix.
"""

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import fft as sfft


@dataclass
class Alignment:
    """How a stem sits inside its mix, as `estimate` finds it, with the checks that judge it.

    `trusted` is true when no warning was raised; `warnings` holds the reasons, as sentences.
    """

    lag_samples: int          # the stem must be delayed by this many samples (negative: advanced)
    lag_ms: float
    polarity: int             # +1, or -1 when the stem is inverted relative to the mix
    gain: float               # least-squares gain of the aligned stem inside the mix
    correlation: float        # normalised correlation of mix and aligned stem (= sqrt of explained energy)
    peak_ratio: float         # GCC-PHAT peak over the strongest peak at any other lag (trust)
    null_db: float            # 10 log10(|mix - gain * aligned stem|^2 / |mix|^2) after correction
    null_db_uncorrected: float  # the same for the stem as given (no shift, no flip, gain 1)
    trusted: bool
    warnings: list

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict, ready for JSON.

        Returns:
            Field name -> value.
        """
        return asdict(self)


def shift(signal: np.ndarray, lag: int) -> np.ndarray:
    """Delay a signal by lag samples (advance when negative), zero-filled, same length.

    Args:
        signal: 1-D signal, shape (n,).
        lag: samples to delay by; negative advances.

    Returns:
        The shifted signal, same shape and dtype as signal.
    """
    out = np.zeros_like(signal)
    if lag >= 0:
        out[lag:] = signal[: len(signal) - lag]
    else:
        out[:lag] = signal[-lag:]
    return out


def _gcc_phat(mix, stem, max_lag):
    """GCC-PHAT cross-correlation for lags -max_lag..max_lag (index i <-> lag i - max_lag)."""
    n = sfft.next_fast_len(len(mix) + len(stem))
    cross = sfft.rfft(mix, n) * np.conj(sfft.rfft(stem, n))
    cross /= np.abs(cross) + 1e-12 * np.abs(cross).max()
    cc = sfft.irfft(cross, n)
    return np.concatenate([cc[-max_lag:], cc[: max_lag + 1]]) if max_lag else cc[:1]


def _null_db(mix, residual):
    """Energy of residual relative to mix, in dB."""
    return float(10 * np.log10((np.dot(residual, residual) + 1e-20) / (np.dot(mix, mix) + 1e-20)))


def estimate(
    mix: np.ndarray,
    stem: np.ndarray,
    sr: int,
    max_lag_seconds: float = 0.5,
    min_peak_ratio: float = 1.5,
    max_null_db: float = -0.2,
) -> Alignment:
    """Estimate how the mono stem sits inside the mono mix: lag, polarity, gain and null test.

    The shorter signal is zero-padded to the longer one's length first.

    Args:
        mix: mono mix, shape (n,).
        stem: mono stem (the acapella), shape (m,), at the same sample rate.
        sr: sample rate in Hz.
        max_lag_seconds: largest lag searched, either way, in seconds.
        min_peak_ratio: below this GCC-PHAT peak ratio the lag is not trusted.
        max_null_db: above this null (in dB) the stem explains too little of the mix.

    Returns:
        The alignment, with warnings (and trusted False) when a check fails.
    """
    mix = np.asarray(mix, dtype=np.float64)
    stem = np.asarray(stem, dtype=np.float64)
    n = max(len(mix), len(stem))
    mix_p = np.pad(mix, (0, n - len(mix)))
    stem_p = np.pad(stem, (0, n - len(stem)))
    max_lag = int(min(round(max_lag_seconds * sr), n - 1))

    cc = _gcc_phat(mix_p, stem_p, max_lag)
    best = int(np.argmax(np.abs(cc)))
    lag = best - max_lag
    polarity = 1 if cc[best] >= 0 else -1
    guard = max(1, int(0.001 * sr))  # the peak's own width: 1 ms either side
    others = np.abs(np.concatenate([cc[: max(0, best - guard)], cc[best + guard + 1:]]))
    peak_ratio = float(np.abs(cc[best]) / others.max()) if others.size and others.max() > 0 else float("inf")

    aligned = polarity * shift(stem_p, lag)
    energy = np.dot(aligned, aligned)
    gain = float(np.dot(mix_p, aligned) / energy) if energy > 0 else 0.0
    correlation = float(np.dot(mix_p, aligned) / (np.sqrt(energy * np.dot(mix_p, mix_p)) + 1e-20))
    null_db = _null_db(mix_p, mix_p - gain * aligned)
    null_db_uncorrected = _null_db(mix_p, mix_p - stem_p)

    warnings = []
    if peak_ratio < min_peak_ratio:
        warnings.append(
            f"weak correlation: the best lag stands only {peak_ratio:.2f}x above any other "
            f"(< {min_peak_ratio}); the acapella may be from a different take or master"
        )
    if null_db > max_null_db:
        warnings.append(
            f"null test leaves {null_db:.1f} dB of the mix (> {max_null_db} dB): the stem explains little of the mix"
        )
    if gain <= 0:
        warnings.append("the stem does not add up inside the mix (gain <= 0)")
    elif not 0.25 <= gain <= 4.0:
        warnings.append(f"the stem sits in the mix at gain {gain:.2f}: a different master or level")
    return Alignment(
        lag_samples=lag,
        lag_ms=1000.0 * lag / sr,
        polarity=polarity,
        gain=gain,
        correlation=correlation,
        peak_ratio=peak_ratio,
        null_db=null_db,
        null_db_uncorrected=null_db_uncorrected,
        trusted=not warnings,
        warnings=warnings,
    )


def apply(stem: np.ndarray, alignment: Alignment, apply_gain: bool = False) -> np.ndarray:
    """Shift and flip the stem (and scale it, if asked) as the alignment says.

    Args:
        stem: mono stem, shape (n,).
        alignment: the result of `estimate` for this stem.
        apply_gain: also multiply by the alignment's gain.

    Returns:
        The aligned stem, float32, shape (n,).
    """
    out = alignment.polarity * shift(np.asarray(stem, dtype=np.float32), alignment.lag_samples)
    if apply_gain:
        out = out * np.float32(alignment.gain)
    return out.astype(np.float32)
