# Singing-voice separation: discovery, preparation, fingerprints, separation, reports, U-Nets.
# Run with `snakemake --cores 8`; see README.md.

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


report: "report/workflow.rst"


wildcard_constraints:
    mode="100-window|no-limit",
    song="[^/]+",


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/prepare.smk"
include: "rules/carvana.smk"
include: "rules/unet.smk"
include: "rules/fingerprint.smk"
include: "rules/separate.smk"
include: "rules/report.smk"
include: "rules/report_html.smk"


rule all:
    default_target: True
    input:
        all_targets,
    localrule: True
