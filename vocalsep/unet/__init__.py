"""The vocal U-Net branch: spectrograms, training data, training loop, separation, command line.

One job per module: spectrogram.py (STFT and the network's input), data.py (pairs, split,
augmented patches), train.py (epochs, checkpoints, resume), separate.py (chunked inference,
Separator, checkpoints on disk), cli.py (`python -m vocalsep separate`).
"""

DEFAULT_MODEL = "vocal_unet.pt"  # under vocalsep/models/
