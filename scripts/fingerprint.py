import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # this checkout's package, in any environment

from vocalsep.fingerprint.song import fingerprint_song
from vocalsep.workflow import run_job
import torch  # after vocalsep, which sets passive OpenMP waiting


def job(smk, log):
    torch.set_num_threads(smk.threads)
    out_dir = Path(smk.output.npy[0]).parent.parent  # .../{source}/n{nfft}/slice_00.npy
    fingerprint_song(smk.input.audio, out_dir, tuple(smk.params.scales), smk.params.hop_fraction)


run_job(snakemake, job)
