import torch

from vocalsep.unet.evaluate import compare_on_pairs, write_comparison
from vocalsep.unet.separate import Separator
from vocalsep.workflow import run_job


def job(smk, log):
    torch.set_num_threads(smk.threads)
    model = smk.input.model[0] if smk.input.model else None
    sep = Separator(model, postprocess=smk.params.postprocess, device=smk.params.device)
    rows = compare_on_pairs(smk.params.pairs, sep, split="test")
    summary = write_comparison(rows, smk.output.scores, smk.output.summary)
    log.info("median vocal SDR: U-Net %.2f dB, REPET-SIM %.2f dB over %d held-out pairs",
             summary["unet_SDR"], summary["REPET-SIM_SDR"], summary["tracks"])


run_job(snakemake, job)
