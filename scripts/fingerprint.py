import torch

from vocalsep.fingerprint.song import fingerprint_song
from vocalsep.workflow import run_job


def job(smk, log):
    torch.set_num_threads(smk.threads)
    fingerprint_song(smk.input.audio, smk.output.cache, tuple(smk.params.scales), smk.params.hop_fraction)


run_job(snakemake, job)
