"""The training record of the vocal U-Net: the columns of training.csv and how curve.png draws them.

Rows (vocalsep.unet.train, one an epoch): epoch (0 = the starting model, before any step), steps,
train_loss (mean over the epoch's patches; nan for epoch 0), valid_loss (whole validation songs),
valid_sdr and valid_sdr_mixture (median vocal SDR in dB of the estimates and of the mixture
itself, the floor), lr, seconds (training time so far). vocalsep.history writes them.
"""

from ..history import Curve

CURVE = Curve(title="Vocal U-Net training",
              losses={"train_loss": "training (patches)", "valid_loss": "validation (whole songs)"},
              loss_label="Spleeter's L1 loss", scores={"valid_sdr": "U-Net"}, score_label="median vocal SDR (dB)",
              floor={"valid_sdr_mixture": "mixture (floor)"})
