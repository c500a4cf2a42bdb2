"""Reference separations on the same STFT as the fingerprint matching.

Oracles (they see the true vocal): IRM2 = |V|^2 / (|V|^2 + |A|^2), IRM1 = |V| / (|V| + |A|),
IBM = [|V| > |A|]. Blind: REPET-SIM (librosa's nearest-neighbour-filter recipe, here in numpy: median of
the most similar frames by cosine distance, at least 2 s apart, soft masks with margin 10 and
power 2), run on segments of `segment_seconds` so memory stays bounded on long songs. The floor: the
mixture itself as the estimate of both sources.
Every mask is applied to the mix STFT and rendered with the inverse STFT (mix phase); the
accompaniment estimate is the mix minus the vocal estimate.
"""

from collections.abc import Iterator

import numpy as np
import torch

from .stft import istft, stft

ORACLES = ("IRM2", "IRM1", "IBM")
METHODS = (*ORACLES, "REPET-SIM", "mixture")
EPS = 1e-10


def oracle_masks(V: torch.Tensor, A: torch.Tensor) -> dict[str, torch.Tensor]:
    """The oracle masks from the true sources' STFTs.

    Args:
        V: the vocal's complex STFT (windows, bins).
        A: the accompaniment's complex STFT, the same shape.

    Returns:
        {"IRM2", "IRM1", "IBM": mask}, real tensors of V's shape, in [0, 1].
    """
    v, a = V.abs(), A.abs()
    return {
        "IRM2": v**2 / (v**2 + a**2 + EPS),
        "IRM1": v / (v + a + EPS),
        "IBM": (v > a).to(v.dtype),
    }


