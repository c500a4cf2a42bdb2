"""Pick the compute device by itself: CUDA, then Apple's MPS, then the CPU."""

import torch


def pick_device(preference: str = "auto") -> torch.device:
    """The torch device to compute on.

    Args:
        preference: 'auto', or a device name torch knows ('cuda', 'mps', 'cpu', 'cuda:1'...).

    Returns:
        torch.device(preference), or for 'auto' the best available: CUDA, then MPS, then the CPU.
    """
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
