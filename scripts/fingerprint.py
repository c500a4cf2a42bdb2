import torch

from vocalsep.fingerprint.song import fingerprint_song
from vocalsep.workflow import run_job


def job(smk, log):
    torch.set_num_threads(smk.threads)
    if "cache" in smk.output.keys():  # rule fingerprint: one source
        sources = [(smk.input.audio, smk.output.cache)]
    else:  # rule fingerprint_pair: the mix, then the vocal
        sources = [(smk.input.mix, smk.output.mix), (smk.input.vocal, smk.output.vocal)]
    for audio, cache in sources:
        fingerprint_song(audio, cache, tuple(smk.params.scales), smk.params.hop_fraction)


run_job(snakemake, job)
