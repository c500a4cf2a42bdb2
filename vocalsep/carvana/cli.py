"""Commands: carvana-generate (synthetic cars), carvana-train, carvana-predict (masks for any folder)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from .synth import generate
from .train import TrainSettings, train

if TYPE_CHECKING:
    import argparse


def _generate(args: argparse.Namespace) -> int:
    """carvana-generate: write the synthetic set."""
    ids = generate(args.output, cars=args.cars, views=args.views, width=args.width, height=args.height,
                   seed=args.seed)
    print(f"{len(ids)} images of {args.cars} cars written to {args.output}")
    return 0


def _train(args: argparse.Namespace) -> int:
    """carvana-train: settings from --settings, overridden by the options given."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = TrainSettings.from_dict(json.loads(Path(args.settings).read_text()) if args.settings else {})
    for name in ("epochs", "batch_size", "learning_rate", "scale", "seed", "device"):
        value = getattr(args, name)
        if value is not None:
            setattr(settings, name, value)
    result = train(args.data, args.output, settings)
    print(f"best validation Dice {result['val_dice']:.4f} at epoch {result['best_epoch']}; "
          f"model: {Path(args.output) / 'model.pth'}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    """carvana-predict: masks (and an overlay picture) for a folder of images."""
    from .predict import predict_folder

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ids = predict_folder(args.model, args.input, args.output, threshold=args.threshold, scale=args.scale,
                         device=args.device, overlay_path=args.overlay)
    print(f"{len(ids)} masks written to {args.output}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the carvana-generate, carvana-train and carvana-predict commands to the `vocalsep` command line.

    Args:
        subparsers: the `vocalsep` parser's subcommands, from ArgumentParser.add_subparsers.
    """
    p = subparsers.add_parser("carvana-generate", help="write synthetic cars in the Carvana layout")
    p.add_argument("output", help="folder that receives imgs/ and masks/")
    p.add_argument("--cars", type=int, default=48)
    p.add_argument("--views", type=int, default=16, help="views per car (Carvana: 16)")
    p.add_argument("--width", type=int, default=240)
    p.add_argument("--height", type=int, default=160)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_generate)

    p = subparsers.add_parser("carvana-train", help="train the image U-Net on a Carvana folder (resumes)")
    p.add_argument("data", help="folder with imgs/<id>.jpg and masks/<id>_mask.gif")
    p.add_argument("output", help="folder for model.pth, training.csv/png, split.json, checkpoints/")
    p.add_argument("--settings", help="JSON file of training settings (keys of config.yaml carvana.train)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", dest="batch_size", type=int)
    p.add_argument("--learning-rate", dest="learning_rate", type=float)
    p.add_argument("--scale", type=float, help="image scale for training and prediction")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=["auto", "cuda", "mps", "cpu"])
    p.set_defaults(func=_train)

    p = subparsers.add_parser("carvana-predict", help="car masks for a folder of images with a trained model")
    p.add_argument("model", help="model.pth (or checkpoint_epoch{N}.pth) from carvana-train")
    p.add_argument("input", help="folder of images")
    p.add_argument("output", help="folder that receives <id>_mask.png")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--scale", type=float, help="image scale (default: the model's training scale)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    p.add_argument("--overlay", help="also write a PNG of the first images with their masks")
    p.set_defaults(func=_predict)
