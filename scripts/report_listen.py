from vocalsep.report_pages import write_listen_page
from vocalsep.workflow import run_job

LABELS = {
    "mix": "mix",
    "reference_vocal": "reference vocal (the acapella)",
    "matched_vocal": "fingerprint matching: vocal",
    "matched_accompaniment": "fingerprint matching: accompaniment",
    "unet_vocal": "U-Net: vocal",
    "unet_accompaniment": "U-Net: accompaniment",
}



def job(smk, log):
    clips = [(label, smk.input[name]) for name, label in LABELS.items() if name in smk.input.keys()]
    write_listen_page(smk.output[0], smk.wildcards.song, smk.wildcards.mode, clips, threads=smk.threads)
    log.info("%d clips for %s (%s)", len(clips), smk.wildcards.song, smk.wildcards.mode)


run_job(snakemake, job)
