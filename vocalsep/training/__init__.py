"""The training core both U-Nets share: checkpoints (`checkpoint`) and the epoch loop (`loop`).

A train module (vocalsep.unet.train, vocalsep.carvana.train) keeps its data, loss, metric and model
and hands them to `run_epochs` as an `EpochPlan`; the core does the rest the same way for both:
every epoch a checkpoint written atomically and read back without unpickling code, one resume
rule, the training record (vocalsep.history) and the best weights kept.
"""

from .checkpoint import (
    CHECKPOINT_KEYS,
    Checkpointer,
    TrainState,
    atomic_save,
    read_checkpoint,
    rng_state,
    seed_everything,
    set_rng_state,
    settings_hash,
)
from .loop import Draws, EpochPlan, optimise, run_epochs

__all__ = ["CHECKPOINT_KEYS", "Checkpointer", "Draws", "EpochPlan", "TrainState", "atomic_save", "optimise",
           "read_checkpoint", "rng_state", "run_epochs", "seed_everything", "set_rng_state", "settings_hash"]
