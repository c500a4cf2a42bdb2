"""The cluster profile on a real SLURM (single node, started by the test) gives a local run's results.

Skipped, with the reason, only where SLURM cannot run: its Debian packages are missing or the tests
do not run as root (slurmd must). install.sh installs the packages when it runs as root.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import yaml

from conftest import REPO, copy_workflow, snakemake
from slurm.cluster import SlurmCluster, submitted_jobs, unavailable_reason

DEMO = [f"demo-0{i}" for i in (1, 2, 3)]
MODES = ("100-window", "no-limit")
TARGETS = ["results/discovery.tsv"] + [f"rtg/{m}/{s}/isolated_vocal.wav" for m in MODES for s in DEMO]


def workflow_copy(dest):
    work = copy_workflow(dest)
    shutil.copytree(REPO / "profiles", work / "profiles")
    return work


def list_rules(work):
    out = snakemake(work, "--list-rules").stdout
    return {line.strip() for line in out.splitlines() if line.strip() and " " not in line.strip()}


@pytest.mark.parametrize("profile", ["default", "slurm"])
def test_profiles_name_only_rules_that_exist(profile, tmp_path):
    settings = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())
    rules = list_rules(workflow_copy(tmp_path / "wf"))
    named = set(settings.get("set-resources", {})) | set(settings.get("groups", {}))
    assert named and named <= rules, f"profile {profile} names unknown rules: {sorted(named - rules)}"
    assert {"mem_mb", "runtime"} <= set(settings["default-resources"])


def test_slurm_profile_sends_gpu_rules_to_the_gpu_partition():
    settings = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert settings["executor"] == "slurm"
    gpu_rules = {rule: res for rule, res in settings["set-resources"].items() if res.get("gpu")}
    assert gpu_rules, "no rule asks for a GPU"
    for rule, res in gpu_rules.items():
        assert res["gpu"] == 1 and res["cpus_per_gpu"] >= 1 and res["slurm_partition"] == "gpu", rule
    default = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    assert default["resources"]["gpu"] == 1
    assert {r for r, res in default["set-resources"].items() if res.get("gpu")} == set(gpu_rules)


@pytest.fixture(scope="module")
def cluster():
    reason = unavailable_reason()
    if reason:
        print(f"SKIPPED: {reason}", file=sys.stderr)
        pytest.skip(reason)
    with SlurmCluster() as running:
        yield running


def run_on_slurm(work, *targets, timeout=900):
    """The one command of the README, plus the flags this accounting-less test cluster needs."""
    cmd = [
        sys.executable, "-m", "snakemake", "--nocolor", "--workflow-profile", "profiles/slurm",
        "--slurm-status-command", "squeue",  # no accounting here: sacct would never answer
        "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "1", "--jobs", "4", *targets,
    ]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout)
    return proc, proc.stdout + proc.stderr


@pytest.mark.slow
def test_demo_on_slurm_gives_the_local_results_one_job_per_song(cluster, tmp_path):
    on_slurm = workflow_copy(tmp_path / "slurm")
    proc, output = run_on_slurm(on_slurm, *TARGETS)
    assert proc.returncode == 0, f"slurm run failed:\n{output[-6000:]}\n{cluster.logs()}"
    # one SLURM job per song (its demo synthesis and both modes' preparation), one for discovery
    jobs = submitted_jobs(output)
    kinds = sorted(name if name.startswith("rule_") else name.split("_")[1] for name in jobs.values())
    assert kinds == ["rule_discovery"] + ["song"] * len(DEMO), output[-6000:]

    local = copy_workflow(tmp_path / "local")
    snakemake(local, *TARGETS)
    compared = 0
    for path in sorted(p for p in (local / "rtg").rglob("*") if p.is_file()):
        other = on_slurm / path.relative_to(local)
        if path.suffix == ".wav":  # samples, not headers (libsndfile stamps the time in float WAVs)
            (a, sr_a), (b, sr_b) = sf.read(path), sf.read(other)
            assert sr_a == sr_b and np.array_equal(a, b), path
        else:
            assert json.loads(path.read_text()) == json.loads(other.read_text()), path
        compared += 1
    assert compared == len(DEMO) * len(MODES) * 4
    assert (local / "results/discovery.tsv").read_text() == (on_slurm / "results/discovery.tsv").read_text()

    # nothing left to do: the cluster run recorded the same provenance as a local run
    again, output = run_on_slurm(on_slurm, *TARGETS)
    assert again.returncode == 0 and "Nothing to be done" in output, output[-3000:]
