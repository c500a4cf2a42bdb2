"""Discovery by suffix: which songs are in process/ and which files belong to each."""

import re
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .audio import AUDIO_EXTENSIONS, write_text

# mode (also the folder under process/) -> (mix suffix, stem suffix)
SUFFIXES = {
    "100-window": ("_100-full", "_100-stem"),
    "no-limit": ("_nl-full", "_nl-stem"),
}
_PATTERN = re.compile(
    r"^(?P<song>.+)(?P<suffix>_100-full|_100-stem|_nl-full|_nl-stem)\.(?P<ext>[^.]+)$", re.IGNORECASE
)


class DiscoveryWarning(UserWarning):
    """A file in process/ that is skipped, with the reason."""


@dataclass(frozen=True)
class Song:
    """One song of one mode as found in process/: its files and whether it can be used.

    `mix` and `stem` are paths as strings (None when missing); `status` is 'paired',
    'mix-only' or 'skipped: <reason>'.
    """

    name: str
    mode: str
    mix: str | None
    stem: str | None
    status: str  # paired | mix-only | skipped: <reason>

    @property
    def usable(self) -> bool:
        """Whether the song can be separated: it has a mix and was not skipped."""
        return self.mix is not None and not self.status.startswith("skipped")

    @property
    def paired(self) -> bool:
        """Whether the song has both a mix and a stem, so it can be scored."""
        return self.status == "paired"


def _classify(folder, mode):
    """Map song name -> {"mix": [paths], "stem": [paths]} for one mode folder; warn about strays."""
    mix_suffix, stem_suffix = SUFFIXES[mode]
    found = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        match = _PATTERN.match(path.name)
        if match is None:
            warnings.warn(f"{path}: not named <song>{mix_suffix}.<ext> or <song>{stem_suffix}.<ext>; ignored",
                          DiscoveryWarning, stacklevel=3)
            continue
        suffix = match["suffix"].lower()
        if suffix not in (mix_suffix, stem_suffix):
            warnings.warn(f"{path}: suffix {match['suffix']} belongs to the other mode's folder; ignored",
                          DiscoveryWarning, stacklevel=3)
            continue
        if match["ext"].lower() not in AUDIO_EXTENSIONS:
            warnings.warn(f"{path}: extension .{match['ext']} is not one of {', '.join(AUDIO_EXTENSIONS)}; ignored",
                          DiscoveryWarning, stacklevel=3)
            continue
        song = unicodedata.normalize("NFC", match["song"])
        role = "mix" if suffix == mix_suffix else "stem"
        found.setdefault(song, {"mix": [], "stem": []})[role].append(str(path))
    return found


def discover(process_dir: str | Path) -> list[Song]:
    """All songs under process_dir/100-window and process_dir/no-limit, sorted by mode and name.

    A mix without a stem is a usable 'mix-only' song; a stem without a mix, or a song with two
    files for the same role (say .wav and .flac), is returned as skipped with a warning.
    Files not named <song><suffix>.<ext> are ignored with a DiscoveryWarning.

    Args:
        process_dir: the folder holding the 100-window/ and no-limit/ folders (either may be absent).

    Returns:
        One Song per song and mode, skipped songs included.
    """
    songs = []
    for mode in SUFFIXES:
        for name, files in sorted(_classify(Path(process_dir) / mode, mode).items()):
            mixes, stems = files["mix"], files["stem"]
            if len(mixes) > 1 or len(stems) > 1:
                status = f"skipped: more than one file for one role ({', '.join(mixes + stems)})"
            elif not mixes:
                status = "skipped: stem without a full mix"
            elif not stems:
                status = "mix-only"
            else:
                status = "paired"
            song = Song(name, mode, mixes[0] if mixes else None, stems[0] if stems else None, status)
            if status.startswith("skipped"):
                warnings.warn(f"{song.stem or song.mix}: song '{name}' ({mode}) {status}", DiscoveryWarning,
                              stacklevel=2)
            elif status == "mix-only":
                warnings.warn(f"{song.mix}: song '{name}' ({mode}) has no stem: the U-Net branch separates it, "
                              "the oracle branch skips it", DiscoveryWarning, stacklevel=2)
            songs.append(song)
    return songs


def write_table(songs: Iterable[Song], path: str | Path) -> None:
    """Write the discovery table (results/discovery.tsv): song, mode, mix path, stem path, status.

    Args:
        songs: the songs, one row each, in the given order.
        path: the TSV file to write.
    """
    rows = ["song\tmode\tmix\tstem\tstatus"]
    for s in songs:
        rows.append("\t".join([s.name, s.mode, s.mix or "", s.stem or "", s.status]))
    write_text(path, "\n".join(rows) + "\n")
