"""Self-contained HTML pages for Snakemake's report: a song's audio to listen to, the metrics table.

Snakemake's report shows HTML results in a frame; these pages carry everything inline (audio as
Ogg Vorbis data URIs, no links outside), so report.zip / report.html open offline.
"""

import base64
import html
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import load, to_mono, write_text
from .errors import InputError

VORBIS_BLOCK = 65536  # samples handed to the Vorbis encoder per write

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; position: sticky; top: 0; text-align: left; }
td.text { text-align: left; }
audio { width: 28em; }
"""


def audio_data_uri(path: str | Path, quality: float = 0.6) -> str:
    """The audio file as a mono Ogg Vorbis data URI: compressed, so a page of players stays small.

    A signal that exceeds full scale is scaled down to peak 1, since Vorbis would clip it.

    Args:
        path: the audio file, any format vocalsep.audio.load reads.
        quality: Vorbis quality, 0 (smallest) to 1 (best).

    Returns:
        "data:audio/ogg;base64,..." for an <audio> element's src.

    Raises:
        InputError: the file holds no samples.
    """
    data, sr = load(path)
    signal = to_mono(data)
    if signal.size == 0:
        raise InputError(path, "is empty")
    peak = float(np.max(np.abs(signal)))
    if peak > 1.0:  # estimates may exceed full scale; Vorbis would clip them
        signal = signal / peak
    buffer = io.BytesIO()
    # In blocks: libsndfile's Vorbis encoder crashes the process (SIGSEGV) when handed a whole
    # song (two minutes or more) in one write.
    with sf.SoundFile(buffer, "w", sr, 1, format="OGG", subtype="VORBIS", compression_level=1.0 - quality) as f:
        for start in range(0, signal.size, VORBIS_BLOCK):
            f.write(signal[start:start + VORBIS_BLOCK])
    return "data:audio/ogg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _page(title, body):
    """A whole HTML document with the page style, title as heading, and body."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def write_listen_page(
    path: str | Path, song: str, mode: str, clips: Sequence[tuple[str, str | Path]], threads: int = 1
) -> None:
    """Write an HTML page with one audio player per clip, the audio inline.

    Args:
        path: the HTML file to write.
        song: the song's name, for the title.
        mode: "100-window" or "no-limit", for the title.
        clips: [(label, audio path)] in display order.
        threads: clips encoded at once (libsndfile's encoder runs outside Python's lock).

    Raises:
        InputError: clips is empty.
    """
    if not clips:
        raise InputError(path, f"no audio to show for song '{song}' ({mode})")
    paths = [clip for _, clip in clips]
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            uris = list(pool.map(audio_data_uri, paths))
    else:
        uris = [audio_data_uri(clip) for clip in paths]
    rows = []
    for (label, clip), uri in zip(clips, uris):
        rows.append(
            f"<tr><td class=\"text\">{html.escape(label)}</td>"
            f"<td><audio controls preload=\"none\" src=\"{uri}\"></audio></td>"
            f"<td class=\"text\">{html.escape(Path(clip).as_posix())}</td></tr>"
        )
    body = (f"<p>Mode {html.escape(mode)}: the mix, the reference vocal where there is one, and every "
            "method's estimates.</p>\n<table><tr><th>what</th><th>listen</th><th>file</th></tr>\n"
            + "\n".join(rows) + "\n</table>")
    write_text(path, _page(f"{song} ({mode})", body))


def write_metrics_page(csv_path: str | Path, path: str | Path, digits: int = 2) -> int:
    """Write the report's metrics.csv as an HTML table (numbers rounded, text columns left-aligned).

    Args:
        csv_path: the metrics table, as from vocalsep.report.write_csv.
        path: the HTML file to write.
        digits: decimals shown of each number.

    Returns:
        The number of rows in the table.

    Raises:
        InputError: the CSV is unreadable.
    """
    import pandas as pd  # here, not at the top: the per-song listen pages do not need it

    try:
        table = pd.read_csv(csv_path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(csv_path, f"is not a readable metrics table ({err})") from err
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    lines = []
    for _, row in table.iterrows():
        cells = []
        for value in row:
            if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
                text = "" if pd.isna(value) else f"{value:.{digits}f}"
                cells.append(f"<td>{text}</td>")
            else:
                cells.append(f"<td class=\"text\">{html.escape('' if pd.isna(value) else str(value))}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    body = (f"<p>{len(table)} rows: one per song, mode and method (BSS Eval v4 medians in dB).</p>\n"
            f"<table><tr>{header}</tr>\n" + "\n".join(lines) + "\n</table>")
    write_text(path, _page("Metrics of every song and method", body))
    return len(table)
