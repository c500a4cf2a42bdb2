"""The training record of the vocal U-Net: training.csv and the curve PNG, one row per epoch.

Rows (vocalsep.unet.train): epoch (0 = the starting model, before any step), steps, train_loss
(mean over the epoch's patches; nan for epoch 0), valid_loss (whole validation songs),
valid_sdr and valid_sdr_mixture (median vocal SDR in dB of the estimates and of the mixture
itself, the floor), lr, seconds (training time so far).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..audio import atomic_write_bytes, write_text


def write_history(history: list[dict], csv_path: str | Path, png_path: str | Path | None = None) -> None:
    """training.csv and, if asked, the curve PNG (losses left, validation SDR right)."""
    buf = io.StringIO()
    if history:
        writer = csv.DictWriter(buf, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    write_text(csv_path, buf.getvalue())
    if png_path is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(epochs, [h["train_loss"] for h in history], "o-", label="training (patches)")
    ax1.plot(epochs, [h["valid_loss"] for h in history], "s-", label="validation (whole songs)")
    ax1.set_xlabel("epoch"), ax1.set_ylabel("Spleeter's L1 loss"), ax1.legend(), ax1.grid(alpha=0.3)
    ax2.plot(epochs, [h["valid_sdr"] for h in history], "o-", color="C2", label="U-Net")
    if history:
        ax2.axhline(history[0]["valid_sdr_mixture"], color="grey", ls="--", label="mixture (floor)")
    ax2.set_xlabel("epoch"), ax2.set_ylabel("median vocal SDR (dB)"), ax2.legend(), ax2.grid(alpha=0.3)
    fig.suptitle("Vocal U-Net training")
    fig.tight_layout()
    atomic_write_bytes(png_path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
