# The report (issue 3): every metrics.json registered in METRICS (all branches), one row per
# song, mode and method, and a summary picture of the methods side by side.


rule report:
    input:
        metrics=lambda wc: [
            path for name in sorted(METRICS) for path in METRICS[name]()
        ],
    output:
        csv=f"{RESULTS}/report/metrics.csv",
        png=f"{RESULTS}/report/summary.png",
    log:
        "logs/report/report.log",
    benchmark:
        "benchmarks/report/report.tsv"
    conda:
        "../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        branches=lambda wc: {
            p: name for name in sorted(METRICS) for p in METRICS[name]()
        },
        code=code_hash("report", "plots", "evaluate"),
    script:
        "../scripts/report.py"
