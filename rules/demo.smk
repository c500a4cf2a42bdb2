# Demo songs: synthesised when process/ holds no songs, so a fresh clone runs end to end.


rule demo_song:
    output:
        mix_window=f"{RESULTS}/demo/100-window/{{song}}_100-full.wav",
        stem_window=f"{RESULTS}/demo/100-window/{{song}}_100-stem.wav",
        mix_whole=f"{RESULTS}/demo/no-limit/{{song}}_nl-full.wav",
        stem_whole=f"{RESULTS}/demo/no-limit/{{song}}_nl-stem.wav",
    log:
        "logs/demo_song/{song}.log",
    benchmark:
        "benchmarks/demo_song/{song}.tsv"
    conda:
        "../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        index=lambda wildcards: demo_names(config["demo"]["songs"]).index(
            wildcards.song
        ),
        code=code_hash("scripts/demo_song.py"),
    script:
        "../scripts/demo_song.py"
