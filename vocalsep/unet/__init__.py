"""The vocal U-Net branch: Spleeter's STFT, training data, fine-tuning, separation, command line.

One job per module: spectrogram.py (Spleeter's STFT on the 44.1 or 22.05 kHz grid), data.py
(pairs, split, augmented patches), train.py (fine-tuning, checkpoints, resume), separate.py
(model files, segment-wise estimates, post-processing, Separator), evaluate.py (scores),
cli.py (`python -m vocalsep separate`). The networks are in vocalsep/models/.
"""
