"""Reference separations on the same STFT as the fingerprint matching.

Oracles (they see the true vocal): IRM2 = |V|^2 / (|V|^2 + |A|^2), IRM1 = |V| / (|V| + |A|),
IBM = [|V| > |A|]. Blind: REPET-SIM (librosa's nearest-neighbour-filter recipe, here in numpy: median of
the most similar frames by cosine distance, at least 2 s apart, soft masks with margin 10 and
power 2), run on segments of `segment_seconds` so memory stays bounded on long songs. The floor: the
mixture itself as the estimate of both sources.
Every mask is applied to the mix STFT and rendered with the inverse STFT (mix phase); the
accompaniment estimate is the mix minus the vocal estimate.
"""

import numpy as np
import torch

from .stft import istft, stft

ORACLES = ("IRM2", "IRM1", "IBM")
METHODS = (*ORACLES, "REPET-SIM", "mixture")
EPS = 1e-10


def oracle_masks(V, A):
    """{name: mask} from the complex STFTs of the vocal and the accompaniment (torch tensors)."""
    v, a = V.abs(), A.abs()
    return {
        "IRM2": v**2 / (v**2 + a**2 + EPS),
        "IRM1": v / (v + a + EPS),
        "IBM": (v > a).to(v.dtype),
    }


def repet_sim_mask(mag, sr, hop, segment_seconds=30.0, margin=10.0, power=2.0, min_gap_seconds=2.0):
    """REPET-SIM vocal mask of a magnitude spectrogram (windows, bins), numpy in and out.

    librosa's recipe (`nn_filter(S, aggregate=np.median, metric="cosine", width=w)`, then
    `softmask(S - min(S, rep), margin * rep, power)`) in numpy, without librosa, per segment of
    `segment_seconds`, so the similarity matrix is (segment windows)^2 at most.
    tests/test_matching.py checks it against librosa itself.
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


def nn_neighbours(S, width, k=None):
    """For each row of S (observations, features): the indices of its neighbours as librosa's
    `recurrence_matrix(S.T, width=width, metric="cosine", sym=False)` picks them: the
    min(t - 1, k + 2 width) rows nearest by cosine distance (not itself), less those closer than
    `width` in time, of which the first k in time order (librosa keeps the first k of its ties).
    k defaults to librosa's 2 ceil(sqrt(t - 2 width + 1)). Returns a list of index arrays."""
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


def nn_median(S, width, k=None, block=16):
    """librosa's `nn_filter(S.T, aggregate=np.median, metric="cosine", width=width).T` (float64):
    each row replaced by the median of its neighbours' rows (itself where it has none). The order
    statistics are picked in S's own dtype (exact), the mean of the middle two in float64, as
    np.median of the float64 values gives them."""
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


def softmask(X, X_ref, power=1.0):
    """librosa.util.softmask(X, X_ref, power=power) for finite power, split_zeros=False."""
    Z = np.maximum(X, X_ref)
    bad = Z < np.finfo(Z.dtype).tiny
    Z[bad] = 1
    mask = (X / Z) ** power
    ref = (X_ref / Z) ** power
    good = ~bad
    mask[good] /= mask[good] + ref[good]
    mask[bad] = 0.0
    return mask


def render(X, mask, n_fft, hop, length):
    """istft(mask * X) as float32 numpy."""
    m = torch.as_tensor(mask, dtype=X.real.dtype)
    with torch.no_grad():
        return istft(m * X, n_fft, hop, length).numpy().astype(np.float32)


def iter_baselines(mix, vocal, sr, n_fft, hop, segment_seconds=30.0):
    """(method, (vocal_estimate, accompaniment_estimate)) for the oracles, REPET-SIM and the
    floor, made one at a time so that a long song holds one method's signals at once."""
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


def baselines(mix, vocal, sr, n_fft, hop, segment_seconds=30.0):
    """{method: (vocal_estimate, accompaniment_estimate)} for the oracles, REPET-SIM and the floor."""
    return {name: tuple(np.array(x) for x in pair)
            for name, pair in iter_baselines(mix, vocal, sr, n_fft, hop, segment_seconds)}
