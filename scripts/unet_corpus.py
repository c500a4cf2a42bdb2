from vocalsep import corpus
from vocalsep.workflow import run_job


def job(smk, log):
    root = corpus.fetch(smk.params.cache)
    pairs = corpus.build(root, smk.params.out_dir, seconds=smk.params.seconds, seed=smk.params.seed)
    log.info("%d pairs written to %s", len(pairs), smk.params.out_dir)


run_job(snakemake, job)
