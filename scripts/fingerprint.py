import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # this checkout's package, in any environment

from vocalsep.fingerprint.song import fingerprint_song
from vocalsep.workflow import run_job
import torch  # after vocalsep, which sets passive OpenMP waiting


def job(smk, log):
    torch.set_num_threads(smk.threads)
    fingerprint_song(smk.input.audio, smk.output.cache, tuple(smk.params.scales), smk.params.hop_fraction)


run_job(snakemake, job)
