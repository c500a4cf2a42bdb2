from vocalsep.report import write_report
from vocalsep.workflow import run_job


def job(smk, log):
    branches = smk.params.branches
    files = [(path, branches.get(path, "")) for path in smk.input.metrics]
    table = write_report(files, smk.output.csv, smk.output.png)
    log.info("%d rows from %d metrics files", len(table), len(files))


run_job(snakemake, job)
