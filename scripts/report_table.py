from vocalsep.report_pages import write_metrics_page
from vocalsep.workflow import run_job


def job(smk, log):
    rows = write_metrics_page(smk.input[0], smk.output[0])
    log.info("%d rows", rows)


run_job(snakemake, job)
