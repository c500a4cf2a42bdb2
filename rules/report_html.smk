# Pages for Snakemake's HTML report (`snakemake --report report.zip`): each song's audio to listen
# to (mix, reference vocal, every method's estimates) and the metrics table as a page.
# Every picture and page goes into the report through report() markers; see report/*.rst.

# What each song's page plays: the prepared audio, and the estimates of the branches included.
LISTEN_CLIPS = {"mix": f"{RTG}/{{mode}}/{{song}}/stereo_mixture.wav"}
LISTEN_PAIRED_CLIPS = {"reference_vocal": f"{RTG}/{{mode}}/{{song}}/isolated_vocal.wav"}
if "fingerprint" in METRICS:
    LISTEN_PAIRED_CLIPS["matched_vocal"] = (
        f"{RESULTS}/{{mode}}/{{song}}/extracted_vocal.wav"
    )
    LISTEN_PAIRED_CLIPS["matched_accompaniment"] = (
        f"{RESULTS}/{{mode}}/{{song}}/extracted_accompaniment.wav"
    )
if "unet" in TARGETS:
    LISTEN_CLIPS["unet_vocal"] = f"{RESULTS}/unet/{{mode}}/{{song}}/vocal.wav"
    LISTEN_CLIPS["unet_accompaniment"] = (
        f"{RESULTS}/unet/{{mode}}/{{song}}/accompaniment.wav"
    )


rule report_listen:
    input:
        unpack(
            lambda wc: {
                name: path.format(mode=wc.mode, song=wc.song)
                for name, path in (
                    LISTEN_CLIPS | LISTEN_PAIRED_CLIPS
                    if _BY_KEY[(wc.mode, wc.song)].paired
                    else LISTEN_CLIPS
                ).items()
            }
        ),
    output:
        report(
            f"{RESULTS}/report/{{mode}}/{{song}}/listen.html",
            caption="../report/listen.rst",
            category="Songs",
            subcategory="{song} ({mode})",
            labels={"song": "{song}", "mode": "{mode}", "figure": "listen"},
        ),
    log:
        "logs/report_listen/{mode}/{song}.log",
    benchmark:
        "benchmarks/report_listen/{mode}/{song}.tsv"
    conda:
        "../envs/audio.yaml"
    # a whole song's clips are encoded two at a time: this job ends the song's DAG, alone
    threads: song_threads(2)
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code_hash("scripts/report_listen.py"),
    script:
        "../scripts/report_listen.py"


rule report_table:
    input:
        f"{RESULTS}/report/metrics.csv",
    output:
        report(
            f"{RESULTS}/report/metrics.html",
            caption="../report/metrics.rst",
            category="Summary",
            labels={"figure": "metrics table"},
        ),
    log:
        "logs/report_table.log",
    benchmark:
        "benchmarks/report_table.tsv"
    conda:
        "../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code_hash("scripts/report_table.py"),
    script:
        "../scripts/report_table.py"


TARGETS["report_html"] = lambda: [
    *([f"{RESULTS}/report/metrics.html"] if hasattr(rules, "report") else []),
    *per_song(f"{RESULTS}/report/{{mode}}/{{song}}/listen.html", USABLE),
]