def repet_sim_mask(mag: np.ndarray, sr: int, hop: int, segment_seconds: float = 30.0, margin: float = 10.0,
                   power: float = 2.0, min_gap_seconds: float = 2.0) -> np.ndarray:
    """REPET-SIM vocal mask of a magnitude spectrogram, numpy in and out.

    librosa's recipe (`nn_filter(S, aggregate=np.median, metric="cosine", width=w)`, then
    `softmask(S - min(S, rep), margin * rep, power)`) in numpy, without librosa (so the job does
    not import librosa and numba), per segment of `segment_seconds`, so the similarity matrix is
    (segment windows)^2 at most. tests/test_matching.py checks it against librosa itself.

    Args:
        mag: the mix's magnitude spectrogram (windows, bins).
        sr: the sample rate in Hz.
        hop: the STFT's hop in samples.
        segment_seconds: the length of the segments processed on their own, in seconds (a short
            last one is merged into the one before).
        margin: the soft mask's margin on the repeating part.
        power: the soft mask's exponent.
        min_gap_seconds: the least time between a frame and its neighbours, in seconds.

    Returns:
        The vocal mask (windows, bins), float32 in [0, 1]; 0 on segments too short or silent.
    """
    mag = np.asarray(mag, dtype=np.float32)
    n_win = mag.shape[0]
    seg = max(1, int(round(segment_seconds * sr / hop)))
    bounds = list(range(0, n_win, seg)) + [n_win]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < seg // 2:  # no short last segment
        bounds.pop(-2)
    gap = int(min_gap_seconds * sr) // hop  # librosa.time_to_frames(min_gap_seconds, sr=sr, hop_length=hop)
    mask = np.zeros_like(mag)
    for a, b in zip(bounds[:-1], bounds[1:]):
        S = mag[a:b].astype(np.float64)  # (windows, bins)
        width = min(gap, max(1, (b - a - 1) // 2 - 1))
        if b - a < 8 or not np.any(S):
            continue  # too short to find repetitions: vocal mask 0 (all accompaniment)
        rep = np.minimum(S, nn_median(mag[a:b], width))
        mask[a:b] = softmask(S - rep, margin * rep, power)
    return mask


def nn_neighbours(S: np.ndarray, width: int, k: int | None = None) -> list[np.ndarray]:
    """The neighbours of each row of S, as librosa's recurrence_matrix picks them.

    As `recurrence_matrix(S.T, width=width, metric="cosine", sym=False)`: the
    min(t - 1, k + 2 width) rows nearest by cosine distance (not itself), less those closer than
    `width` in time, of which the first k in time order (librosa keeps the first k of its ties).

    Args:
        S: the observations (t, features).
        width: the least distance in rows between a row and its neighbours, from 1 to
            (t - 1) // 2.
        k: the most neighbours per row; default librosa's 2 ceil(sqrt(t - 2 width + 1)).

    Returns:
        For each of the t rows, the indices of its neighbours, rising.

    Raises:
        ValueError: when width is out of range.
    """
    t = S.shape[0]
    if width < 1 or width >= (t - 1) // 2:
        raise ValueError(f"width={width} must be at least 1 and at most (t - 1) // 2={(t - 1) // 2}")
    if k is None:
        k = 2 * np.ceil(np.sqrt(t - 2 * width + 1))
    k = int(k)
    n_nb = min(t - 1, k + 2 * width)
    norm = np.sqrt(np.einsum("ij,ij->i", S, S))
    X = S / np.where(norm == 0, 1.0, norm)[:, None]  # sklearn.preprocessing.normalize
    D = 1.0 - X @ X.T  # sklearn's cosine_distances
    np.clip(D, 0.0, 2.0, out=D)
    idx = np.arange(t)
    D[idx, idx] = np.inf  # a frame is not its own neighbour
    nearest = np.argpartition(D, n_nb - 1, axis=1)[:, :n_nb]
    keep = np.zeros((t, t), dtype=bool)
    keep[idx[:, None], nearest] = True
    lag = idx[None, :] - idx[:, None]
    keep[np.abs(lag) < width] = False
    keep &= np.cumsum(keep, axis=1) <= k
    return [np.flatnonzero(row) for row in keep]


def nn_median(S: np.ndarray, width: int, k: int | None = None, block: int = 16) -> np.ndarray:
    """librosa's `nn_filter(S.T, aggregate=np.median, metric="cosine", width=width).T`, in numpy.

    Each row is replaced by the median of its neighbours' rows (`nn_neighbours`; itself where it
    has none). The order statistics are picked in S's own dtype (exact), the mean of the middle
    two in float64, as np.median of the float64 values gives them.

    Args:
        S: the observations (t, features), such as magnitude frames.
        width: the least distance in rows between a row and its neighbours.
        k: the most neighbours per row (default librosa's, see `nn_neighbours`).
        block: rows whose medians are taken together (bounds the memory of the gathered rows).

    Returns:
        The filtered rows (t, features), float64.
    """
    S = np.asarray(S)
    neighbours = nn_neighbours(S.astype(np.float64), width, k)
    ST = np.ascontiguousarray(S.T)  # (features, rows): the neighbours of a row along the last axis
    out = np.empty(S.shape, dtype=np.float64)
    counts = np.array([len(n) for n in neighbours])
    for a in range(0, len(S), block):
        rows = np.arange(a, min(len(S), a + block))
        for c in np.unique(counts[rows]):
            sel = rows[counts[rows] == c]
            if c == 0:
                out[sel] = S[sel]
                continue
            h = c // 2
            part = np.partition(ST[:, np.stack([neighbours[i] for i in sel])], h, axis=-1)  # (features, rows, c)
            upper = part[..., h].astype(np.float64)
            med = (part[..., :h].max(axis=-1).astype(np.float64) + upper) / 2 if c % 2 == 0 else upper
            out[sel] = med.T
    return out


def softmask(X: np.ndarray, X_ref: np.ndarray, power: float = 1.0) -> np.ndarray:
    """librosa.util.softmask(X, X_ref, power=power) for finite power, split_zeros=False.

    Args:
        X: the wanted part's magnitudes, non-negative.
        X_ref: the reference part's magnitudes, the same shape.
        power: the exponent of the ratio.

    Returns:
        X^p / (X^p + X_ref^p) (X and X_ref first scaled by their maximum), 0 where both are zero.
    """
    Z = np.maximum(X, X_ref)
    bad = Z < np.finfo(Z.dtype).tiny
    Z[bad] = 1
    mask = (X / Z) ** power
    ref = (X_ref / Z) ** power
    good = ~bad
    mask[good] /= mask[good] + ref[good]
    mask[bad] = 0.0
    return mask


def render(X: torch.Tensor, mask: np.ndarray | torch.Tensor, n_fft: int, hop: int, length: int) -> np.ndarray:
    """A masked STFT rendered as a signal with the mix phase: istft(mask * X).

    Args:
        X: the mix's complex STFT (windows, bins).
        mask: the mask (windows, bins).
        n_fft: the STFT's window length in samples.
        hop: its hop in samples.
        length: the signal's length in samples.

    Returns:
        The signal (length,), float32.
    """
    m = torch.as_tensor(mask, dtype=X.real.dtype)
    with torch.no_grad():
        return istft(m * X, n_fft, hop, length).numpy().astype(np.float32)


def iter_baselines(mix: np.ndarray, vocal: np.ndarray, sr: int, n_fft: int, hop: int,
                   segment_seconds: float = 30.0) -> Iterator[tuple[str, tuple[np.ndarray, np.ndarray]]]:
    """The baselines' estimates, made one at a time so that a long song holds one method's at once.

    Args:
        mix: the mix, a 1-D array.
        vocal: the true vocal, a 1-D array of the same length (the oracles see it).
        sr: the sample rate in Hz.
        n_fft: the STFT's window length in samples (the mask STFT's).
        hop: its hop in samples.
        segment_seconds: REPET-SIM's segment length in seconds.

    Yields:
        (method, (vocal_estimate, accompaniment_estimate)) for the oracles, REPET-SIM and the
        floor (the mixture for both), in METHODS' order, float32.
    """
    mix = np.asarray(mix, dtype=np.float32)
    vocal = np.asarray(vocal, dtype=np.float32)
    n = len(mix)
    with torch.no_grad():
        X = stft(torch.from_numpy(mix), n_fft, hop)
        V = stft(torch.from_numpy(vocal), n_fft, hop)
        masks = oracle_masks(V, X - V)
    del V
    for name in ORACLES:
        est = render(X, masks.pop(name), n_fft, hop, n)
        yield name, (est, mix - est)
    est = render(X, repet_sim_mask(X.abs().numpy(), sr, hop, segment_seconds), n_fft, hop, n)
    yield "REPET-SIM", (est, mix - est)
    yield "mixture", (mix, mix)


def baselines(mix: np.ndarray, vocal: np.ndarray, sr: int, n_fft: int, hop: int, segment_seconds: float = 30.0
              ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """All the baselines' estimates at once (see `iter_baselines`).

    Args:
        mix: the mix, a 1-D array.
        vocal: the true vocal, a 1-D array of the same length.
        sr: the sample rate in Hz.
        n_fft: the STFT's window length in samples.
        hop: its hop in samples.
        segment_seconds: REPET-SIM's segment length in seconds.

    Returns:
        {method: (vocal_estimate, accompaniment_estimate)} for the oracles, REPET-SIM and the floor.
    """
    return {name: tuple(np.array(x) for x in pair)
            for name, pair in iter_baselines(mix, vocal, sr, n_fft, hop, segment_seconds)}
