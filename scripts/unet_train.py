import torch

from vocalsep.unet.train import TrainSettings, run_training
from vocalsep.workflow import run_job


def job(smk, log):
    torch.set_num_threads(smk.threads)
    cfg = TrainSettings.from_dict(dict(smk.params.settings, threads=smk.threads))
    record = run_training(smk.params.out_dir, smk.output.model, cfg, rtg_dir=smk.params.rtg or None,
                          musdb_dir=smk.params.musdb or None, corpus_dir=smk.params.corpus or None,
                          valid_fraction=smk.params.valid_fraction, max_valid=smk.params.max_valid,
                          device=smk.params.device, progress=True)
    log.info("model %s (init %s): epoch %d, validation SDR %.2f dB", smk.output.model, record["init"],
             record["epoch"], record["valid_sdr"])


run_job(snakemake, job)
