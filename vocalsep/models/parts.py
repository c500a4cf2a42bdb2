"""Small U-Net building blocks shared by the image U-Net and the vocal U-Net.

Each block does one job; the networks in image_unet.py (and the vocal U-Net) only wire them.
`fit_to` lets a decoder tensor meet its skip connection whatever the input size.
"""

import torch
import torch.nn.functional as F
from torch import nn


def fit_to(x, reference):
    """Zero-pad or centre-crop the last two (spatial) dims of x to those of `reference`.

    A decoder tensor that came out of upsampling is a pixel larger or smaller than its skip
    connection when the input size is not a multiple of 2**depth; this makes them match.
    """
    out_h, out_w = reference.shape[-2:]
    dh, dw = out_h - x.shape[-2], out_w - x.shape[-1]
    if dh == 0 and dw == 0:
        return x
    # F.pad with negative amounts crops: one call handles both directions on each axis.
    return F.pad(x, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2])


class DoubleConv(nn.Module):
    """(3x3 conv -> batch norm -> ReLU) twice; keeps the spatial size."""

    def __init__(self, in_channels, out_channels, mid_channels=None):
        super().__init__()
        mid_channels = mid_channels or out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    """2x2 max pool (ceil mode, so odd and 1-pixel sizes work) then DoubleConv."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(
            nn.MaxPool2d(2, ceil_mode=True),
            DoubleConv(in_channels, out_channels),
        )

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Upsample x2, fit to the skip connection, concatenate [skip, up], DoubleConv.

    bilinear=True: parameter-free bilinear upsampling; the channels are reduced by the
    DoubleConv (in_channels // 2 in the middle). bilinear=False: a learnt 2x2 transposed
    convolution halves the channels first.
    `in_channels` is the channel count after concatenation (skip + upsampled).
    """

    def __init__(self, in_channels, out_channels, bilinear=True):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x, skip):
        x = fit_to(self.up(x), skip)
        return self.conv(torch.cat([skip, x], dim=1))


class OutConv(nn.Module):
    """1x1 convolution to the class logits."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class StridedDown(nn.Module):
    """Strided convolution (halves H and W, ceil) -> batch norm -> leaky ReLU; no pooling.

    The encoder step of Jansson et al. 2017 (5x5, stride 2, slope 0.2).
    """

    def __init__(self, in_channels, out_channels, kernel_size=5, slope=0.2):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(slope, inplace=True),
        )

    def forward(self, x):
        return self.block(x)


class StridedUp(nn.Module):
    """Transposed convolution (doubles H and W) -> fit to the skip -> batch norm -> ReLU -> dropout.

    The decoder step of Jansson et al. 2017; the caller concatenates the skip connection.
    """

    def __init__(self, in_channels, out_channels, kernel_size=5, dropout=0.0):
        super().__init__()
        pad = kernel_size // 2
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=2, padding=pad,
                                     output_padding=1)
        self.post = nn.Sequential(nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True), nn.Dropout2d(dropout))

    def forward(self, x, size):
        """Upsample x to the spatial `size` (H, W) of the skip it will be joined with."""
        x = self.up(x)
        return self.post(fit_to(x, x.new_empty(1, 1, *size)))
