"""Carvana branch: the image U-Net on car segmentation (Kaggle 2017 Carvana Image Masking Challenge).

One job per module: synth (synthetic cars in the Carvana layout), data (pairs, checks, split by
car, dataset), metrics (Dice, IoU, losses), train (resumable training), predict (masks, held-out
scores, overlays), cli (carvana-generate, carvana-train, carvana-predict). The network itself is
vocalsep.models.UNet, wired from vocalsep.models.parts.
"""
