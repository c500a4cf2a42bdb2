"""Discovery by suffix: odd names, every extension, mix-only songs, strays skipped with a warning."""

import warnings

import numpy as np
import soundfile as sf

from vocalsep.discovery import DiscoveryWarning, discover, write_table


def touch_audio(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}[path.suffix[1:].lower()]
    sf.write(path, np.zeros(2205), 22050, format=fmt)


def discover_quietly(folder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        songs = discover(folder)
    return songs, [str(w.message) for w in caught if issubclass(w.category, DiscoveryWarning)]


def test_odd_names_and_all_extensions(tmp_path):
    names = {
        "100-window": ["My Song (live) v2.1", "ça-va_déjà", "plain", "Ω mega.song"],
        "no-limit": ["Björk – Jóga", "a.b.c-d e"],
    }
    exts = ["wav", "flac", "ogg", "mp3"]
    for mode, suffixes in (("100-window", ("_100-full", "_100-stem")), ("no-limit", ("_nl-full", "_nl-stem"))):
        for i, name in enumerate(names[mode]):
            for suffix in suffixes:
                touch_audio(tmp_path / mode / f"{name}{suffix}.{exts[i % 4]}")
    songs, messages = discover_quietly(tmp_path)
    assert not messages
    found = {(s.mode, s.name) for s in songs}
    assert found == {(m, n) for m, ns in names.items() for n in ns}
    assert all(s.paired and s.usable for s in songs)
    song = next(s for s in songs if s.name == "My Song (live) v2.1")
    assert song.mix.endswith("My Song (live) v2.1_100-full.wav") and song.stem.endswith("_100-stem.wav")


def test_mix_without_stem_is_a_mix_only_song_and_stem_without_mix_is_skipped(tmp_path):
    touch_audio(tmp_path / "100-window" / "lonely_100-full.wav")
    touch_audio(tmp_path / "100-window" / "orphan_100-stem.flac")
    songs, messages = discover_quietly(tmp_path)
    by_name = {s.name: s for s in songs}
    assert by_name["lonely"].status == "mix-only" and by_name["lonely"].usable
    assert by_name["orphan"].status.startswith("skipped") and not by_name["orphan"].usable
    assert any("orphan_100-stem.flac" in m and "without a full mix" in m for m in messages)
    assert any("lonely_100-full.wav" in m and "no stem" in m for m in messages)


def test_strays_and_ambiguities_are_warned_about(tmp_path):
    touch_audio(tmp_path / "100-window" / "twice_100-full.wav")
    touch_audio(tmp_path / "100-window" / "twice_100-full.flac")
    touch_audio(tmp_path / "100-window" / "twice_100-stem.wav")
    touch_audio(tmp_path / "100-window" / "wrongfolder_nl-full.wav")
    (tmp_path / "100-window" / "notes.txt").write_text("hello")
    (tmp_path / "100-window" / "song_100-full.aiff").write_bytes(b"x")
    songs, messages = discover_quietly(tmp_path)
    assert [s.name for s in songs] == ["twice"] and not songs[0].usable
    assert any("more than one file" in m for m in messages)
    assert any("wrongfolder_nl-full.wav" in m and "other mode" in m for m in messages)
    assert any("notes.txt" in m for m in messages)
    assert any("song_100-full.aiff" in m and "extension" in m for m in messages)


def test_uppercase_extensions_and_empty_or_missing_folders(tmp_path):
    assert discover(tmp_path) == []
    touch_audio(tmp_path / "no-limit" / "LOUD_nl-full.WAV")
    touch_audio(tmp_path / "no-limit" / "LOUD_nl-stem.Wav")
    songs, _ = discover_quietly(tmp_path)
    assert len(songs) == 1 and songs[0].paired


def test_table_lists_every_song(tmp_path):
    touch_audio(tmp_path / "100-window" / "a b_100-full.wav")
    touch_audio(tmp_path / "100-window" / "a b_100-stem.wav")
    touch_audio(tmp_path / "no-limit" / "c_nl-stem.wav")
    songs, _ = discover_quietly(tmp_path)
    write_table(songs, tmp_path / "discovery.tsv")
    rows = [line.split("\t") for line in (tmp_path / "discovery.tsv").read_text().splitlines()]
    assert rows[0] == ["song", "mode", "mix", "stem", "status"]
    assert rows[1][0] == "a b" and rows[1][4] == "paired"
    assert rows[2][0] == "c" and rows[2][2] == "" and rows[2][4].startswith("skipped")
