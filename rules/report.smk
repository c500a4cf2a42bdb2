# The report (issue 3): every metrics.json registered in METRICS (all branches), one row per
# song, mode and method, and a summary picture of the methods side by side.


rule report:
    input:
        metrics=lambda wc: [
            path for name in sorted(METRICS) for path in METRICS[name]()
        ],
    output:
        csv=report(
            f"{RESULTS}/report/metrics.csv",
            caption="../report/metrics_csv.rst",
            category="Summary",
            labels={"figure": "metrics table (CSV)"},
        ),
        png=report(
            f"{RESULTS}/report/summary.png",
            caption="../report/summary.rst",
            category="Summary",
            labels={"figure": "summary plot"},
        ),
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
        code=code_hash("scripts/report.py"),
    script:
        "../scripts/report.py"
