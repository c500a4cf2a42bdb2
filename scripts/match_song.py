import torch

from vocalsep.device import pick_device
from vocalsep.matching.settings import MatchSettings
from vocalsep.matching.song import separate_song
from vocalsep.workflow import run_job


def job(smk, log):
    torch.set_num_threads(smk.threads)
    fp = smk.params.fingerprint
    settings = MatchSettings.from_config(fp)
    device = pick_device(fp.get("device", "cpu"))
    log.info("device %s, %d threads", device, smk.threads)
    separate_song(smk.input.mix, smk.input.vocal, dict(smk.output.items()), smk.wildcards.song,
                  smk.wildcards.mode, settings, fp["repet_segment_seconds"], device,
                  vocal_fingerprint=smk.input.vocal_fingerprint)


run_job(snakemake, job)
