"""The image U-Net (Ronneberger et al. 2015, as in milesial/Pytorch-UNet): wires the parts only."""

import torch
from torch import nn

from .parts import DoubleConv, Down, OutConv, Up


class UNet(nn.Module):
    """U-Net for images: (N, n_channels, H, W) -> logits (N, n_classes, H, W) for any H, W.

    n_classes == 1: one logit per pixel (sigmoid, binary mask); n_classes > 1: softmax classes.
    `base` is the width of the first level (64 in the paper), doubled at each of `depth` levels.

    Args:
        n_channels: channels of the input image (3 for RGB).
        n_classes: output classes; 1 means a binary mask from one logit per pixel.
        bilinear: upsample bilinearly instead of with transposed convolutions.
        base: channels of the first level.
        depth: number of down (and up) steps.

    Raises:
        ValueError: when a size is below its minimum (n_channels, n_classes, depth >= 1, base >= 2).
    """

    def __init__(self, n_channels: int = 3, n_classes: int = 1, bilinear: bool = False, base: int = 64,
                 depth: int = 4) -> None:
        super().__init__()
        if n_classes < 1 or n_channels < 1 or depth < 1 or base < 2:
            raise ValueError("UNet needs n_channels, n_classes, depth >= 1 and base >= 2")
        self.n_channels, self.n_classes, self.bilinear = n_channels, n_classes, bilinear
        self.base, self.depth = base, depth
        factor = 2 if bilinear else 1
        widths = [base * 2**i for i in range(depth + 1)]
        self.inc = DoubleConv(n_channels, widths[0])
        self.downs = nn.ModuleList(Down(widths[i], widths[i + 1]) for i in range(depth - 1))
        self.downs.append(Down(widths[depth - 1], widths[depth] // factor))
        self.ups = nn.ModuleList(
            Up(widths[i + 1], widths[i] // factor, bilinear) for i in range(depth - 1, 0, -1)
        )
        self.ups.append(Up(widths[1], widths[0], bilinear))
        self.outc = OutConv(widths[0], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images.

        Args:
            x: images (N, n_channels, H, W), any H and W.

        Returns:
            Logits (N, n_classes, H, W), the input's height and width.
        """
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.outc(x)

    def config(self) -> dict:
        """Constructor arguments, stored with checkpoints so a model can be rebuilt.

        Returns:
            {"n_channels", "n_classes", "bilinear", "base", "depth"}: `UNet(**config)` rebuilds
            the network (without its weights).
        """
        return {"n_channels": self.n_channels, "n_classes": self.n_classes,
                "bilinear": self.bilinear, "base": self.base, "depth": self.depth}

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-pixel probabilities of the network's logits.

        Args:
            logits: (N, n_classes, H, W), as returned by forward.

        Returns:
            Sigmoid of the logits (N, 1, H, W) for one class, softmax over the classes otherwise.
        """
        return torch.sigmoid(logits) if self.n_classes == 1 else torch.softmax(logits, dim=1)
