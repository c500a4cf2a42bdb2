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

from conftest import REPO, copy_workflow, snakemake, workflow_env
from quick import DEMO_TARGETS, quick_demo, quick_workflow
from slurm.cluster import SlurmCluster, submitted_jobs, unavailable_reason

DEMO = [f"demo-0{i}" for i in (1, 2, 3)]
MODES = ("100-window", "no-limit")


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


def run_on_slurm(work, *targets, timeout=2400):
    """The one command of the README, plus the flags this accounting-less test cluster needs."""
    cmd = [
        sys.executable, "-m", "snakemake", "--nocolor", "--workflow-profile", "profiles/slurm",
        "--slurm-status-command", "squeue",  # no accounting here: sacct would never answer
        "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "1", "--jobs", "4", *targets,
    ]
    proc = subprocess.run(cmd, cwd=work, env=workflow_env(work), capture_output=True, text=True, timeout=timeout)
    return proc, proc.stdout + proc.stderr


# Results that must be equal, bit for bit in their samples or values: every prepared pair, every
# song's estimates, scores and fingerprints, and the metrics table. (Training outputs only have to
# exist: a GPU job on the test node and a local job may order floating-point sums differently.)
COMPARED = ("rtg/**/*.wav", "rtg/**/*.json", "results/*/*/*.wav", "results/*/*/metrics.json",
            "results/unet/*/*/*.wav", "results/unet/*/*/metrics.json", "results/fingerprint/**/*.npy",
            "results/report/metrics.csv", "results/discovery.tsv")
TRAINED = ("results/unet/train/model.pt", "results/unet/train/curve.png", "results/carvana/model.pth",
           "results/carvana/metrics.json", "results/carvana/training.png")


def without_timings(data):
    """A JSON document without its "seconds" entries (how long a step took differs from run to run)."""
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if k != "seconds"}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data


def same_content(a, b):
    if a.suffix == ".wav":  # samples, not headers (libsndfile stamps the time in float WAVs)
        (x, sr_x), (y, sr_y) = sf.read(a), sf.read(b)
        return sr_x == sr_y and np.array_equal(x, y)
    if a.suffix == ".npy":
        return np.array_equal(np.load(a), np.load(b))
    if a.suffix == ".json":
        return without_timings(json.loads(a.read_text())) == without_timings(json.loads(b.read_text()))
    return a.read_bytes() == b.read_bytes()


@pytest.mark.slow
def test_the_demo_on_slurm_gives_the_local_results_one_job_per_song(cluster, tmp_path, tmp_path_factory):
    on_slurm = quick_workflow(tmp_path / "slurm")
    proc, output = run_on_slurm(on_slurm, *DEMO_TARGETS)
    assert proc.returncode == 0, f"slurm run failed:\n{output[-6000:]}\n{cluster.logs()}"
    # one SLURM job per song (synthesis, both modes' preparation, fingerprints, separations,
    # scores, listening pages); the steps that gather all songs are jobs of their own
    jobs = sorted(submitted_jobs(output).values())
    groups = [name for name in jobs if name.startswith("group_")]
    assert len(groups) == len(DEMO) and all(name.startswith("group_song_") for name in groups), jobs
    singles = {name[len("rule_"):] for name in jobs if name.startswith("rule_")}
    assert singles == {"discovery", "unet_train", "report", "report_table", "carvana_data", "carvana_train",
                       "carvana_evaluate"}, jobs

    local = quick_demo(tmp_path_factory)
    compared = []
    for pattern in COMPARED:
        for path in sorted(local.glob(pattern)):
            other = on_slurm / path.relative_to(local)
            assert other.is_file(), f"{other} missing after the SLURM run"
            assert same_content(path, other), f"{path.relative_to(local)} differs between SLURM and local"
            compared.append(path)
    per_song = [p for p in compared if "demo-0" in str(p)]
    assert len(per_song) >= len(DEMO) * len(MODES) * 10, len(per_song)
    for path in TRAINED:
        assert (on_slurm / path).is_file(), path

    # nothing left to do: the cluster run recorded the same provenance as a local run
    again, output = run_on_slurm(on_slurm, *DEMO_TARGETS)
    assert again.returncode == 0 and "Nothing to be done" in output, output[-3000:]
