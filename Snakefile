# Singing-voice separation: discovery, preparation, fingerprints, separation, reports, U-Nets.
# Run with `snakemake --cores 8`; see README.md.

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/prepare.smk"


rule all:
    input:
        all_targets,
    default_target: True
    localrule: True
