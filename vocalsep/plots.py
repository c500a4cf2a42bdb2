"""Pictures of the fingerprint branch: optimisation loss, spectrograms, the report summary."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .audio import atomic_write_bytes  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


def save(fig: Figure, path: str | Path, tight: bool = False) -> None:
    """Write a figure as PNG atomically and close it.

    Args:
        fig: the figure.
        path: the PNG file.
        tight: crop to the drawn content (matplotlib's bbox_inches="tight": a second layout pass,
            which doubles the drawing time); per-song figures set their margins instead.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight" if tight else None)
    plt.close(fig)
    # write_bytes closes the file itself: a failed last flush (a full disk) raises here
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_bytes(buf.getvalue()))


def loss_plot(
    history: Mapping[str, Any],
    view_names: Sequence[str],
    scales: Sequence[int],
    path: str | Path,
    evaluated_on: str,
    reduction: float,
) -> None:
    """Stage 1's profile distance, then stage 2's total loss and each view's loss (mean over scales)
    per iteration, log scales, as one PNG of three panels.

    Args:
        history: the matching's history (vocalsep.matching.optimise.match): 'profile' distances,
            'total' (steps,), 'per_view' (steps, scales, views) NaN where not evaluated, 'initial'
            and 'final'.
        view_names: a name per view, in the order of per_view's last axis.
        scales: the STFT sizes (n_fft) of the scales, for the title.
        path: the PNG file.
        evaluated_on: the views of the losses at both ends, in words.
        reduction: 1 - final / initial loss.
    """
    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(17, 4.5))
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.12, top=0.86, wspace=0.2)
    distances = np.asarray(history.get("profile", ()))
    ax0.plot(np.arange(1, len(distances) + 1), distances, ".-", color="C0", ms=3)
    positive = len(distances) > 0 and (distances > 0).all()
    ax0.set(title="Stage 1: profile matching (view 0, all scales)", xlabel="fixed-point update",
            ylabel="RMS log ratio of the profiles", yscale="log" if positive else "linear")
    total = np.asarray(history["total"])
    it = np.arange(1, len(total) + 1)
    ax1.plot(it, total, color="k", lw=1, label="each step's views (slice 0 + drawn ones)")
    ax1.set(title="Stage 2: fingerprint loss per Adam step",
            xlabel="Adam step", ylabel="loss", yscale="log" if len(total) and (total > 0).all() else "linear")
    full = ~np.isnan(np.asarray(history["per_view"])).any(axis=(1, 2))
    if len(it):
        if full.any():  # every view evaluated (monitoring steps)
            ax1.plot(it[full], total[full], "o", color="C3", ms=4, label="all views")
        ax1.plot([it[-1]], [history["final"]], "s", color="C1", ms=5, label=f"the result, {evaluated_on}")
        ax1.legend(fontsize=7, loc="upper right")
    per_view = np.asarray(history["per_view"])  # (iterations, scales, views), NaN = not evaluated
    cmap = plt.get_cmap("tab20")
    with np.errstate(all="ignore"):
        for k, name in enumerate(view_names):
            vals = per_view[:, :, k]
            seen = ~np.isnan(vals).all(axis=1)
            if seen.any():
                ax2.plot(it[seen], np.nanmean(vals[seen], axis=1), ".-" if seen.sum() < len(it) else "-",
                         lw=1, ms=2, color=cmap(k % 20), label=f"{k} {name}")
    ax2.set(title=f"Per-view loss (mean over n_fft {', '.join(map(str, scales))})",
            xlabel="Adam step", yscale="log" if len(total) else "linear")
    if ax2.lines:
        ax2.legend(fontsize=6, ncol=2, loc="upper right")
    fig.suptitle(f"Fingerprint loss {history['initial']:.3g} -> {history['final']:.3g} on {evaluated_on} "
                 f"(fingerprint loss reduction {100 * reduction:.1f} %; not a quality measure)", fontsize=10)
    save(fig, path)


def _db(mag: np.ndarray) -> np.ndarray:
    """Magnitudes in dB, floored at -120 dB."""
    return 20 * np.log10(np.maximum(mag, 1e-6))


