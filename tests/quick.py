"""Small settings for whole-workflow runs in tests: every rule runs, each on little work.

`make_quick(work)` rewrites config.yaml of a workflow copy (made by conftest.copy_workflow) so a
full run of the demo, training included, takes minutes on two shared cores instead of an hour.
Sections of branches that are absent are left alone.
"""

import shutil

import yaml

from conftest import REPO, copy_workflow, snakemake

QUICK = {
    "demo": {"no_limit_seconds": 6.0},
    "fingerprint": {"scales": [1024], "iterations": 4, "loss_views": [0, 1, 2]},
    "unet": {"train": {"max_valid": 1, "settings": {
        "epochs": 1, "steps_per_epoch": 2, "batch_size": 1, "patch_frames": 64}}},
    "carvana": {
        "synthetic": {"cars": 6, "views": 2, "width": 64, "height": 48},
        "train": {"epochs": 1, "batch_size": 4, "base_channels": 4, "depth": 2},
    },
}


def merge(base, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        elif key in base:
            base[key] = value
    return base


def make_quick(work):
    path = work / "config.yaml"
    config = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(merge(config, QUICK), sort_keys=False, allow_unicode=True))
    return work


def quick_workflow(dest, profiles=True, report=True):
    """A workflow copy with the quick settings, the profiles and the report captions."""
    work = copy_workflow(dest)
    for part, wanted in (("profiles", profiles), ("report", report)):
        if wanted and (REPO / part).is_dir():
            shutil.copytree(REPO / part, work / part)
    return make_quick(work)


DEMO_TARGETS = ("all", "unet_train")  # everything, and the U-Net training whose curve the report shows


def quick_demo(tmp_path_factory):
    """A quick full run of the demo, made once per test session and shared by the modules that
    only read it (the SLURM comparison, the report). Returns the workflow copy."""
    work = tmp_path_factory.getbasetemp() / "quick-demo"
    done = work / ".quick-demo-done"
    if not done.exists():
        if work.exists():
            shutil.rmtree(work)
        quick_workflow(work)
        snakemake(work, *DEMO_TARGETS)
        done.write_text("ok\n")
    return work
