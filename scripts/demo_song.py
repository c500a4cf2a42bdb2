from vocalsep.demo import write_demo_song
from vocalsep.workflow import run_job


def job(smk, log):
    out = smk.output
    paths = {
        ("100-window", "mix"): out.mix_window,
        ("100-window", "stem"): out.stem_window,
        ("no-limit", "mix"): out.mix_whole,
        ("no-limit", "stem"): out.stem_whole,
    }
    write_demo_song(smk.wildcards.song, smk.params.index, smk.config, paths)
    log.info("wrote demo song %s", smk.wildcards.song)


run_job(snakemake, job)
