import os
import sys
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on shared or oversubscribed cores
# (snakemake --cores 8 on a small machine) spinning threads slow training many times over.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # this checkout's package, in any environment

import torch

from vocalsep.carvana.predict import evaluate
from vocalsep.workflow import run_job


def job(smk, log):
    torch.set_num_threads(smk.threads)
    evaluate(smk.input.model, smk.input.data, smk.input.split, smk.output.predictions, smk.output.overlay,
             smk.output.metrics, threshold=smk.params.threshold, device=smk.params.device)


run_job(snakemake, job)
