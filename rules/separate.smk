# Fingerprint-matching separation (issue 3): per paired song, the optimised mask, the baselines
# on the same STFT (IRM2, IRM1, IBM, REPET-SIM, the mixture), BSS Eval scores and pictures.
# The matching reads the vocal's fingerprint cache (rule fingerprint) chunk by chunk as its target.


rule fingerprint_match:
    input:
        mix=f"{RTG}/{{mode}}/{{song}}/stereo_mixture.wav",
        vocal=f"{RTG}/{{mode}}/{{song}}/isolated_vocal.wav",
        vocal_fingerprint=f"{RESULTS}/fingerprint/{{mode}}/{{song}}/vocal",
    output:
        vocal=f"{RESULTS}/{{mode}}/{{song}}/extracted_vocal.wav",
        accompaniment=f"{RESULTS}/{{mode}}/{{song}}/extracted_accompaniment.wav",
        mixture=f"{RESULTS}/{{mode}}/{{song}}/1_original_mixture.wav",
        target=f"{RESULTS}/{{mode}}/{{song}}/2_target_vocal.wav",
        loss_plot=report(
            f"{RESULTS}/{{mode}}/{{song}}/optimization_loss.png",
            caption="../report/loss.rst",
            category="Songs",
            subcategory="{song} ({mode})",
            labels={"song": "{song}", "mode": "{mode}", "figure": "optimisation loss"},
        ),
        spectrograms=report(
            f"{RESULTS}/{{mode}}/{{song}}/spectrograms.png",
            caption="../report/spectrograms.rst",
            category="Songs",
            subcategory="{song} ({mode})",
            labels={"song": "{song}", "mode": "{mode}", "figure": "spectrograms"},
        ),
        metrics=f"{RESULTS}/{{mode}}/{{song}}/metrics.json",
    log:
        "logs/fingerprint_match/{mode}/{song}.log",
    benchmark:
        "benchmarks/fingerprint_match/{mode}/{song}.tsv"
    conda:
        "../envs/audio.yaml"
    threads: song_threads(FP["threads"])
    resources:
        # a 10-minute song peaks at 3.2 GB (bench/fingerprint_speed.py --memory)
        mem_mb=lambda wc: 2000 if wc.mode == "100-window" else 4000,
        runtime=lambda wc: 20 if wc.mode == "100-window" else 240,
    params:
        fingerprint=FP,
        code=code_hash("scripts/match_song.py"),
    script:
        "../scripts/match_song.py"


METRICS["fingerprint"] = lambda: per_song(
    f"{RESULTS}/{{mode}}/{{song}}/metrics.json", PAIRED
)
