from pathlib import Path

import torch

from vocalsep.carvana.train import train
from vocalsep.workflow import run_job


def job(smk, log):
    torch.set_num_threads(smk.threads)
    out_dir = Path(smk.output.model).parent
    expected = {"model": "model.pth", "history": "training.csv", "plot": "training.png", "split": "split.json"}
    for key, name in expected.items():
        if Path(smk.output[key]) != out_dir / name:
            raise ValueError(f"output {key} must be {out_dir / name}")
    result = train(smk.input.data, out_dir, dict(smk.params.settings), checkpoint_dir=smk.params.checkpoints,
                   run_tag=smk.params.code)
    log.info("trained %d epochs (resumed after %d) on %s; best validation Dice %.4f", result["epochs"],
             result["resumed_from"], result["device"], result["val_dice"])


run_job(snakemake, job)
