"""Training pairs for the vocal U-Net: where they come from, the split, augmented patches.

A Track is one song's mono vocal and accompaniment at the model's sample rate (so that
vocal + accompaniment is the mix). Sources: prepared pairs in rtg/ (both modes) and folders in
the MUSDB18-HQ layout (<root>/<split>/<track>/mixture.wav + vocals.wav), which is also the layout
of the open corpus (vocalsep.corpus). Validation is split by song name, never by chunk.
Tracks are mono: training duplicates them to the network's two channels, as separation does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from os import PathLike as _PathLike
from pathlib import Path

import numpy as np

from ..audio import load_mono
from ..errors import InputError

PathLike = str | _PathLike


@dataclass
class Track:
    """One song's mono vocal and accompaniment at the model's sample rate; len(track) is their length.

    Attributes:
        name: the song (both modes of one song share it: they go to the same split).
        source: where it came from, e.g. "rtg/no-limit", "musdb:train", "corpus:train".
        vocal: (samples,) vocal.
        accompaniment: (samples,) accompaniment (mix - vocal).
    """

    name: str
    source: str
    vocal: np.ndarray
    accompaniment: np.ndarray

    @property
    def mixture(self) -> np.ndarray:
        """The mix: vocal + accompaniment, (samples,)."""
        return self.vocal + self.accompaniment

    def __len__(self) -> int:
        return len(self.vocal)


def _pair(name, source, mix_path, vocal_path, sr):
    """A Track of a mix and its vocal (accompaniment = mix - vocal), cut to the shorter one."""
    mix = load_mono(mix_path, sr)
    vocal = load_mono(vocal_path, sr)
    n = min(len(mix), len(vocal))
    if n < sr // 2:
        raise InputError(mix_path, f"is too short to train on ({n / sr:.2f} s < 0.5 s)")
    return Track(name, source, vocal[:n], (mix[:n] - vocal[:n]).astype(np.float32))


def rtg_tracks(rtg_dir: PathLike, sr: int) -> list[Track]:
    """Every prepared pair under rtg/{mode}/{song}/ (stereo_mixture.wav + isolated_vocal.wav).

    Args:
        rtg_dir: the rtg/ folder of prepared pairs.
        sr: sample rate to load at, in Hz.

    Returns:
        One Track per pair, sorted by mode then song; source "rtg/<mode>".

    Raises:
        InputError: a pair is unreadable or shorter than 0.5 s.
    """
    tracks = []
    for vocal_path in sorted(Path(rtg_dir).glob("*/*/isolated_vocal.wav")):
        song_dir = vocal_path.parent
        tracks.append(_pair(song_dir.name, f"rtg/{song_dir.parent.name}", song_dir / "stereo_mixture.wav",
                            vocal_path, sr))
    return tracks


def musdb_tracks(root: PathLike, sr: int, splits: tuple[str, ...] = ("train", "test"),
                 source: str = "musdb") -> list[Track]:
    """Tracks of a folder in the MUSDB18-HQ layout: <root>/<split>/<track>/{mixture,vocals}.wav.

    Args:
        root: the folder.
        sr: sample rate to load at, in Hz.
        splits: the split folders to read.
        source: prefix of the tracks' source, "<source>:<split>".

    Returns:
        The tracks, split by split, sorted by name.

    Raises:
        InputError: root is not a folder, holds no tracks, or a track lacks a file.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "is not a folder (expected the MUSDB18-HQ layout: train/<track>/mixture.wav)")
    tracks = []
    for split in splits:
        for track_dir in sorted(p for p in (root / split).glob("*") if p.is_dir()):
            mix, vocal = track_dir / "mixture.wav", track_dir / "vocals.wav"
            if not (mix.is_file() and vocal.is_file()):
                raise InputError(track_dir, "needs both mixture.wav and vocals.wav")
            tracks.append(_pair(track_dir.name, f"{source}:{split}", mix, vocal, sr))
    if not tracks:
        raise InputError(root, f"holds no tracks under {' or '.join(splits)}/")
    return tracks


def song_of(track: Track) -> str:
    """The song a track belongs to, the unit of the train/validation split.

    Args:
        track: the track.

    Returns:
        Its name up to '__' (corpus excerpts '<song>__<n>' of one piece of music stay together),
        else the whole name (one song in both modes shares it).
    """
    return track.name.split("__")[0]


