"""Benchmark: time and held-out Dice of the default Carvana training on synthetic cars.

With config.yaml's `carvana:` settings (what `snakemake carvana` runs), generates the synthetic
cars, trains the image U-Net on `--threads` CPU threads (2 by default: the bar is Dice >= 0.95 on
held-out cars within 10 minutes on 2 CPU cores), scores the test cars at full resolution and
prints the seconds of each stage and the Dice. Not a test: it asserts nothing.

    .venv/bin/python bench/carvana_speed.py [--threads 2] [--out /tmp/carvana-bench]
"""

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: idle threads sleep on shared cores

import torch  # noqa: E402
import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vocalsep.carvana.predict import evaluate  # noqa: E402
from vocalsep.carvana.synth import generate  # noqa: E402
from vocalsep.carvana.train import train  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="work folder (default: a temporary one)")
    parser.add_argument("--epochs", type=int, help="override the number of epochs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    config = yaml.safe_load((Path(__file__).resolve().parent.parent / "config.yaml").read_text())
    data = config["carvana"]["synthetic"]
    settings = {**config["carvana"]["train"], "device": "cpu"}
    if args.epochs:
        settings["epochs"] = args.epochs
    work = Path(args.out or tempfile.mkdtemp(prefix="carvana-bench-"))

    c0, t0 = time.process_time(), time.perf_counter()
    generate(work / "data", **data)
    t1 = time.perf_counter()
    result = train(work / "data", work / "train", settings, progress=False)
    t2 = time.perf_counter()
    metrics = evaluate(work / "train" / "model.pth", work / "data", work / "train" / "split.json",
                       work / "predictions", work / "overlay.png", work / "metrics.json", device="cpu")
    t3, c3 = time.perf_counter(), time.process_time()

    print(json.dumps({"data": data, "train": settings}, indent=None))
    print(f"threads            {args.threads} (torch {torch.__version__}, {torch.get_num_threads()} intra-op)")
    print(f"generate           {t1 - t0:8.1f} s  ({len(list((work / 'data' / 'imgs').iterdir()))} images)")
    print(f"train              {t2 - t1:8.1f} s  ({result['epochs']} epochs, best epoch {result['best_epoch']}, "
          f"validation Dice {result['val_dice']:.4f})")
    print(f"evaluate           {t3 - t2:8.1f} s  ({metrics['images']} held-out images of {metrics['cars']} cars)")
    print(f"total              {t3 - t0:8.1f} s  ({(t3 - t0) / 60:.1f} min wall; bar: 10 min)")
    print(f"CPU time           {c3 - c0:8.1f} s  (all threads; wall >> CPU / threads means the cores were shared)")
    print(f"held-out Dice      {metrics['dice']:.4f}  (bar: 0.95)   IoU {metrics['iou']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
