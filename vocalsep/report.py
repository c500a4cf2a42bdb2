"""The report: every song's metrics.json from every branch, one row per song, mode and method."""

import json
from pathlib import Path

import pandas as pd

from .audio import atomic_write_bytes
from .errors import InputError
from .evaluate import METRIC_NAMES

SOURCES = ("vocals", "accompaniment")
SCORE_COLUMNS = [f"{src}_{m}" for src in SOURCES for m in METRIC_NAMES]
COLUMNS = ["song", "mode", "method", *SCORE_COLUMNS, "fingerprint_loss_reduction", "model", "branch",
           "metrics_file"]


def rows_of(path, branch=""):
    """The rows of one metrics.json (format of vocalsep.evaluate.write_metrics)."""
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


def gather(files):
    """DataFrame of all rows. files: paths, or (path, branch) pairs.

    A (song, mode, method) reported by two files keeps both rows, the method renamed
    '<method> (<branch>)' so every row stays unique.
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


def write_csv(table, path):
    atomic_write_bytes(path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.4f"))


def write_report(files, csv_path, png_path):
    """metrics.csv and summary.png from metrics files; returns the table."""
    from .plots import summary_plot

    table = gather(files)
    write_csv(table, csv_path)
    summary_plot(table, png_path)
    return table
