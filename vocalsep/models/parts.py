"""Small U-Net building blocks of the image U-Net and the vocal U-Net.

Each block does one job; the networks in image_unet.py and vocal_unet.py only wire them.
`fit_to` lets a decoder tensor meet its skip connection whatever the input size. The vocal
U-Net's blocks reproduce Keras layers exactly (TensorFlow's "same" padding, batch-norm epsilon
1e-3), so that Spleeter's trained weights give Spleeter's outputs.
"""

import torch
import torch.nn.functional as F
from torch import nn


def fit_to(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Zero-pad or centre-crop the last two (spatial) dims of x to those of `reference`.

    A decoder tensor that came out of upsampling is a pixel larger or smaller than its skip
    connection when the input size is not a multiple of 2**depth; this makes them match.

    Args:
        x: tensor (..., H, W) to resize.
        reference: tensor (..., H', W') whose last two sizes x must take.

    Returns:
        x as (..., H', W'): itself when the sizes already agree, else padded or cropped
        (the odd pixel goes after).
    """
    out_h, out_w = reference.shape[-2:]
    dh, dw = out_h - x.shape[-2], out_w - x.shape[-1]
    if dh == 0 and dw == 0:
        return x
    # F.pad with negative amounts crops: one call handles both directions on each axis.
    return F.pad(x, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2])


class DoubleConv(nn.Module):
    """(3x3 conv -> batch norm -> ReLU) twice; keeps the spatial size.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        mid_channels: channels between the two convolutions (default out_channels).
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None):
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the two convolutions.

        Args:
            x: (N, in_channels, H, W).

        Returns:
            (N, out_channels, H, W).
        """
        return self.double_conv(x)


class Down(nn.Module):
    """2x2 max pool (ceil mode, so odd and 1-pixel sizes work) then DoubleConv.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.maxpool_conv = nn.Sequential(
            nn.MaxPool2d(2, ceil_mode=True),
            DoubleConv(in_channels, out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Halve the spatial size (rounding up) and convolve.

        Args:
            x: (N, in_channels, H, W).

        Returns:
            (N, out_channels, ceil(H / 2), ceil(W / 2)).
        """
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Upsample x2, fit to the skip connection, concatenate [skip, up], DoubleConv.

    bilinear=True: parameter-free bilinear upsampling; the channels are reduced by the
    DoubleConv (in_channels // 2 in the middle). bilinear=False: a learnt 2x2 transposed
    convolution halves the channels first.
    `in_channels` is the channel count after concatenation (skip + upsampled).

    Args:
        in_channels: channels of skip + upsampled input together.
        out_channels: channels of the output.
        bilinear: upsample bilinearly (True) or with a transposed convolution (False).
    """

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool = True):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Upsample x, join it to its skip connection and convolve.

        Args:
            x: (N, C, H, W) from the level below.
            skip: (N, C_skip, H', W') skip connection of this level (H' about 2 H).

        Returns:
            (N, out_channels, H', W').
        """
        x = fit_to(self.up(x), skip)
        return self.conv(torch.cat([skip, x], dim=1))


class OutConv(nn.Module):
    """1x1 convolution to the class logits.

    Args:
        in_channels: channels of the input.
        out_channels: number of classes.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class logits.

        Args:
            x: (N, in_channels, H, W).

        Returns:
            (N, out_channels, H, W) logits.
        """
        return self.conv(x)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) zero padding of TensorFlow's "same" convolution along one axis.

    The output has ceil(size / stride) samples; when the total padding is odd, the extra sample
    goes after (for a 5-wide stride-2 kernel on an even size: 1 before, 2 after).

    Args:
        size: input samples along the axis.
        kernel: kernel width along the axis.
        stride: stride along the axis.
        dilation: dilation along the axis.

    Returns:
        (before, after) padding in samples.
    """
    span = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """nn.Conv2d with TensorFlow's "same" padding (asymmetric where TensorFlow's is)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad x as TensorFlow would, then convolve.

        Args:
            x: (N, in_channels, H, W).

        Returns:
            (N, out_channels, ceil(H / stride), ceil(W / stride)).
        """
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        top, bottom = same_padding(x.shape[-2], kh, sh, dh)
        left, right = same_padding(x.shape[-1], kw, sw, dw)
        return super().forward(F.pad(x, [left, right, top, bottom]))


def _phase_taps(kernel: int, stride: int, crop: int) -> tuple[torch.Tensor, int]:
    """Kernel index used by each output phase at each input offset of a transposed convolution.

    Output sample stride * i + r of a transposed convolution cropped by `crop` at the start sums
    input samples i + d with kernel taps k = r + crop - stride * d. Returns (taps, d_min): taps
    is (stride, span), holding k for offset d = d_min + j, or `kernel` (a zero tap) where none.
    """
    offsets = [(r, (r + crop - k) // stride, k) for r in range(stride) for k in range(kernel)
               if (r + crop - k) % stride == 0]
    d_min = min(d for _, d, _ in offsets)
    span = max(d for _, d, _ in offsets) - d_min + 1
    taps = torch.full((stride, span), kernel, dtype=torch.long)
    for r, d, k in offsets:
        taps[r, d - d_min] = k
    return taps, d_min


class SameConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d with TensorFlow's "same" padding: the output is stride x the input.

    The full transposed convolution is cropped as TensorFlow crops it: by the padding that the
    matching "same" convolution of the output size would add, (kernel - stride) // 2 before.
    Under bfloat16 autocast it is computed as one ordinary convolution with a kernel per output
    phase followed by a pixel shuffle (the same sums; oneDNN's bfloat16 convolutions are faster
    than its transposed ones); in float32 by the transposed convolution itself.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Transposed convolution cropped to stride x the input size.

        Args:
            x: (N, in_channels, H, W).

        Returns:
            (N, out_channels, stride * H, stride * W).
        """
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, left = (kh - sh) // 2, (kw - sw) // 2
        if sh == sw and kh == kw and torch.is_autocast_enabled(x.device.type):
            return self._by_phases(x, top)
        full = super().forward(x)
        return full[..., top:top + x.shape[-2] * sh, left:left + x.shape[-1] * sw]

    def _by_phases(self, x: torch.Tensor, crop: int) -> torch.Tensor:
        """The cropped transposed convolution as one convolution per phase + pixel shuffle."""
        stride, kernel = self.stride[0], self.kernel_size[0]
        taps, d_min = _phase_taps(kernel, stride, crop)
        taps = taps.to(x.device)
        span = taps.shape[1]
        w = F.pad(self.weight, [0, 1, 0, 1])  # (in, out, k + 1, k + 1): index `kernel` is zero
        w = w[:, :, taps[:, None, :, None], taps[None, :, None, :]]  # (in, out, s, s, span, span)
        w = w.permute(1, 2, 3, 0, 4, 5).reshape(-1, self.in_channels, span, span)
        pad = [-d_min, span - 1 + d_min] * 2
        y = F.conv2d(F.pad(x, pad), w, self.bias.repeat_interleave(stride * stride))
        return F.pixel_shuffle(y, stride)


def keras_batch_norm(channels: int) -> nn.BatchNorm2d:
    """Batch norm with Keras' defaults: epsilon 1e-3, moving averages with momentum 0.99.

    Keras' momentum m weighs the old average, PyTorch's the new batch: hence 1 - 0.99.

    Args:
        channels: number of channels normalised.

    Returns:
        The nn.BatchNorm2d.
    """
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class EncoderStep(nn.Module):
    """5x5 stride-2 "same" convolution, then batch norm and leaky ReLU 0.2 (Jansson et al. 2017).

    forward returns (activated, conv): the skip connection and, on the last step, the
    decoder's input take the convolution's output before its batch norm, as Spleeter's does.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, slope: float = 0.2):
        super().__init__()
        self.conv = SameConv2d(in_channels, out_channels, kernel_size, stride=2)
        self.norm = keras_batch_norm(out_channels)
        self.act = nn.LeakyReLU(slope)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the step.

        Args:
            x: (N, in_channels, H, W).

        Returns:
            (activated, conv), both (N, out_channels, ceil(H / 2), ceil(W / 2)).
        """
        conv = self.conv(x)
        return self.act(self.norm(conv)), conv


class DecoderStep(nn.Module):
    """5x5 stride-2 "same" transposed convolution -> ReLU -> batch norm -> dropout.

    `size`, when given, crops the doubled output to the skip connection it will be joined with
    (a no-op for Spleeter's 512 x 1024 input, needed for sizes that are not multiples of 64).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, dropout: float = 0.0):
        super().__init__()
        self.up = SameConvTranspose2d(in_channels, out_channels, kernel_size, stride=2)
        self.act = nn.ReLU()
        self.norm = keras_batch_norm(out_channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, size: torch.Size | None = None) -> torch.Tensor:
        """Run the step.

        Args:
            x: (N, in_channels, H, W).
            size: (H', W') to crop the doubled output to, or None to keep (2 H, 2 W).

        Returns:
            (N, out_channels, H', W').
        """
        x = self.up(x)
        if size is not None:
            x = x[..., : size[0], : size[1]]
        return self.drop(self.norm(self.act(x)))


class MaskHead(nn.Module):
    """4x4 "same" convolution with dilation 2 to `channels` masks, then a sigmoid."""

    def __init__(self, in_channels: int, channels: int, kernel_size: int = 4, dilation: int = 2):
        super().__init__()
        self.conv = SameConv2d(in_channels, channels, kernel_size, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Masks in (0, 1).

        Args:
            x: (N, in_channels, H, W).

        Returns:
            (N, channels, H, W) sigmoid masks.
        """
        return torch.sigmoid(self.conv(x))
