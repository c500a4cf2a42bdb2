#!/usr/bin/env bash
# Run by Snakemake inside the new environment right after creating it (--sdm conda): the workflow's
# own package, editable, so jobs import the checkout's code as it is (rules/common.smk sets
# VOCALSEP_WORKFLOW_DIR to the workflow's folder; Snakemake runs this with the environment active).
set -euo pipefail
pip install --no-deps -e "${VOCALSEP_WORKFLOW_DIR:-$PWD}"
