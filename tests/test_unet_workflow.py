"""The vocal U-Net branch in real Snakemake runs: separation of every song, metrics, training that resumes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import soundfile as sf
import yaml

from conftest import copy_workflow, dry_run_jobs, snakemake, workflow_env, write_song

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """Two paired songs (one in both modes) and one mix without a stem, in process/."""
    work = copy_workflow(tmp_path_factory.mktemp("unet"))
    write_song(work / "process", "Paired ä.1", "100-window", seconds=5.0, seed=1)
    write_song(work / "process", "Paired ä.1", "no-limit", seconds=6.0, seed=1)
    write_song(work / "process", "no stem", "no-limit", seconds=4.0, seed=2, stem=False)
    return work


def test_unet_separates_every_song_and_scores_the_paired_ones(songs):
    jobs = dry_run_jobs(songs, "unet")
    assert sorted(jobs["unet_separate"]) == ["mode=100-window, song=Paired ä.1", "mode=no-limit, song=Paired ä.1",
                                             "mode=no-limit, song=no stem"]
    assert sorted(jobs["unet_metrics"]) == ["mode=100-window, song=Paired ä.1", "mode=no-limit, song=Paired ä.1"]
    assert "unet_train" not in jobs
    snakemake(songs, "unet")
    for mode, name in [("100-window", "Paired ä.1"), ("no-limit", "Paired ä.1"), ("no-limit", "no stem")]:
        folder = songs / "results" / "unet" / mode / name
        mix, sr = sf.read(songs / "rtg" / mode / name / "stereo_mixture.wav")
        vocal, sr_v = sf.read(folder / "vocal.wav")
        accomp, _ = sf.read(folder / "accompaniment.wav")
        assert sr_v == sr and vocal.shape == accomp.shape == mix.shape
        assert abs(vocal + accomp - mix).max() < 1e-5
    metrics = json.loads((songs / "results" / "unet" / "no-limit" / "Paired ä.1" / "metrics.json").read_text())
    assert metrics["song"] == "Paired ä.1" and metrics["mode"] == "no-limit"
    assert set(metrics["methods"]["unet"]["vocals"]) == {"SDR", "SIR", "SAR", "SI-SDR"}
    # the model's name and settings travel with the scores (and into the report's "model" column)
    assert metrics["separation"]["model"] == "spleeter-2stems"
    assert metrics["separation"]["postprocess"] == "default"
    assert metrics["method_columns"]["unet"]["model"] == "spleeter-2stems (postprocess default)"
    assert not (songs / "results" / "unet" / "no-limit" / "no stem" / "metrics.json").exists()
    assert dry_run_jobs(songs, "unet") == {}


def test_training_rule_is_routed_as_a_gpu_job_and_resumes_after_a_kill(songs):
    config = yaml.safe_load((songs / "config.yaml").read_text())
    config["unet"]["train"]["settings"].update(epochs=3, steps_per_epoch=6, batch_size=1, patch_frames=64)
    config["unet"]["train"]["max_valid"] = 1
    config["unet"]["threads"] = 1
    (songs / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    dry = snakemake(songs, "-n", "unet_train").stdout
    block = dry[dry.index("rule unet_train:"):]
    assert "gpu=1" in block[: block.index("\n\n")]  # cluster profiles can route it to a GPU node
    ckpt = songs / "results" / "unet" / "train" / "checkpoints" / "last.pt"
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "--nocolor", "unet_train"]
    proc = subprocess.Popen(cmd, cwd=songs, env=workflow_env(songs), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert ckpt.exists(), "no checkpoint after epoch 0 (the pretrained weights validated)"
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job, as a user's Ctrl-C or a cluster's kill would
    proc.wait()
    import torch

    done = torch.load(ckpt, weights_only=True)["epoch"]
    assert done < 3 and not (songs / "results" / "unet" / "train" / "model.pt").exists()
    snakemake(songs, "--unlock")
    snakemake(songs, "unet_train", "--rerun-incomplete")
    log = (songs / "logs" / "unet_train.log").read_text()
    assert f"resuming after epoch {done} from " in log
    rows = (songs / "results" / "unet" / "train" / "training.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    from vocalsep.unet.model_file import load_model  # noqa: E402

    model, info = load_model(songs / "results" / "unet" / "train" / "model.pt")
    assert info["init"] == "pretrained" and model.config()["width"] == 16
    assert info["data"]["rtg"] and info["data"]["train_tracks"] >= 1
