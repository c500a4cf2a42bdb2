"""vocalsep: the reference open pipeline for singing-voice separation research.

Every step of the Snakemake workflow is a function of this package, so it can be
tested and called without Snakemake.

Importing it changes nothing outside it; OpenMP's passive waiting (OMP_WAIT_POLICY) is set where
a process starts: by the workflow (rules/common.smk) for every job, and by the command line
(vocalsep.cli.main) before torch loads.
"""

__version__ = "0.1.0"

SAMPLE_RATE = 22050
WINDOW_SECONDS = 4.7
WINDOW_SAMPLES = 103_635  # round(4.7 * 22050)
MODES = ("100-window", "no-limit")
