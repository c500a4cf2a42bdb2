"""The vocal U-Net branch: training data, fine-tuning, separation, scores, command line.

One job per module: data.py (pairs, split, augmented patches), train.py (fine-tuning, checkpoints,
resume), model_file.py (model files), separate.py (segment-wise estimates, post-processing,
Separator), evaluate.py (scores), history.py (the training record's columns and curve), cli.py
(`python -m vocalsep separate`). Spleeter's STFT is vocalsep.stft; the networks are in vocalsep/models/.
"""
