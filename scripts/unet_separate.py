import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # this checkout's package, in any environment

from vocalsep.unet.separate import Separator
from vocalsep.workflow import run_job
import torch  # after vocalsep, which sets passive OpenMP waiting


def job(smk, log):
    torch.set_num_threads(smk.threads)
    sep = Separator(smk.input.model, device=smk.params.device, chunk_seconds=smk.params.chunk_seconds)
    vocal, accompaniment, sr = sep.separate_file(smk.input.mix)
    from vocalsep.audio import write_wav

    write_wav(smk.output.vocal, vocal, sr)
    write_wav(smk.output.accompaniment, accompaniment, sr)
    log.info("separated %s with %s on %s", smk.input.mix, smk.input.model, sep.device)


run_job(snakemake, job)
