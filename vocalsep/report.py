"""The report: every song's metrics.json from every branch, one row per song, mode and method."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .audio import atomic_write_bytes
from .errors import InputError
from .evaluate import METRIC_NAMES

SOURCES = ("vocals", "accompaniment")
SCORE_COLUMNS = [f"{src}_{m}" for src in SOURCES for m in METRIC_NAMES]
COLUMNS = ["song", "mode", "method", *SCORE_COLUMNS, "fingerprint_loss_reduction", "model", "branch",
           "metrics_file"]


def rows_of(path: str | Path, branch: str = "") -> list[dict[str, Any]]:
    """The rows of one metrics.json (format of vocalsep.evaluate.write_metrics), one per method.

    A score the file lacks (or holds as null) becomes NaN.

    Args:
        path: the metrics.json.
        branch: the workflow branch that wrote it (e.g. 'oracle', 'unet'), kept in a column.

    Returns:
        One dict per method with the keys of COLUMNS that the file provides.

    Raises:
        InputError: the file is unreadable or lacks the keys song, mode and methods.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(path, f"is not a readable metrics file ({err})") from err
    if not isinstance(data, dict) or not {"song", "mode", "methods"} <= set(data):
        raise InputError(path, "is not a metrics file: it needs the keys song, mode and methods")
    extras = data.get("method_columns", {})
    rows = []
    for method, sources in data["methods"].items():
        row = {"song": data["song"], "mode": data["mode"], "method": method, "branch": branch,
               "metrics_file": str(path)}
        for src in SOURCES:
            for m in METRIC_NAMES:
                value = (sources.get(src) or {}).get(m)
                row[f"{src}_{m}"] = float("nan") if value is None else float(value)
        row.update(extras.get(method, {}))
        rows.append(row)
    return rows


def gather(files: Sequence[str | Path | tuple[str | Path, str]]) -> pd.DataFrame:
    """All rows of all metrics files, sorted by mode, song and method.

    A (song, mode, method) reported by two files keeps both rows, the method renamed
    '<method> (<branch>)' so every row stays unique.

    Args:
        files: metrics.json paths, or (path, branch) pairs.

    Returns:
        The table, with the columns COLUMNS.

    Raises:
        InputError: a file is unreadable, or two files of one branch report the same row.
    """
    rows = []
    for item in files:
        path, branch = (item, "") if isinstance(item, (str, Path)) else item
        rows.extend(rows_of(path, branch))
    table = pd.DataFrame(rows, columns=COLUMNS)
    dup = table.duplicated(["song", "mode", "method"], keep=False)
    if dup.any():
        table.loc[dup, "method"] = table.loc[dup, "method"] + " (" + table.loc[dup, "branch"] + ")"
        if table.duplicated(["song", "mode", "method"]).any():
            raise InputError(files[0] if files else "report", "two metrics files report the same song, mode "
                             "and method from the same branch")
    return table.sort_values(["mode", "song", "method"], kind="stable").reset_index(drop=True)


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write the table as CSV atomically, scores with 4 decimals.

    Args:
        table: the table, as from gather.
        path: the CSV file to write.
    """
    atomic_write_bytes(path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.4f"))


def write_report(
    files: Sequence[str | Path | tuple[str | Path, str]], csv_path: str | Path, png_path: str | Path
) -> pd.DataFrame:
    """Write metrics.csv and summary.png from metrics files.

    Args:
        files: metrics.json paths, or (path, branch) pairs, as for gather.
        csv_path: the CSV table to write.
        png_path: the summary plot to write.

    Returns:
        The table written.
    """
    from .plots import summary_plot

    table = gather(files)
    write_csv(table, csv_path)
    summary_plot(table, png_path)
    return table