def split_by_song(tracks: list[Track], valid_fraction: float = 0.15, seed: int = 0,
                  valid_names: Iterable[str] | None = None) -> tuple[list[Track], list[Track]]:
    """Split tracks into training and validation by whole songs (`song_of`).

    Tracks of one song (both modes, or excerpts of one piece) always land on the same side;
    with at least two songs both sides get one.

    Args:
        tracks: the tracks.
        valid_fraction: share of the songs to validate on (rounded, at least one).
        seed: salt of the song-name hash that ranks the songs.
        valid_names: the validation songs, instead of the hashed choice.

    Returns:
        (train, valid) tracks, each in the order of `tracks`.
    """
    names = sorted({song_of(t) for t in tracks})
    if valid_names is None:
        key = {n: hashlib.sha256(f"{seed}:{n}".encode()).hexdigest() for n in names}
        ranked = sorted(names, key=key.get)
        n_valid = min(max(1, round(valid_fraction * len(names))), len(names) - 1) if len(names) > 1 else 0
        valid_names = set(ranked[:n_valid])
    valid_names = set(valid_names)
    train = [t for t in tracks if song_of(t) not in valid_names]
    valid = [t for t in tracks if song_of(t) in valid_names]
    return train, valid


def gather_tracks(sr: int, rtg_dir: PathLike | None = None, musdb_dir: PathLike | None = None,
                  corpus_dir: PathLike | None = None) -> list[Track]:
    """Training tracks from every source given (test splits stay unseen).

    Args:
        sr: sample rate to load at, in Hz.
        rtg_dir: the rtg/ folder: all its prepared pairs.
        musdb_dir: a MUSDB18-HQ folder: its train split.
        corpus_dir: the open corpus: its train split.

    Returns:
        The tracks of rtg/, then MUSDB, then the corpus.
    """
    tracks = []
    if rtg_dir:
        tracks += rtg_tracks(rtg_dir, sr)
    if musdb_dir:
        tracks += musdb_tracks(musdb_dir, sr, splits=("train",), source="musdb")
    if corpus_dir:
        tracks += musdb_tracks(corpus_dir, sr, splits=("train",), source="corpus")
    return tracks


class PatchSampler:
    """Random training excerpts with augmentation, drawn from a seeded numpy Generator.

    Each item: a vocal excerpt at a random offset of a random track, over the accompaniment of
    the same track (or, with probability `remix`, of another track, at its own random offset),
    each source scaled by a random gain in +/- `gain_db`. Tracks shorter than the excerpt are
    zero-padded at a random place. Returns float32 (batch, samples) vocal and accompaniment.

    Args:
        tracks: the training tracks; each is drawn with probability proportional to its length.
        samples: excerpt length in samples.
        rng: the random stream of every draw.
        remix: probability of pairing the vocal with another track's accompaniment.
        gain_db: range of the random gain per source, +/- dB.
        min_vocal_rms: RMS below which a vocal excerpt counts as silent and is redrawn (up to 4 tries).
    """

    def __init__(self, tracks: list[Track], samples: int, rng: np.random.Generator, remix: float = 0.5,
                 gain_db: float = 6.0, min_vocal_rms: float = 1e-4):
        if not tracks:
            raise ValueError("no training tracks")
        self.tracks, self.samples, self.rng = tracks, samples, rng
        self.remix, self.gain_db, self.min_vocal_rms = remix, gain_db, min_vocal_rms
        lengths = np.array([len(t) for t in tracks], dtype=np.float64)
        self.weights = lengths / lengths.sum()  # each second of audio equally likely

    def _excerpt(self, signal, start=None):
        """(excerpt, start) of `samples` samples; start < 0 means zero-padded on the left."""
        n = self.samples
        if start is None:
            start = int(self.rng.integers(0, len(signal) - n + 1)) if len(signal) >= n else \
                -int(self.rng.integers(0, n - len(signal) + 1))
        out = np.zeros(n, dtype=np.float32)
        src = signal[max(start, 0):max(start, 0) + n - max(-start, 0)]
        out[max(-start, 0):max(-start, 0) + len(src)] = src
        return out, start

    def _gain(self):
        """A random gain factor, uniform in dB over +/- gain_db."""
        return np.float32(10 ** (self.rng.uniform(-self.gain_db, self.gain_db) / 20))

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw a batch of patches.

        Args:
            size: number of patches.

        Returns:
            (vocal, accompaniment) float32 arrays, each (size, samples).
        """
        vocals = np.empty((size, self.samples), dtype=np.float32)
        accomps = np.empty_like(vocals)
        for b in range(size):
            i = int(self.rng.choice(len(self.tracks), p=self.weights))
            for _ in range(4):  # prefer excerpts where the vocal is not silent
                vocal, start = self._excerpt(self.tracks[i].vocal)
                if np.sqrt(np.mean(vocal**2)) > self.min_vocal_rms:
                    break
            if self.rng.random() < self.remix:  # another song's accompaniment, anywhere in it
                j = int(self.rng.choice(len(self.tracks), p=self.weights))
                accomp, _ = self._excerpt(self.tracks[j].accompaniment)
            else:  # the song's own accompaniment, aligned: the real mix
                accomp, _ = self._excerpt(self.tracks[i].accompaniment, start)
            vocals[b] = vocal * self._gain()
            accomps[b] = accomp * self._gain()
        return vocals, accomps
