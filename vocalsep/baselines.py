"""Reference separations on the same STFT as the fingerprint matching.

Oracles (they see the true vocal): IRM2 = |V|^2 / (|V|^2 + |A|^2), IRM1 = |V| / (|V| + |A|),
IBM = [|V| > |A|]. Blind: REPET-SIM (librosa's nearest-neighbour-filter recipe: median of the
most similar frames by cosine distance, at least 2 s apart, soft masks with margin 10 and power 2),
run on segments of `segment_seconds` so memory stays bounded on long songs. The floor: the
mixture itself as the estimate of both sources.
Every mask is applied to the mix STFT and rendered with the inverse STFT (mix phase); the
accompaniment estimate is the mix minus the vocal estimate.
"""

import numpy as np
import torch

from .fingerprint.stft import istft, stft

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
    """REPET-SIM vocal mask of a magnitude spectrogram (windows, bins), numpy in and out."""
    import librosa

    mag = np.asarray(mag, dtype=np.float32)
    n_win = mag.shape[0]
    seg = max(1, int(round(segment_seconds * sr / hop)))
    bounds = list(range(0, n_win, seg)) + [n_win]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < seg // 2:  # no short last segment
        bounds.pop(-2)
    mask = np.zeros_like(mag)
    for a, b in zip(bounds[:-1], bounds[1:]):
        S = mag[a:b].T.astype(np.float64)  # (bins, windows) as librosa wants
        width = min(int(librosa.time_to_frames(min_gap_seconds, sr=sr, hop_length=hop)), max(1, (b - a - 1) // 2 - 1))
        if b - a < 8 or not np.any(S):
            continue  # too short to find repetitions: vocal mask 0 (all accompaniment)
        rep = librosa.decompose.nn_filter(S, aggregate=np.median, metric="cosine", width=width)
        rep = np.minimum(S, rep)
        mask_v = librosa.util.softmask(S - rep, margin * rep, power=power)
        mask[a:b] = mask_v.T
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
