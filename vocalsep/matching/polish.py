"""Stage 4 of fingerprint matching (`polish_steps`): Adam on stage 3's gains through their mean render.

Stage 3 (refine.py) refits each gain to view 0's 400-point profiles, one multiplicative factor per
profile point and window, spread linearly over the STFT's bins: within a profile point the gain
has only the shape the refits inherit, and none of the views other than view 0 is used. Stage 4
takes `polish_steps` Adam steps on the logits of every refinement STFT's gain at once, on the
fingerprint loss (loss.FingerprintLoss over `polish_views`, view 0 weighed as in stage 2) of the
vocal as it is rendered, the mean of istft(gain X) over those STFTs: the gradient reaches every
bin on its own, and besides view 0 the default views (horizontal lines, high-pass) respond to
structure narrower than a profile point. README's table gives the choices.

Like the other stages it reads only the vocal's fingerprint and the mix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..parallel import SERIAL, Workers
from ..stft import stft
from .adam import CosineAdam
from .refine import mean_render, refine_hop

if TYPE_CHECKING:
    from .loss import FingerprintLoss
    from .settings import MatchSettings


def polish(mix: torch.Tensor, gains: dict[int, np.ndarray], loss_fn: FingerprintLoss, settings: MatchSettings,
           workers: Workers = SERIAL) -> dict[int, np.ndarray]:
    """Stage 4: Adam steps on the logits of stage 3's gains, lowering the fingerprint loss of their mean render.

    Args:
        mix: the mix of the stretch, a 1-D tensor.
        gains: stage 3's {n_fft: gain (windows, bins)} on the STFT of that n_fft (hop `refine_hop(n_fft)`).
        loss_fn: the fingerprint loss of the vocal, prepared for at least `settings.polish_views`.
        settings: the matching settings (polish_steps, polish_learning_rate, polish_views).
        workers: a parallel.Workers over which the loss's blocks of windows are spread.

    Returns:
        {n_fft: gain (windows, bins)}, numpy float32 in [0, 1], for the same STFTs; `gains`
        itself when there are no steps or no gains.
    """
    if settings.polish_steps <= 0 or not gains:
        return gains
    n_samples = mix.shape[-1]
    spectra = {n: stft(mix, n, refine_hop(n)).detach() for n in gains}
    logits = {n: torch.logit(torch.as_tensor(g, dtype=torch.float32, device=mix.device).clamp(1e-4, 1 - 1e-4))
              .requires_grad_(True) for n, g in gains.items()}
    optimisers = {n: CosineAdam(lg, settings.polish_learning_rate, settings.polish_steps) for n, lg in logits.items()}

    views = list(settings.polish_views)
    for _ in range(settings.polish_steps):
        for lg in logits.values():
            lg.grad = None
        render = mean_render(spectra, {n: torch.sigmoid(lg) for n, lg in logits.items()}, n_samples)
        loss_fn(render, views, backward=True, workers=workers)
        for opt in optimisers.values():
            opt.step()
    return {n: torch.sigmoid(lg).detach().cpu().numpy().astype(np.float32) for n, lg in logits.items()}
