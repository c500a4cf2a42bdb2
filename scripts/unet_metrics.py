from vocalsep.unet.evaluate import song_metrics
from vocalsep.workflow import run_job


def job(smk, log):
    song_metrics(smk.input.mix, smk.input.reference, smk.input.vocal, smk.input.accompaniment, smk.output[0],
                 song=smk.wildcards.song, mode=smk.wildcards.mode, separation=smk.input.separation)


run_job(snakemake, job)
