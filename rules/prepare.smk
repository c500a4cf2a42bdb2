# Discovery table and preparation of every song into rtg/{mode}/{song}/.


rule discovery:
    output:
        f"{RESULTS}/discovery.tsv",
    log:
        "logs/discovery.log",
    benchmark:
        "benchmarks/discovery.tsv"
    conda:
        "../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        songs=[(s.name, s.mode, s.mix, s.stem, s.status) for s in SONGS],
        code=code_hash("scripts/discovery.py"),
    script:
        "../scripts/discovery.py"


# Both rules make stereo_mixture.wav: a song with a stem takes prepare_pair, a mix-only song
# prepare_mix (pair_files gives it a stem that nothing makes, so prepare_pair is discarded).
ruleorder: prepare_pair > prepare_mix


rule prepare_pair:
    input:
        unpack(pair_files),
    output:
        mix=f"{RTG}/{{mode}}/{{song}}/stereo_mixture.wav",
        vocal=f"{RTG}/{{mode}}/{{song}}/isolated_vocal.wav",
        alignment=f"{RTG}/{{mode}}/{{song}}/alignment.json",
        report=f"{RTG}/{{mode}}/{{song}}/prepare.json",
    log:
        "logs/prepare/{mode}/{song}.log",
    benchmark:
        "benchmarks/prepare/{mode}/{song}.tsv"
    conda:
        "../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        prepare=config["prepare"],
        alignment=config["alignment"],
        code=code_hash("scripts/prepare.py"),
    script:
        "../scripts/prepare.py"


rule prepare_mix:
    input:
        unpack(song_files),
    output:
        mix=f"{RTG}/{{mode}}/{{song}}/stereo_mixture.wav",
        report=f"{RTG}/{{mode}}/{{song}}/prepare.json",
    log:
        "logs/prepare/{mode}/{song}.log",
    benchmark:
        "benchmarks/prepare/{mode}/{song}.tsv"
    conda:
        "../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        prepare=config["prepare"],
        code=code_hash("scripts/prepare.py"),
    script:
        "../scripts/prepare.py"


TARGETS["prepare"] = lambda: [
    f"{RESULTS}/discovery.tsv",
    *per_song(f"{RTG}/{{mode}}/{{song}}/stereo_mixture.wav", USABLE),
    *per_song(f"{RTG}/{{mode}}/{{song}}/isolated_vocal.wav", PAIRED),
]
