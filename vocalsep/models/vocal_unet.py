"""The vocal U-Net (Jansson et al. 2017): a spectrogram-mask network that only wires parts.

Input: (N, 1, F, T) compressed mix magnitudes; output: a sigmoid mask of the same shape.
Six strided 5x5 encoder steps (width, 2 width, ... 32 width; the paper's width is 16), five
transposed decoder steps joined to the encoder by skip connections (dropout 0.5 in the first
three) and a last transposed convolution to one channel. Any F and T work (`fit_to` in parts).
"""

import torch
from torch import nn

from .parts import StridedDown, StridedUp, fit_to


class VocalUNet(nn.Module):
    def __init__(self, width=16, depth=6, kernel_size=5, dropout=0.5, dropout_layers=3):
        super().__init__()
        if width < 1 or depth < 2:
            raise ValueError("VocalUNet needs width >= 1 and depth >= 2")
        self.width, self.depth, self.kernel_size = width, depth, kernel_size
        self.dropout, self.dropout_layers = dropout, dropout_layers
        chans = [1] + [width * 2**i for i in range(depth)]
        self.encoder = nn.ModuleList(StridedDown(chans[i], chans[i + 1], kernel_size) for i in range(depth))
        self.decoder = nn.ModuleList()
        for j, i in enumerate(range(depth - 1, 0, -1)):  # j-th decoder step brings level i+1 -> i
            in_ch = chans[i + 1] if j == 0 else 2 * chans[i + 1]
            self.decoder.append(StridedUp(in_ch, chans[i], kernel_size, dropout if j < dropout_layers else 0.0))
        pad = kernel_size // 2
        self.last = nn.ConvTranspose2d(2 * chans[1], 1, kernel_size, stride=2, padding=pad, output_padding=1)

    def forward(self, x):
        skips = []
        h = x
        for down in self.encoder:
            h = down(h)
            skips.append(h)
        h = skips.pop()
        for up in self.decoder:
            skip = skips.pop()
            h = torch.cat([up(h, skip.shape[-2:]), skip], dim=1)
        return torch.sigmoid(fit_to(self.last(h), x))

    def config(self):
        """Constructor arguments, stored in checkpoints so the network can be rebuilt."""
        return {"width": self.width, "depth": self.depth, "kernel_size": self.kernel_size,
                "dropout": self.dropout, "dropout_layers": self.dropout_layers}
