"""The open corpus recipe on a tiny stand-in of the unpacked Debian packages (same folder layout)."""

import json

import numpy as np
import pytest
import soundfile as sf

from vocalsep import corpus
from vocalsep.errors import InputError

SR = 22050


def tone(seconds, f, rng, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture
def unpacked(tmp_path, rng):
    """Files where the four packages put theirs, named as there (so the held-out choice is the real one)."""
    root = tmp_path / "root"
    for level in ("airplane", "alibaba", "atlantis"):  # airplane is a held-out level
        d = root / corpus.FILLETS / level / "cs"
        d.mkdir(parents=True)
        for i in range(2):
            sf.write(d / f"{level}-m-{i}.ogg", tone(0.6, 200 + 50 * i, rng), SR, format="OGG", subtype="VORBIS")
    for lang in ("de", "en", "fr"):  # de is a held-out language
        d = root / corpus.KTUBERLING / lang
        d.mkdir(parents=True)
        sf.write(d / "ball.wav", tone(0.4, 300, rng, 44100), 44100)
    music = root / corpus.WESNOTH
    music.mkdir(parents=True)
    for name in ("battle", "sad", "knolls", "nunc_dimittis"):  # knolls is held out, nunc_dimittis has a choir
        sf.write(music / f"{name}.ogg", tone(5.0, 110, rng, 44100), 44100, format="OGG", subtype="VORBIS")
    samples = root / corpus.SONIC_PI
    samples.mkdir(parents=True)
    for name in ("loop_amen", "loop_electric", "ambi_choir", "drum_snare_hard"):
        sf.write(samples / f"{name}.flac", tone(0.7, 60, rng), SR)
    return root


def test_build_writes_musdb_layout_pairs_with_held_out_voices_and_music(unpacked, tmp_path):
    out = tmp_path / "corpus"
    pairs = corpus.build(unpacked, out, seconds=2.0, seed=1)
    by_split = {s: [p for p in pairs if p["split"] == s] for s in ("train", "test")}
    assert by_split["train"] and by_split["test"]
    music = {s: {p["music"] for p in by_split[s]} for s in by_split}
    speech = {s: {p["speech_group"] for p in by_split[s]} for s in by_split}
    assert not music["train"] & music["test"] and not speech["train"] & speech["test"]
    assert any("knolls" in m for m in music["test"]) and any("loop_electric" in m for m in music["test"])
    assert {"fillets-airplane", "ktuberling-de"} >= speech["test"]
    used = " ".join(music["train"] | music["test"])
    assert "nunc_dimittis" not in used and "ambi_choir" not in used and "drum_snare" not in used
    assert len([p for p in pairs if "battle" in p["music"]]) == 2  # 5 s of music -> two 2 s excerpts
    for p in pairs:
        d = out / p["split"] / p["track"]
        mix, sr = sf.read(d / "mixture.wav", dtype="float32")
        vocal, _ = sf.read(d / "vocals.wav", dtype="float32")
        assert sr == SR and mix.shape == vocal.shape == (2 * SR,)
        assert np.abs(mix).max() == pytest.approx(0.9, abs=1e-4)
        accomp = mix - vocal
        assert np.sqrt(np.mean(vocal**2)) > 0.01 and np.sqrt(np.mean(accomp**2)) > 0.01
        level = 20 * np.log10(np.sqrt(np.mean(vocal[np.abs(vocal) > 1e-3] ** 2)) / np.sqrt(np.mean(accomp**2)))
        assert level == pytest.approx(p["vocal_db"], abs=0.5)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pairs"] == pairs and manifest["sample_rate"] == SR
    assert corpus.build(unpacked, tmp_path / "again", seconds=2.0, seed=1) == pairs  # seeded, repeatable


def test_build_refuses_a_folder_without_the_packages(tmp_path):
    with pytest.raises(InputError, match="no train speech or music"):
        corpus.build(tmp_path, tmp_path / "out")


def test_the_recipe_names_its_licences():
    from pathlib import Path

    text = (Path(corpus.__file__).resolve().parent.parent / "corpus" / "LICENSES.md").read_text()
    for package in corpus.PACKAGES:
        assert package in text
    for licence in ("GPL-2", "CC0"):
        assert licence in text
