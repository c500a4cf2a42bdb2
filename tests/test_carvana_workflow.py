"""The Carvana branch through real Snakemake runs: target `carvana`, resume, a real-folder config."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import copy_workflow, dry_run_jobs, snakemake, workflow_env

pytestmark = pytest.mark.slow

OUTPUTS = ["metrics.json", "overlay.png", "training.csv", "training.png", "model.pth", "split.json"]


def tiny_config(work, **train):
    """Shrink the Carvana section of the copy's config.yaml to seconds of work."""
    path = work / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["carvana"]["synthetic"].update(cars=8, views=2, width=48, height=32)
    config["carvana"]["train"].update({"epochs": 2, "base_channels": 4, "depth": 2, "scale": 1.0, "batch_size": 4,
                                       "val_fraction": 0.25, "test_fraction": 0.25, "device": "cpu",
                                       "keep_checkpoints": 0, **train})
    config["carvana"]["threads"] = 1
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def test_carvana_target_runs_and_resumes_when_more_epochs_are_asked(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    tiny_config(work)
    jobs = dry_run_jobs(work, "carvana")
    assert set(jobs) == {"carvana_data", "carvana_train", "carvana_evaluate", "carvana"}
    snakemake(work, "carvana")
    out = work / "results" / "carvana"
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    assert len(list((out / "data" / "imgs").glob("*.jpg"))) == 16
    metrics = json.loads((out / "metrics.json").read_text())
    split = json.loads((out / "split.json").read_text())
    assert metrics["images"] == len(split["test"]) == 4
    assert sorted(p.name for p in (out / "predictions").glob("*.png")) == sorted(f"{i}_mask.png" for i in split["test"])
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pth")) == ["checkpoint_epoch1.pth",
                                                                       "checkpoint_epoch2.pth"]
    assert dry_run_jobs(work, "carvana") == {}

    # Two more epochs: training and evaluation rerun, training continues after epoch 2.
    tiny_config(work, epochs=4)
    assert set(dry_run_jobs(work, "carvana")) == {"carvana_train", "carvana_evaluate", "carvana"}
    snakemake(work, "carvana")
    log = (work / "logs" / "carvana_train.log").read_text()
    assert "resuming after epoch 2" in log
    with open(out / "training.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert len(list((out / "checkpoints").glob("*.pth"))) == 4


def test_a_real_folder_with_a_missing_mask_fails_naming_the_image(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    real = tmp_path / "my carvana"
    (real / "imgs").mkdir(parents=True)
    (real / "masks").mkdir()
    rng = np.random.default_rng(0)
    for car in range(4):
        for view in (1, 2):
            name = f"car{car:03d}_{view:02d}"
            Image.fromarray(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(real / "imgs" / f"{name}.jpg")
            if name != "car002_01":
                Image.fromarray(np.uint8(rng.random((32, 48)) > 0.5) * 255).save(real / "masks" / f"{name}_mask.png")
    config = tiny_config(work)
    config["carvana"]["data_dir"] = str(real)
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert "carvana_data" not in dry_run_jobs(work, "carvana")  # a real folder is used as it is
    proc = snakemake(work, "carvana", check=False)
    assert proc.returncode != 0
    assert "car002_01.jpg" in proc.stderr and "has no mask" in proc.stderr
    assert not (work / "results" / "carvana" / "model.pth").exists()


def test_an_interrupted_training_resumes_from_its_last_checkpoint(tmp_path):
    """Ctrl-C during training: Snakemake removes the outputs, the checkpoints stay, the rerun resumes."""
    work = copy_workflow(tmp_path / "wf")
    tiny_config(work, epochs=50)
    checkpoints = work / "results" / "carvana" / "checkpoints"
    # SIGINT back to its default in the child: a shell starting pytest in the background (`cmd &`)
    # makes its children ignore SIGINT, and an ignored signal stays ignored across exec
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--nocolor", "carvana"], cwd=work,
                            env=workflow_env(work), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300

    def epochs():
        return [int(p.stem.removeprefix("checkpoint_epoch")) for p in checkpoints.glob("checkpoint_epoch*.pth")]

    # any checkpoint from epoch 2 on (only the last few are kept, so epoch 2's may be gone already)
    while not any(e >= 2 for e in epochs()) and proc.poll() is None:
        assert time.monotonic() < deadline, "training never wrote its second checkpoint"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    proc.wait(timeout=120)
    done = max(epochs())
    assert done < 50, "training finished before the interruption arrived: give it more epochs"
    assert proc.returncode != 0
    assert not (work / "results" / "carvana" / "model.pth").exists()
    snakemake(work, "carvana")  # same config, no --rerun-incomplete needed
    log = (work / "logs" / "carvana_train.log").read_text()
    assert f"resuming after epoch {done} " in log
    with open(work / "results" / "carvana" / "training.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == list(range(1, 51))
