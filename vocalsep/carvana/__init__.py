"""Carvana branch: the image U-Net on car segmentation (synthetic cars by default)."""
