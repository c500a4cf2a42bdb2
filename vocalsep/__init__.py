"""vocalsep: the reference open pipeline for singing-voice separation research.

Every step of the Snakemake workflow is a function of this package, so it can be
tested and called without Snakemake.
"""

import os

# Idle OpenMP threads of torch spin while they wait for work; on a workstation busy with other jobs
# that multiplies wall time several-fold (measured here: a 4.7 s clip's matching took 18 min instead
# of seconds). Passive waiting applies when this package is imported before torch, as every
# workflow script does.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

SAMPLE_RATE = 22050
WINDOW_SECONDS = 4.7
WINDOW_SAMPLES = 103_635  # round(4.7 * 22050)
MODES = ("100-window", "no-limit")
