"""Neural networks: shared U-Net parts (parts.py) and the networks that wire them."""

from .image_unet import UNet
from .parts import DoubleConv, Down, OutConv, Up, fit_to

__all__ = ["UNet", "DoubleConv", "Down", "Up", "OutConv", "fit_to"]
