import torch

from vocalsep.unet.separate import separate_to_files
from vocalsep.workflow import run_job


def job(smk, log):
    torch.set_num_threads(smk.threads)
    model = smk.input.model[0] if smk.input.model else None
    info = separate_to_files(smk.input.mix, smk.output.vocal, smk.output.accompaniment, smk.output.separation,
                             model=model, postprocess=smk.params.postprocess, device=smk.params.device)
    log.info("separated %s with %s (postprocess %s) on %s in %.1f s", smk.input.mix, info["model"],
             info["postprocess"], info["device"], info["seconds"])


run_job(snakemake, job)
