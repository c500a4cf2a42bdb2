"""The open training corpus: (vocal, accompaniment) pairs from freely licensed recordings Debian ships.

Vocals are real speech: Czech game dialogue (fillets-ng-data-cs, GPL-2) and spoken words in many
languages (ktuberling-data, GPL-2+); accompaniments are real music: the Wesnoth soundtrack
(wesnoth-1.16-music, GPL-2+; tracks with a choir or no sound left out) and Sonic Pi's loops and
instruments (sonic-pi-samples, CC0). Licences: corpus/LICENSES.md.

`fetch` downloads the packages with `apt-get download` and unpacks them with `dpkg-deb -x`
(nothing is installed); `build` writes pairs in the MUSDB18-HQ layout,
<out>/{train,test}/<music>__<n>/{mixture,vocals}.wav, mono, 22050 Hz, plus manifest.json with
the sources of every pair. The test split holds out whole speakers (ktuberling languages),
whole fillets levels and whole pieces of music: no test pair shares a voice recording, a
speaker of ktuberling or a piece of music with training.
"""

import hashlib
import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .audio import load_mono, write_text, write_wav
from .errors import InputError

PACKAGES = ("fillets-ng-data-cs", "ktuberling-data", "wesnoth-1.16-music", "sonic-pi-samples")
FILLETS = "usr/share/games/fillets-ng/sound"          # <level>/cs/*.ogg
KTUBERLING = "usr/share/ktuberling/sounds"            # <language>/*.ogg|wav
WESNOTH = "usr/share/games/wesnoth/1.16/data/core/music"
SONIC_PI = "usr/share/sonic-pi/samples"

# Wesnoth pieces left out of the accompaniments: sung voices (choir, chant) would be
# "accompaniment" the model must learn to keep, or they are silent.
WESNOTH_EXCLUDED = {"nunc_dimittis", "revelation", "heroes_rite", "the_king_is_dead",
                    "legends_of_the_north", "silence"}
# Sonic Pi samples used as accompaniment: loops, ambiences, guitars, basses (not the voice-like ones).
SONIC_PI_PREFIXES = ("loop_", "ambi_", "guit_", "bass_")
SONIC_PI_EXCLUDED = {"ambi_choir", "bass_voxy_c", "bass_voxy_hit_c", "loop_3d_printer"}
KTUBERLING_TEST_LANGUAGES = {"de", "ru", "pt", "nl", "sl"}

SR = 22050


def fetch(cache_dir: str | Path, packages: Sequence[str] = PACKAGES) -> Path:
    """Download and unpack the Debian packages under cache_dir/root (skipped when already there).

    Nothing is installed: `apt-get download` fetches the .deb files, `dpkg-deb -x` unpacks them.

    Args:
        cache_dir: folder for the downloads (debs/), the unpacked tree (root/) and its stamp.
        packages: the Debian packages to fetch.

    Returns:
        The unpacked tree, cache_dir/root.

    Raises:
        InputError: apt-get or dpkg-deb is missing, or a download failed.
    """
    cache_dir = Path(cache_dir)
    root = cache_dir / "root"
    stamp = cache_dir / "unpacked.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("packages") == list(packages):
        return root
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise InputError(cache_dir, "building the open corpus needs apt-get and dpkg-deb (Debian or Ubuntu)")
    debs = cache_dir / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["apt-get", "download", *packages], cwd=debs, capture_output=True, text=True)
    if done.returncode != 0:
        raise InputError(debs, f"apt-get download failed (run 'apt-get update' first?): {done.stderr.strip()[-500:]}")
    root.mkdir(parents=True, exist_ok=True)
    for package in packages:
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            raise InputError(debs, f"no .deb of {package} was downloaded")
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(root)], check=True)
    write_text(stamp, json.dumps({"packages": list(packages), "debs": sorted(p.name for p in debs.glob("*.deb"))}))
    return root


