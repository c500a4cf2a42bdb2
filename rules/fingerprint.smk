# Fingerprint cache (issue 3): per prepared song and source, 19 views x every STFT scale x 425
# metrics per window, every .npy (+ a JSON sidecar each) written by the song's fingerprint job.

FP = config["fingerprint"]
FP_SOURCES = {"mix": "stereo_mixture.wav", "vocal": "isolated_vocal.wav"}


# A paired song's mix and vocal are fingerprinted by one job (rule fingerprint_pair: one process
# start and one torch import instead of two; both files come from one prepare_pair job anyway);
# a mix without a stem by rule fingerprint, which also makes either folder on its own when asked.
ruleorder: fingerprint_pair > fingerprint


rule fingerprint_pair:
    input:
        mix=f"{RTG}/{{mode}}/{{song}}/stereo_mixture.wav",
        vocal=f"{RTG}/{{mode}}/{{song}}/isolated_vocal.wav",
    output:
        mix=directory(f"{RESULTS}/fingerprint/{{mode}}/{{song}}/mix"),
        vocal=directory(f"{RESULTS}/fingerprint/{{mode}}/{{song}}/vocal"),
    log:
        "logs/fingerprint/{mode}/{song}/pair.log",
    benchmark:
        "benchmarks/fingerprint/{mode}/{song}/pair.tsv"
    conda:
        "../envs/audio.yaml"
    threads: song_threads(FP["threads"])
    resources:
        # one source after the other: the memory of one, twice the time
        mem_mb=lambda wc: 1500 if wc.mode == "100-window" else 3000,
        runtime=lambda wc: 20 if wc.mode == "100-window" else 120,
    params:
        scales=FP["scales"],
        hop_fraction=FP["hop_fraction"],
        code=code_hash("scripts/fingerprint.py"),
    script:
        "../scripts/fingerprint.py"


rule fingerprint:
    input:
        audio=lambda wc: f"{RTG}/{wc.mode}/{wc.song}/{FP_SOURCES[wc.source]}",
    output:
        # One folder (n<n_fft>/slice_<k>.npy + .json), not 114 declared files: each declared
        # file costs the planner time, and 1000 songs' worth of them made planning slow.
        cache=directory(f"{RESULTS}/fingerprint/{{mode}}/{{song}}/{{source}}"),
    log:
        "logs/fingerprint/{mode}/{song}/{source}.log",
    benchmark:
        "benchmarks/fingerprint/{mode}/{song}/{source}.tsv"
    wildcard_constraints:
        source="mix|vocal",
    conda:
        "../envs/audio.yaml"
    threads: song_threads(FP["threads"])
    resources:
        # a 10-minute song peaks at 1.7 GB (bench/fingerprint_speed.py --memory)
        mem_mb=lambda wc: 1500 if wc.mode == "100-window" else 3000,
        runtime=lambda wc: 10 if wc.mode == "100-window" else 60,
    params:
        scales=FP["scales"],
        hop_fraction=FP["hop_fraction"],
        code=code_hash("scripts/fingerprint.py"),
    script:
        "../scripts/fingerprint.py"


TARGETS["fingerprint"] = lambda: [
    *[
        f"{RESULTS}/fingerprint/{s.mode}/{s.name}/{source}"
        for source, songs in (("mix", USABLE), ("vocal", PAIRED))
        for s in songs
    ],
    *per_song(f"{RESULTS}/{{mode}}/{{song}}/metrics.json", PAIRED),
    f"{RESULTS}/report/metrics.csv",
    f"{RESULTS}/report/summary.png",
]
