"""Pick the compute device by itself: CUDA, then Apple's MPS, then the CPU."""

import torch


def pick_device(preference="auto"):
    """torch.device for `preference` ('auto', 'cuda', 'mps' or 'cpu'); 'auto' takes the best available."""
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