def _pool(x: np.ndarray, columns: int, rows: int) -> np.ndarray:
    """Average |x| over blocks of windows and of bins, so that at most `columns` windows and
    `rows` bins remain (about one per pixel of the panel: drawn pixel for pixel, the picture
    needs no resampling filter, which took most of its drawing time)."""
    x = np.abs(x) if np.iscomplexobj(x) else np.asarray(x)
    t_step = max(1, int(np.ceil(x.shape[0] / columns)))
    f_step = max(1, int(np.ceil(x.shape[1] / rows)))
    t, f = x.shape[0] // t_step, x.shape[1] // f_step
    return x[: t * t_step, : f * f_step].reshape(t, t_step, f, f_step).mean(axis=(1, 3))


def spectrogram_plot(
    target: np.ndarray,
    mix: np.ndarray,
    extracted: np.ndarray,
    mask: np.ndarray,
    sr: int,
    hop: int,
    path: str | Path,
    columns: int = 1000,
    rows: int = 256,
    mask_title: str = "Mask (fingerprint matching)",
) -> None:
    """Four panels: target vocal, mix, extracted vocal (dB magnitudes), and the mask, as one PNG.

    Songs longer than `columns` windows are shown averaged over blocks of windows, and spectra
    of more than `rows` bins averaged over blocks of bins (both about the panels' pixels). The colour
    range of the three spectrograms is the mix's top 80 dB.

    Args:
        target: the target vocal's STFT (windows, bins), complex or magnitudes.
        mix: the mixture's STFT (windows, bins).
        extracted: the extracted vocal's STFT (windows, bins).
        mask: the gain applied (windows, bins), drawn on a 0 to 1 colour scale.
        sr: the sample rate in Hz (for the time and frequency axes).
        hop: the STFT hop in samples.
        path: the PNG file.
        columns: the most windows drawn.
        rows: the most frequency bins drawn.
        mask_title: the mask panel's title.
    """
    fig, axes = plt.subplots(4, 1, figsize=(11, 11), sharex=True)
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.05, top=0.97, hspace=0.2)
    seconds = mask.shape[0] * hop / sr
    target, mix, extracted, mask = (_pool(x, columns, rows) for x in (target, mix, extracted, mask))
    extent = [0, seconds, 0, sr / 2000]
    top = _db(np.abs(mix)).max()
    for ax, (title, mag) in zip(axes[:3], [("Target vocal", target), ("Mixture", mix),
                                            ("Extracted vocal", extracted)]):
        im = ax.imshow(_db(np.abs(mag)).T, origin="lower", aspect="auto", extent=extent, cmap="magma",
                       vmin=top - 80, vmax=top, interpolation="nearest")
        ax.set(title=title, ylabel="kHz")
        fig.colorbar(im, ax=ax, label="dB")
    im = axes[3].imshow(mask.T, origin="lower", aspect="auto", extent=extent, cmap="viridis", vmin=0, vmax=1,
                         interpolation="nearest")
    axes[3].set(title=mask_title, ylabel="kHz", xlabel="seconds")
    fig.colorbar(im, ax=axes[3])
    save(fig, path)


def summary_plot(table: pd.DataFrame, path: str | Path, metric: str = "vocals_SDR") -> None:
    """Methods side by side for every song: one group of bars per (song, mode), as a PNG.

    Args:
        table: the report's metrics, a row per (song, mode, method) with a column `metric`.
        path: the PNG file.
        metric: the column drawn, in dB (a missing song and method pair leaves a gap).
    """
    songs = list(dict.fromkeys(zip(table["song"], table["mode"])))
    methods = list(dict.fromkeys(table["method"]))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(songs) * max(1, len(methods)) * 0.35 + 3), 5))
    width = 0.8 / max(1, len(methods))
    cmap = plt.get_cmap("tab10")
    for j, method in enumerate(methods):
        vals = []
        for song, mode in songs:
            row = table[(table["song"] == song) & (table["mode"] == mode) & (table["method"] == method)]
            vals.append(float(row[metric].iloc[0]) if len(row) else np.nan)
        ax.bar(np.arange(len(songs)) + (j - (len(methods) - 1) / 2) * width, vals, width, label=method,
               color=cmap(j % 10))
    ax.set_xticks(np.arange(len(songs)), [f"{s}\n({m})" for s, m in songs], fontsize=8)
    ax.set(ylabel=f"{metric.replace('_', ' ')} (dB)", title=f"{metric.replace('_', ' ')} per song and method "
           "(museval BSS Eval v4, median of 1 s windows)")
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8, ncol=min(4, len(methods)))
    save(fig, path, tight=True)  # once per report; its width follows the songs
