"""The vocal U-Net: Spleeter's 2-stem network (Jansson et al. 2017), wired from parts.py.

`SourceUNet` estimates one source's magnitude: input (N, channels, T, F) mixture magnitudes
(Spleeter: 2 channels, T = 512 frames, F = 1024 bins), output the same shape, the input times a
sigmoid mask. Six encoder steps (16 ... 512 channels), five decoder steps joined by skip
connections (dropout 0.5 in the first three), a sixth to one channel and a dilated mask head.
`VocalUNet` holds two of them, vocals and accompaniment, and turns their estimates into the
ratio masks Spleeter separates with.
"""

from __future__ import annotations

import torch
from torch import nn

from .parts import DecoderStep, EncoderStep, MaskHead

SOURCES = ("vocals", "accompaniment")
EPSILON = 1e-10  # Spleeter's: keeps the ratio mask defined where both estimates are zero


def ratio_masks(v: torch.Tensor, a: torch.Tensor, exponent: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Spleeter's masks from two magnitude estimates: (v^e + eps/2) / (v^e + a^e + eps) and its partner.

    Args:
        v: vocal magnitude estimate, any shape.
        a: accompaniment magnitude estimate, shaped like v.
        exponent: e, the power the magnitudes are raised to.

    Returns:
        (vocal mask, accompaniment mask), shaped like v; they sum to 1.
    """
    v, a = v**exponent, a**exponent
    total = v + a + EPSILON
    return (v + EPSILON / 2) / total, (a + EPSILON / 2) / total


class SourceUNet(nn.Module):
    """One source's U-Net: (N, C, T, F) magnitudes -> (N, C, T, F) estimated magnitudes.

    Args:
        channels: audio channels C (2: stereo).
        width: channels of the first encoder step; each further step doubles them.
        depth: number of encoder (and decoder) steps.
        dropout: dropout probability of the first `dropout_steps` decoder steps.
        dropout_steps: how many decoder steps, from the deepest, use dropout.
    """

    def __init__(self, channels: int = 2, width: int = 16, depth: int = 6, dropout: float = 0.5,
                 dropout_steps: int = 3):
        super().__init__()
        widths = [width * 2**i for i in range(depth)]
        ins = [channels] + widths[:-1]
        self.encoder = nn.ModuleList(EncoderStep(i, o) for i, o in zip(ins, widths))
        # Decoder step j maps level depth-1-j to depth-2-j; its input is the encoder's last
        # convolution (j = 0) or the previous step's output joined with that level's skip.
        outs = widths[-2::-1] + [1]
        self.decoder = nn.ModuleList(
            DecoderStep(widths[-1] if j == 0 else 2 * outs[j - 1], out, dropout=dropout if j < dropout_steps else 0.0)
            for j, out in enumerate(outs)
        )
        self.head = MaskHead(1, channels)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """The sigmoid mask the network puts on its input x.

        Args:
            x: (N, C, T, F) mixture magnitudes.

        Returns:
            (N, C, T, F) mask in (0, 1).
        """
        skips, h = [], x
        for step in self.encoder:
            h, conv = step(h)
            skips.append(conv)
        h = skips.pop()  # the deepest convolution, before its batch norm, feeds the decoder
        for step in self.decoder:
            if skips:
                skip = skips.pop()
                h = torch.cat([skip, step(h, skip.shape[-2:])], dim=1)
            else:
                h = step(h, x.shape[-2:])
        return self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The source's magnitude estimate.

        Args:
            x: (N, C, T, F) mixture magnitudes.

        Returns:
            (N, C, T, F): x times its mask.
        """
        return self.mask(x) * x


class VocalUNet(nn.Module):
    """Two SourceUNets (vocals, accompaniment) and Spleeter's ratio masks between them.

    Args:
        channels: audio channels (2: stereo).
        width: channels of each U-Net's first encoder step.
        depth: number of encoder steps of each U-Net.
    """

    def __init__(self, channels: int = 2, width: int = 16, depth: int = 6):
        super().__init__()
        self.channels, self.width, self.depth = channels, width, depth
        self.vocals = SourceUNet(channels, width, depth)
        self.accompaniment = SourceUNet(channels, width, depth)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both sources' magnitude estimates.

        Args:
            x: (N, C, T, F) mixture magnitudes.

        Returns:
            (vocal, accompaniment) magnitude estimates, each shaped like x.
        """
        return self.vocals(x), self.accompaniment(x)

    def masks(self, x: torch.Tensor, exponent: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Vocal and accompaniment ratio masks (`ratio_masks`) of a mixture.

        Args:
            x: (N, C, T, F) mixture magnitudes.
            exponent: the power of `ratio_masks`.

        Returns:
            (vocal mask, accompaniment mask), each shaped like x.
        """
        return ratio_masks(*self(x), exponent)

    def config(self) -> dict:
        """Constructor arguments, stored in model files so that the network can be rebuilt.

        Returns:
            {"channels", "width", "depth"} -> int, to pass back as VocalUNet(**config).
        """
        return {"channels": self.channels, "width": self.width, "depth": self.depth}
