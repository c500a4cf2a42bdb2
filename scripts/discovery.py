from vocalsep.discovery import Song, write_table
from vocalsep.workflow import run_job


def job(smk, log):
    songs = [Song(*row) for row in smk.params.songs]
    write_table(songs, smk.output[0])
    log.info("%d songs (%d usable)", len(songs), sum(s.usable for s in songs))


run_job(snakemake, job)
