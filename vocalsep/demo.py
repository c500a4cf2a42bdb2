"""Demo songs synthesised from a seed: a sung-like voice over a small band, with exact stems.

The voice is a glottal pulse train (Rosenberg pulses, differentiated for lip radiation) whose
pitch follows notes with vibrato and glides, shaped by three vowel formant resonators that move
from vowel to vowel, with consonant noise bursts at syllable onsets. The accompaniment has a
kick, a snare, a hi-hat, a bass line and a chord pad. Mix = voice + accompaniment exactly, so
every metric downstream has a true answer. The second demo song's acapella is delivered 20.7 ms
late and with inverted polarity, the case the alignment check must find and fix.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal as sps

from .discovery import SUFFIXES, Song

# Vowel formants (F1, F2, F3) in Hz and bandwidths, after Peterson & Barney.
VOWELS = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (270, 2290, 3010),
    "o": (570, 840, 2410),
    "u": (300, 870, 2240),
}
BANDWIDTHS = (80.0, 100.0, 140.0)
MISALIGNED_SONG = 1  # index of the demo song whose acapella is late and inverted
MISALIGN_SECONDS = 0.0207
CLIP_SECONDS = 5.0  # the 100-window demo clip; preparation trims it to 4.7 s


def demo_names(count: int) -> list[str]:
    """Names of the first `count` demo songs.

    Args:
        count: how many demo songs.

    Returns:
        ["demo-01", "demo-02", ...].
    """
    return [f"demo-{i + 1:02d}" for i in range(count)]


def demo_paths(results_dir: str | Path, name: str) -> dict[tuple[str, str], str]:
    """Paths of one demo song's files, one per mode and role.

    Args:
        results_dir: the workflow's results folder; the files go under its demo/ folder.
        name: the demo song's name, as from demo_names.

    Returns:
        {(mode, role): path}, role 'mix' or 'stem', paths as strings.
    """
    base = Path(results_dir) / "demo"
    ext = {"mix": 0, "stem": 1}
    return {
        (mode, role): str(base / mode / f"{name}{SUFFIXES[mode][i]}.wav")
        for mode in SUFFIXES
        for role, i in ext.items()
    }


def demo_songs(config: Mapping[str, Any], results_dir: str | Path) -> list[Song]:
    """The demo songs as discovered Songs, one per song and mode (their files are made by the demo rule).

    Args:
        config: the workflow's config; its demo.songs says how many.
        results_dir: the workflow's results folder.

    Returns:
        Paired Songs, each song in every mode.
    """
    songs = []
    for name in demo_names(config["demo"]["songs"]):
        paths = demo_paths(results_dir, name)
        for mode in SUFFIXES:
            songs.append(Song(name, mode, paths[(mode, "mix")], paths[(mode, "stem")], "paired"))
    return songs


def _midi_hz(note):
    """Frequency in Hz of a MIDI note number."""
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def _resonator(freq, bw, sr):
    """(b, a) of a two-pole resonator at freq Hz with bandwidth bw Hz, unit gain near DC."""
    r = np.exp(-np.pi * bw / sr)
    a = [1.0, -2 * r * np.cos(2 * np.pi * freq / sr), r * r]
    return [1.0 - r], a


def _formant_filter(source, vowel_track, sr, block=256):
    """Filter the source through three resonators whose frequencies follow vowel_track (Hz per sample, 3 columns)."""
    out = source.copy()
    for k in range(3):
        y = np.zeros_like(out)
        zi = np.zeros(2)
        for start in range(0, len(out), block):
            stop = min(start + block, len(out))
            b, a = _resonator(vowel_track[start, k], BANDWIDTHS[k], sr)
            y[start:stop], zi = sps.lfilter(b, a, out[start:stop], zi=zi)
        out = y + 0.3 * out if k == 0 else y  # keep some low-frequency body on the first stage
    return out


def _voice(rng, sr, seconds, tempo, key):
    """A sung melody: returns the mono voice signal."""
    n = int(seconds * sr)
    beat = 60.0 / tempo
    f0 = np.zeros(n)
    amp = np.zeros(n)
    vowel_track = np.zeros((n, 3))
    bursts = np.zeros(n)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    t = 0.25 * beat
    prev_hz = None
    last_vowel = VOWELS["a"]
    while t < seconds - 0.3:
        length = beat * rng.choice([0.5, 1.0, 1.5, 2.0])
        if rng.random() < 0.15:  # a breath between phrases
            t += length * 0.5
            prev_hz = None
            continue
        start, stop = int(t * sr), min(int((t + length * 0.92) * sr), n)
        hz = _midi_hz(key + 12 + scale[rng.integers(len(scale))])
        m = stop - start
        tt = np.arange(m) / sr
        glide = np.exp(-tt / 0.06)  # 60 ms portamento from the previous note
        start_hz = prev_hz if prev_hz is not None else hz * 0.97
        contour = hz * (start_hz / hz) ** glide
        vibrato = 1.0 + 0.012 * np.sin(2 * np.pi * 5.5 * tt + rng.uniform(0, 2 * np.pi)) * np.clip(tt / 0.3, 0, 1)
        f0[start:stop] = contour * vibrato
        env = np.minimum(1.0, tt / 0.04) * np.minimum(1.0, (m - np.arange(m)) / (0.08 * sr))
        amp[start:stop] = env * rng.uniform(0.6, 1.0)
        target = VOWELS[rng.choice(list(VOWELS))]
        move = np.clip(tt / 0.12, 0, 1)[:, None]
        vowel_track[start:stop] = (1 - move) * np.array(last_vowel) + move * np.array(target)
        last_vowel = target
        if rng.random() < 0.6:  # a consonant: 30-70 ms of noise just before the vowel
            blen = int(rng.uniform(0.03, 0.07) * sr)
            b0 = max(0, start - blen // 2)
            bursts[b0:b0 + blen] += np.hanning(len(bursts[b0:b0 + blen])) * rng.uniform(0.3, 0.6)
        prev_hz = hz
        t += length
    vowel_track[amp == 0] = VOWELS["a"]
    f0[f0 == 0] = 200.0
    phase = np.cumsum(f0) / sr
    frac = phase % 1.0
    open_q, close_q = 0.4, 0.16  # Rosenberg glottal pulse: opening, closing phases
    pulse = np.where(frac < open_q, 0.5 * (1 - np.cos(np.pi * frac / open_q)),
                     np.where(frac < open_q + close_q, np.cos(np.pi * (frac - open_q) / (2 * close_q)), 0.0))
    source = np.diff(pulse, prepend=0.0) * amp + 0.004 * rng.standard_normal(n) * amp  # breathiness
    voiced = _formant_filter(source, vowel_track, sr)
    voiced /= np.abs(voiced).max() + 1e-9
    hiss = sps.lfilter(*sps.butter(4, 3500 / (sr / 2), "high"), rng.standard_normal(n)) * bursts
    return 0.8 * voiced + 0.25 * hiss


def _band(rng, sr, seconds, tempo, key):
    """Drums, bass and pad as a stereo (n, 2) array."""
    n = int(seconds * sr)
    beat = 60.0 / tempo
    left = np.zeros(n)
    right = np.zeros(n)

    def place(sound, t, pan, gain):
        s = int(t * sr)
        e = min(n, s + len(sound))
        if s >= n:
            return
        left[s:e] += gain * (1 - pan) * sound[: e - s]
        right[s:e] += gain * pan * sound[: e - s]

    tk = np.arange(int(0.35 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-tk / 0.03)) / sr) * np.exp(-tk / 0.12)
    ts = np.arange(int(0.2 * sr)) / sr
    snare_noise = sps.lfilter(*sps.butter(2, [1000 / (sr / 2), 8000 / (sr / 2)], "band"), rng.standard_normal(len(ts)))
    snare = (0.6 * snare_noise + 0.4 * np.sin(2 * np.pi * 185 * ts)) * np.exp(-ts / 0.05)
    th = np.arange(int(0.06 * sr)) / sr
    hat = sps.lfilter(*sps.butter(4, 7000 / (sr / 2), "high"), rng.standard_normal(len(th))) * np.exp(-th / 0.015)

    chords = [[0, 4, 7], [9, 12, 16], [5, 9, 12], [7, 11, 14]]
    rng.shuffle(chords)
    bar = 4 * beat
    for i in range(int(seconds / beat) + 1):
        t = i * beat
        place(kick, t, 0.5, 0.9 if i % 2 == 0 else 0.6)
        if i % 2 == 1:
            place(snare, t, 0.45, 0.5)
        for half in (0.0, 0.5):
            place(hat, t + half * beat, 0.7, 0.25 * rng.uniform(0.7, 1.0))
    for j in range(int(seconds / bar) + 1):
        chord = chords[j % len(chords)]
        tb = np.arange(int(bar * sr)) / sr
        pad = sum(
            sps.sawtooth(2 * np.pi * _midi_hz(key + c) * d * tb)
            for c in chord for d in (0.997, 1.003)
        )
        pad = sps.lfilter(*sps.butter(2, 1800 / (sr / 2)), pad) * np.minimum(1, tb / 0.3)
        pad = pad * np.minimum(1, (bar - tb) / 0.2)  # fade in, then out
        place(pad, j * bar, 0.35, 0.05)
        place(pad, j * bar, 0.65, 0.05)
        for k in range(4):  # the bass plays the chord's root on each beat
            tn = np.arange(int(0.9 * beat * sr)) / sr
            bass = np.sign(np.sin(2 * np.pi * _midi_hz(key - 12 + chord[0]) * tn))
            bass = sps.lfilter(*sps.butter(2, 400 / (sr / 2)), bass) * np.exp(-tn / 0.4)
            place(bass, j * bar + k * beat, 0.5, 0.35)
    return np.stack([left, right], axis=1)


def synthesise(seed: int, sr: int, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Synthesise a demo song from a seed: mix = vocal + accompaniment exactly.

    Both are scaled by one factor so the mix peaks at 0.9 at most.

    Args:
        seed: seed of the random generator; the same seed gives the same song.
        sr: sample rate in Hz.
        seconds: length of the song in seconds.

    Returns:
        (mix, vocal), each stereo float32 of shape (int(seconds * sr), 2).
    """
    rng = np.random.default_rng(seed)
    tempo = rng.uniform(84, 128)
    key = int(rng.integers(45, 55))
    voice = _voice(rng, sr, seconds, tempo, key)
    band = _band(rng, sr, seconds, tempo, key)
    band *= 0.5 / (np.abs(band).max() + 1e-9)
    vocal = np.stack([voice, voice], axis=1) * 0.6
    mix = vocal + band
    peak = np.abs(mix).max()
    scale = 0.9 / peak if peak > 0.9 else 1.0
    return (mix * scale).astype(np.float32), (vocal * scale).astype(np.float32)


