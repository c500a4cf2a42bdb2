# Carvana branch: the image U-Net on car segmentation (target `carvana`).
# Data (synthetic cars unless config names a real Carvana folder) -> training -> held-out scores.
# Training resumes from results/carvana/checkpoints/, which no rule declares, so Snakemake
# never deletes it when a job fails.

CARVANA = config["carvana"]
CARVANA_DATA = CARVANA["data_dir"] or f"{RESULTS}/carvana/data"


rule carvana_data:
    output:
        directory(f"{RESULTS}/carvana/data"),
    log:
        "logs/carvana_data.log",
    benchmark:
        "benchmarks/carvana_data.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=20,
    params:
        synthetic=CARVANA["synthetic"],
        code=code_hash("scripts/carvana_generate.py"),
    script:
        "../scripts/carvana_generate.py"


rule carvana_train:
    input:
        data=CARVANA_DATA,
    output:
        model=f"{RESULTS}/carvana/model.pth",
        history=f"{RESULTS}/carvana/training.csv",
        plot=report(
            f"{RESULTS}/carvana/training.png",
            caption="../report/carvana_training.rst",
            category="Training",
            labels={"model": "Carvana U-Net", "figure": "training curve"},
        ),
        split=f"{RESULTS}/carvana/split.json",
    log:
        "logs/carvana_train.log",
    benchmark:
        "benchmarks/carvana_train.tsv"
    conda:
        "../envs/torch.yaml"
    threads: CARVANA["threads"]
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        settings=CARVANA["train"],
        checkpoints=f"{RESULTS}/carvana/checkpoints",
        code=code_hash("scripts/carvana_train.py"),
    script:
        "../scripts/carvana_train.py"


rule carvana_evaluate:
    input:
        data=CARVANA_DATA,
        model=f"{RESULTS}/carvana/model.pth",
        split=f"{RESULTS}/carvana/split.json",
    output:
        metrics=f"{RESULTS}/carvana/metrics.json",
        predictions=directory(f"{RESULTS}/carvana/predictions"),
        overlay=report(
            f"{RESULTS}/carvana/overlay.png",
            caption="../report/carvana_overlay.rst",
            category="Training",
            labels={"model": "Carvana U-Net", "figure": "held-out predictions"},
        ),
    log:
        "logs/carvana_evaluate.log",
    benchmark:
        "benchmarks/carvana_evaluate.tsv"
    conda:
        "../envs/torch.yaml"
    threads: CARVANA["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        threshold=CARVANA["threshold"],
        device=CARVANA["train"]["device"],
        code=code_hash("scripts/carvana_evaluate.py"),
    script:
        "../scripts/carvana_evaluate.py"


TARGETS["carvana"] = lambda: [
    f"{RESULTS}/carvana/metrics.json",
    f"{RESULTS}/carvana/overlay.png",
    f"{RESULTS}/carvana/training.csv",
    f"{RESULTS}/carvana/training.png",
]


rule carvana:
    input:
        TARGETS["carvana"](),
    localrule: True
