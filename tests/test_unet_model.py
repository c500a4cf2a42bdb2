"""The vocal U-Net's shapes, its spectrogram front end and its model files."""

import numpy as np
import pytest
import torch

from vocalsep.errors import InputError
from vocalsep.models.parts import StridedDown, StridedUp
from vocalsep.models.vocal_unet import VocalUNet
from vocalsep.unet.separate import export_model, load_model
from vocalsep.unet.spectrogram import SpecConfig, full_band_mask, istft, network_input, stft


@pytest.mark.parametrize("shape", [(1, 1, 512, 128), (2, 1, 512, 129), (1, 1, 37, 53), (3, 1, 65, 1), (1, 1, 1, 7)])
def test_mask_has_the_input_shape_for_any_size(shape):
    torch.manual_seed(0)
    model = VocalUNet(width=4).eval()
    with torch.no_grad():
        mask = model(torch.rand(shape))
    assert mask.shape == shape
    assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0


def test_paper_layout_16_to_512_channels_with_dropout_in_first_three_decoder_steps():
    model = VocalUNet()
    assert [d.block[0].out_channels for d in model.encoder] == [16, 32, 64, 128, 256, 512]
    assert [d.block[0].stride for d in model.encoder] == [(2, 2)] * 6
    assert [d.block[0].kernel_size for d in model.encoder] == [(5, 5)] * 6
    assert [d.block[2].negative_slope for d in model.encoder] == [0.2] * 6
    assert [d.post[2].p for d in model.decoder] == [0.5, 0.5, 0.5, 0.0, 0.0]
    assert model.last.out_channels == 1


def test_strided_parts_halve_and_restore_odd_sizes():
    x = torch.rand(2, 3, 33, 17)
    down = StridedDown(3, 8)(x)
    assert down.shape == (2, 8, 17, 9)
    up = StridedUp(8, 3)(down, x.shape[-2:])
    assert up.shape == x.shape


def test_stft_keeps_the_full_band_and_inverts():
    spec = SpecConfig()
    assert spec.n_fft // 2 + 1 == spec.bins + 1  # 513 bins, the network sees 0..511
    assert spec.bins * spec.sample_rate / spec.n_fft > 11000  # 0-11 kHz, no hard cut below
    rng = np.random.default_rng(0)
    wave = torch.from_numpy(rng.standard_normal((2, 22050)).astype(np.float32))
    X = stft(wave, spec)
    assert X.shape[-2] == 513
    assert torch.allclose(istft(X, spec, 22050), wave, atol=1e-4)
    x, scale = network_input(X.abs(), spec)
    assert x.shape == (2, 1, 512, X.shape[-1]) and float(x.max()) == pytest.approx(1.0, abs=1e-5)
    m = full_band_mask(torch.rand(2, 1, 512, X.shape[-1]), spec)
    assert m.shape == X.shape and torch.equal(m[:, 512], m[:, 511])


def test_model_file_round_trip_and_half_precision(tmp_path):
    model = VocalUNet(width=4)
    path = tmp_path / "m.pt"
    export_model(path, model, SpecConfig(), {"note": "test"})
    loaded, spec, info = load_model(path)
    assert spec == SpecConfig() and info["note"] == "test"
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-2, rtol=1e-3), k


def test_corrupt_truncated_or_foreign_model_files_give_clear_errors(tmp_path):
    good = tmp_path / "good.pt"
    export_model(good, VocalUNet(width=4), SpecConfig())
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_model(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a model at all" * 10)
    with pytest.raises(InputError, match="not a readable vocal U-Net model"):
        load_model(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(InputError, match="not a vocal U-Net model file"):
        load_model(foreign)
    damaged = tmp_path / "damaged.pt"
    payload = torch.load(good, weights_only=True)
    payload["state_dict"].pop(next(iter(payload["state_dict"])))
    torch.save(payload, damaged)
    with pytest.raises(InputError, match="damaged or incompatible"):
        load_model(damaged)
    with pytest.raises(InputError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
