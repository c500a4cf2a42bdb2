"""Fingerprint matching: a [0, 1] mask on the mix STFT whose output's fingerprint matches the vocal's.

The mask lives on one STFT of the mix (the "mask STFT") and starts as a constant (0.5). Two
stages fit it, on each time chunk of a song (optimise.match): stage 1 pulls view 0's profiles
of the masked mix onto the vocal's by fixed-point updates (profiles), stage 2 lowers the whole
fingerprint loss (loss) with a few Adam steps (adam) on the views that plan draws. The vocal is
then rendered with the mix phase and the gain of render (by default the Wiener filter of the
vocal's mask and of a second mask matched to the accompaniment's profiles).

Modules, one job each, imports only downwards (cli -> song -> optimise -> profiles, loss, plan,
adam, render, history -> settings -> vocalsep.fingerprint):

- settings: MatchSettings, the config's `fingerprint:` section
- plan: ViewPlan, which views each loss evaluation uses
- loss: reference_metrics and FingerprintLoss
- profiles: stage 1, profile matching
- adam: CosineAdam, stage 2's optimiser
- optimise: optimise_mask (both stages on one stretch), chunks and match (a whole song)
- render: render_gain, the vocal's gain from the matched masks
- history: summaries of an optimisation history
- song: separate_song, the workflow's per-song job (matching, baselines, scores, wavs, pictures)
- cli: `vocalsep match` and `vocalsep report`

This module re-exports the algorithm (not song, which imports the baselines, the scores and
matplotlib).
"""

from .adam import CosineAdam
from .history import checked_views, loss_reduction
from .loss import FingerprintLoss, reference_metrics
from .optimise import chunks, match, optimise_mask
from .plan import ViewPlan
from .profiles import match_profiles, signal_profiles, view0_profiles
from .render import render_gain
from .settings import RENDERS, MatchSettings

__all__ = [
    "RENDERS", "CosineAdam", "FingerprintLoss", "MatchSettings", "ViewPlan", "checked_views", "chunks",
    "loss_reduction", "match", "match_profiles", "optimise_mask", "reference_metrics", "render_gain",
    "signal_profiles", "view0_profiles",
]
