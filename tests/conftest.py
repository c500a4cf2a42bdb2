"""Shared fixtures: real audio files and real Snakemake runs in temporary copies of the workflow."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

# Idle OpenMP threads of torch spin while they wait; on a busy machine that costs several times the
# wall time. Passive waiting is set before torch loads, and Snakemake runs inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parent.parent
WORKFLOW_PARTS = ["Snakefile", "config.yaml", "rules", "scripts", "schemas", "envs", "vocalsep"]


def copy_workflow(dest):
    """A fresh checkout-like copy of the workflow (no process/, rtg/ or results/ contents)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / part)
    for sub in ("process/100-window", "process/no-limit"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    return dest


def workflow_env(workdir):
    """The environment for a Snakemake run of a workflow copy: its own package first on PYTHONPATH.

    The jobs' scripts import the installed vocalsep (install.sh's editable one, the repository's);
    the copy's is the one whose files its code hashes read, and whose edits the tests make.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(workdir).resolve()), env.get("PYTHONPATH")) if p)
    return env


def snakemake(workdir, *args, check=True):
    """Run the real Snakemake command line in workdir; returns the CompletedProcess (text output)."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--nocolor", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=workflow_env(workdir))
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def dry_run_jobs(workdir, *targets):
    """{rule: [wildcards strings]} of the jobs a dry run would execute."""
    out = snakemake(workdir, "-n", *targets).stdout
    jobs = {}
    rule = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("rule ") and line.endswith(":"):
            rule = line[5:-1]
            jobs.setdefault(rule, [])
        elif line.startswith("localrule ") and line.endswith(":"):
            rule = line[10:-1]
            jobs.setdefault(rule, [])
        elif line.startswith("wildcards:") and rule:
            jobs[rule].append(line[len("wildcards:"):].strip())
    return jobs


def write_song(folder, name, mode, seconds=5.0, seed=0, sr=44100, stem=True, subtype="PCM_16"):
    """Write a synthetic (mix, stem) pair named by the discovery suffixes; returns their paths."""
    from vocalsep.demo import synthesise
    from vocalsep.discovery import SUFFIXES

    mix, vocal = synthesise(seed, sr, seconds)
    folder = Path(folder) / mode
    folder.mkdir(parents=True, exist_ok=True)
    mix_suffix, stem_suffix = SUFFIXES[mode]
    mix_path = folder / f"{name}{mix_suffix}.wav"
    sf.write(mix_path, mix, sr, subtype=subtype)
    stem_path = None
    if stem:
        stem_path = folder / f"{name}{stem_suffix}.wav"
        sf.write(stem_path, vocal, sr, subtype=subtype)
    return mix_path, stem_path


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (the matching's many small operations run faster so)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