def _held_out(name, fraction, salt):
    """A stable pseudo-random choice of about `fraction` of the names."""
    digest = hashlib.sha256(f"{salt}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def speech_groups(root: str | Path) -> dict[str, dict[str, list[Path]]]:
    """The speech recordings, grouped by fillets level and ktuberling language, whole groups per split.

    Args:
        root: the unpacked tree, as from fetch.

    Returns:
        {split: {group: [files]}}, split 'train' or 'test'.
    """
    root = Path(root)
    groups = {"train": {}, "test": {}}
    for level in sorted(p for p in (root / FILLETS).glob("*") if (p / "cs").is_dir()):
        files = sorted((level / "cs").glob("*.ogg"))
        if files:
            split = "test" if _held_out(level.name, 0.15, "fillets") else "train"
            groups[split][f"fillets-{level.name}"] = files
    for lang in sorted(p for p in (root / KTUBERLING).glob("*") if p.is_dir()):
        files = sorted(f for f in lang.iterdir() if f.suffix in (".ogg", ".wav", ".opus", ".flac"))
        if files:
            split = "test" if lang.name in KTUBERLING_TEST_LANGUAGES else "train"
            groups[split][f"ktuberling-{lang.name}"] = files
    return groups


def music_pieces(root: str | Path) -> dict[str, dict[str, Path]]:
    """The accompaniments: Wesnoth pieces (choirs left out) and Sonic Pi samples, whole pieces per split.

    Args:
        root: the unpacked tree, as from fetch.

    Returns:
        {split: {name: file}}, split 'train' or 'test'.
    """
    root = Path(root)
    pieces = {"train": {}, "test": {}}
    for f in sorted((root / WESNOTH).glob("*.ogg")):
        if f.stem not in WESNOTH_EXCLUDED:
            pieces["test" if _held_out(f.stem, 0.15, "wesnoth") else "train"][f"wesnoth-{f.stem}"] = f
    for f in sorted((root / SONIC_PI).glob("*.flac")):
        if f.stem.startswith(SONIC_PI_PREFIXES) and f.stem not in SONIC_PI_EXCLUDED:
            pieces["test" if _held_out(f.stem, 0.2, "sonic-pi") else "train"][f"sonicpi-{f.stem}"] = f
    return pieces


def _rms(x):
    """Root mean square of x (0 when empty)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def _speech_track(files, n, rng, cache, gap=(0.15, 1.2)):
    """n samples of utterances from one group, in random order, separated by random pauses."""
    out = np.zeros(n, dtype=np.float32)
    pos = int(rng.uniform(0, gap[1]) * SR)
    order = rng.permutation(len(files))
    k = 0
    while pos < n:
        f = files[order[k % len(order)]]
        k += 1
        if f not in cache:
            x = load_mono(f, SR)
            cache[f] = x / (np.abs(x).max() + 1e-9) * 0.5
        x = cache[f][: n - pos]
        out[pos:pos + len(x)] = x
        pos += len(x) + int(rng.uniform(*gap) * SR)
        if k > 10 * len(files) and not out.any():
            break
    return out


def _music_excerpts(path, seconds, min_rms=0.01):
    """Consecutive excerpts of `seconds` of a piece (short samples are repeated to fill one)."""
    x = load_mono(path, SR)
    n = int(seconds * SR)
    if len(x) < n:
        x = np.tile(x, int(np.ceil(n / max(len(x), 1))))[:n]
    count = max(1, len(x) // n)
    excerpts = [x[i * n:(i + 1) * n] for i in range(count)]
    return [e for e in excerpts if _rms(e) >= min_rms]


def build(
    root: str | Path,
    out_dir: str | Path,
    seconds: float = 30.0,
    seed: int = 2026,
    vocal_db: tuple[float, float] = (-6.0, 3.0),
    max_pairs: int | None = None,
) -> list[dict[str, Any]]:
    """Write the corpus pairs in the MUSDB18-HQ layout, and manifest.json.

    Each excerpt of each piece of music gets its own vocal track, built from one speech group of
    the same split, mixed at a random vocal-to-accompaniment level in `vocal_db` (RMS of the
    speech over RMS of the music), the pair scaled so the mix peaks at 0.9.

    Args:
        root: the unpacked tree, as from fetch.
        out_dir: the corpus folder; pairs go to <out_dir>/{train,test}/<music>__<n>/.
        seconds: length of each pair in seconds.
        seed: seed of the random choices (speech group, order, pauses, level).
        vocal_db: (low, high) of the uniform vocal-to-accompaniment level, in dB.
        max_pairs: stop after this many pairs (None: all).

    Returns:
        The manifest: one record per pair (split, track, music, excerpt, speech_group, vocal_db).

    Raises:
        InputError: root holds no speech or no music for a split.
    """
    rng = np.random.default_rng(seed)
    speech, music = speech_groups(root), music_pieces(root)
    for split in ("train", "test"):
        if not speech[split] or not music[split]:
            raise InputError(root, f"holds no {split} speech or music: "
                                   "is the corpus unpacked there (vocalsep.corpus.fetch)?")
    out_dir = Path(out_dir)
    manifest = []
    cache = {}
    n = int(seconds * SR)
    for split in ("train", "test"):
        group_names = sorted(speech[split])
        for name, path in sorted(music[split].items()):
            for i, accomp in enumerate(_music_excerpts(path, seconds)):
                if max_pairs is not None and len(manifest) >= max_pairs:
                    break
                group = group_names[int(rng.integers(len(group_names)))]
                vocal = _speech_track(speech[split][group], n, rng, cache)
                active = vocal[np.abs(vocal) > 1e-3]
                level = float(rng.uniform(*vocal_db))
                vocal = vocal * (10 ** (level / 20) * _rms(accomp) / max(_rms(active), 1e-9))
                mix = vocal + accomp
                scale = 0.9 / max(float(np.abs(mix).max()), 1e-9)
                track = f"{name}__{i:02d}"
                write_wav(out_dir / split / track / "mixture.wav", mix * scale, SR)
                write_wav(out_dir / split / track / "vocals.wav", vocal * scale, SR)
                manifest.append({"split": split, "track": track, "music": str(Path(path).relative_to(root)),
                                 "excerpt": i, "speech_group": group, "vocal_db": round(level, 2)})
    write_text(out_dir / "manifest.json", json.dumps({"seconds": seconds, "seed": seed, "sample_rate": SR,
                                                      "pairs": manifest}, indent=1) + "\n")
    return manifest
