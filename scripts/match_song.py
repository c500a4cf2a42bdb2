import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # this checkout's package, in any environment

from vocalsep.device import pick_device
from vocalsep.matching.settings import MatchSettings
from vocalsep.matching.song import separate_song
from vocalsep.workflow import run_job
import torch  # after vocalsep, which sets passive OpenMP waiting


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