def write_demo_song(
    name: str, index: int, config: Mapping[str, Any], paths: Mapping[tuple[str, str], str | Path]
) -> None:
    """Write one demo song's four files: a 100-window clip and a whole no-limit song, mix and stem.

    The song at index MISALIGNED_SONG gets its acapella late and inverted, for the alignment check.

    Args:
        name: the demo song's name (not used to pick the song: index and the seed do).
        index: the song's index; it offsets the config's seed.
        config: the workflow's config (its demo settings: sample_rate, seed, no_limit_seconds).
        paths: {(mode, role): path} as from demo_paths.
    """
    from .audio import write_wav

    demo = config["demo"]
    sr = demo["sample_rate"]
    mix, vocal = synthesise(demo["seed"] + 7919 * index, sr, demo["no_limit_seconds"])
    clip = slice(int(1.0 * sr), int((1.0 + CLIP_SECONDS) * sr))
    if index == MISALIGNED_SONG:  # deliver the acapella late and inverted, as a real pair was
        late = int(round(MISALIGN_SECONDS * sr))
        vocal = -np.concatenate([np.zeros((late, 2), np.float32), vocal[:-late]])
    for mode, (m, v) in {"100-window": (mix[clip], vocal[clip]), "no-limit": (mix, vocal)}.items():
        write_wav(paths[(mode, "mix")], m, sr, subtype="PCM_24")
        write_wav(paths[(mode, "stem")], v, sr, subtype="PCM_24")
