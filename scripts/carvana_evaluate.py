import torch

from vocalsep.carvana.predict import evaluate
from vocalsep.workflow import run_job


def job(smk, log):
    torch.set_num_threads(smk.threads)
    evaluate(smk.input.model, smk.input.data, smk.input.split, smk.output.predictions, smk.output.overlay,
             smk.output.metrics, threshold=smk.params.threshold, device=smk.params.device)


run_job(snakemake, job)
