from vocalsep.carvana.synth import generate
from vocalsep.workflow import run_job


def job(smk, log):
    ids = generate(smk.output[0], **smk.params.synthetic)
    log.info("%d synthetic car images written to %s", len(ids), smk.output[0])


run_job(snakemake, job)
