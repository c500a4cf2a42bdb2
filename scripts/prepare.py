from vocalsep.prepare import prepare_mix, prepare_pair
from vocalsep.workflow import run_job


def job(smk, log):
    mode = smk.wildcards.mode
    if "stem" in smk.input.keys():
        prepare_pair(smk.input.mix, smk.input.stem, mode, smk.params.prepare, smk.params.alignment, smk.output)
    else:
        prepare_mix(smk.input.mix, mode, smk.params.prepare, smk.output)


run_job(snakemake, job)
