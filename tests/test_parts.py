"""The shared U-Net parts and the image U-Net that wires them: shapes for any input size."""

import pytest
import torch

from vocalsep.models import UNet
from vocalsep.models.parts import DoubleConv, Down, OutConv, Up, fit_to


@pytest.mark.parametrize("bilinear", [False, True])
@pytest.mark.parametrize("size", [(37, 53), (1, 1), (15, 17), (50, 30)])
def test_unet_output_matches_input_size_not_multiple_of_16(size, bilinear):
    torch.manual_seed(0)
    model = UNet(n_channels=3, n_classes=1, bilinear=bilinear, base=4).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, *size))
    assert out.shape == (2, 1, *size)
    assert torch.isfinite(out).all()


def test_multiclass_unet_gives_softmax_probabilities():
    model = UNet(n_channels=3, n_classes=3, base=4, depth=3).eval()
    with torch.no_grad():
        probs = model.probabilities(model(torch.rand(1, 3, 21, 34)))
    assert probs.shape == (1, 3, 21, 34)
    torch.testing.assert_close(probs.sum(1), torch.ones(1, 21, 34))
    binary = UNet(n_classes=1, base=4, depth=2).eval()
    with torch.no_grad():
        p = binary.probabilities(binary(torch.rand(1, 3, 9, 9)))
    assert ((p > 0) & (p < 1)).all()


def test_unet_config_rebuilds_the_same_network():
    model = UNet(n_channels=3, n_classes=2, bilinear=True, base=6, depth=3)
    clone = UNet(**model.config())
    clone.load_state_dict(model.state_dict())  # raises on any mismatch of layers or shapes
    assert model.config() == {"n_channels": 3, "n_classes": 2, "bilinear": True, "base": 6, "depth": 3}


def test_unet_learns_the_gradient_reaches_the_first_layer():
    model = UNet(base=4, depth=2)
    model(torch.rand(2, 3, 19, 23)).mean().backward()
    first = model.inc.double_conv[0].weight.grad
    assert first is not None and first.abs().sum() > 0


def test_fit_to_pads_smaller_and_crops_larger_tensors_around_the_centre():
    ref = torch.zeros(1, 1, 5, 6)
    small = torch.arange(12.0).reshape(1, 1, 3, 4)
    padded = fit_to(small, ref)
    assert padded.shape == (1, 1, 5, 6)
    torch.testing.assert_close(padded[..., 1:4, 1:5], small)
    assert padded.sum() == small.sum()  # the border is zeros
    big = torch.arange(56.0).reshape(1, 1, 7, 8)
    cropped = fit_to(big, ref)
    assert cropped.shape == (1, 1, 5, 6)
    torch.testing.assert_close(cropped, big[..., 1:6, 1:7])
    assert fit_to(small, small) is small


def test_blocks_keep_or_halve_sizes_as_documented():
    x = torch.rand(1, 4, 11, 13)
    assert DoubleConv(4, 8)(x).shape == (1, 8, 11, 13)
    assert Down(4, 8)(x).shape == (1, 8, 6, 7)  # ceil: no pixel is dropped
    assert OutConv(4, 2)(x).shape == (1, 2, 11, 13)
    skip = torch.rand(1, 4, 11, 13)
    for bilinear in (True, False):
        deep = torch.rand(1, 4 if bilinear else 8, 6, 7)
        assert Up(8, 5, bilinear)(deep, skip).shape == (1, 5, 11, 13)
