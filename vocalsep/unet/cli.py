"""Command line of the vocal U-Net: `separate` any file, `unet-train`, `unet-corpus`, `unet-eval`.

    python -m vocalsep separate SONG... -o DIR [--model vocal_unet.pt] [--device auto]
writes DIR/<song name>/vocal.wav and accompaniment.wav at the input's sample rate and channels.
"""

import json
import logging
import sys
from pathlib import Path


def _separate(args):
    from .separate import Separator

    sep = Separator(args.model, device=args.device, chunk_seconds=args.chunk_seconds)
    for song in args.songs:
        out = Path(args.output) / Path(song).stem
        vocal, accompaniment = sep.separate_to(song, out, subtype=args.subtype)
        print(f"{song}: {vocal}, {accompaniment}")
    return 0


def _train(args):
    from .train import TrainConfig, run_training

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    cfg = TrainConfig.from_dict(json.loads(args.settings) if args.settings else {})
    record = run_training(args.out_dir, args.model_out, cfg, args.rtg, args.musdb, args.corpus,
                          valid_fraction=args.valid_fraction, device=args.device)
    print(f"model: {args.model_out} (epoch {record['epoch']}, validation SDR {record['valid_sdr']:.2f} dB)")
    return 0


def _corpus(args):
    from .. import corpus

    root = corpus.fetch(args.cache)
    pairs = corpus.build(root, args.output, seconds=args.seconds, seed=args.seed)
    print(f"{len(pairs)} pairs in {args.output}")
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser("separate", help="separate the vocal of audio files with the vocal U-Net")
    p.add_argument("songs", nargs="+", metavar="SONG", help="audio files (any format soundfile or ffmpeg reads)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--model", default=None, help="model file (default: the shipped pretrained model)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--chunk-seconds", type=float, default=12.0, help="seconds per inference chunk (memory)")
    p.add_argument("--subtype", default="FLOAT", help="WAV sample format (FLOAT, PCM_16, PCM_24)")
    p.set_defaults(func=_separate)

    t = subparsers.add_parser("unet-train", help="train the vocal U-Net (resumes from DIR/checkpoints)")
    t.add_argument("--out-dir", required=True, help="training folder (checkpoints, training.csv, curve.png)")
    t.add_argument("--model-out", required=True, help="where to write the trained model file")
    t.add_argument("--rtg", default=None, help="folder of prepared pairs (rtg/)")
    t.add_argument("--musdb", default=None, help="folder in the MUSDB18-HQ layout (train split used)")
    t.add_argument("--corpus", default=None, help="the open corpus folder (train split used)")
    t.add_argument("--valid-fraction", type=float, default=0.15)
    t.add_argument("--settings", default=None, help='JSON of TrainConfig fields, e.g. \'{"epochs": 30}\'')
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    t.set_defaults(func=_train)

    c = subparsers.add_parser("unet-corpus", help="build the open training corpus from Debian packages")
    c.add_argument("--cache", required=True, help="folder for the downloaded and unpacked packages")
    c.add_argument("-o", "--output", required=True, help="corpus folder (MUSDB18-HQ layout)")
    c.add_argument("--seconds", type=float, default=30.0)
    c.add_argument("--seed", type=int, default=2026)
    c.set_defaults(func=_corpus)
    add_evaluate_parser(subparsers)


def _evaluate(args):
    from .evaluate import compare_on_pairs, write_comparison
    from .separate import Separator

    sep = Separator(args.model, device=args.device)
    rows = compare_on_pairs(args.pairs, sep, split=args.split, limit=args.limit, every=args.every)
    summary = write_comparison(rows, Path(args.output) / "scores.csv", Path(args.output) / "summary.json")
    print(json.dumps(summary, indent=2))
    return 0


def add_evaluate_parser(subparsers):
    e = subparsers.add_parser("unet-eval", help="median vocal SDR of the U-Net and REPET-SIM on held-out pairs")
    e.add_argument("pairs", help="folder in the MUSDB18-HQ layout (e.g. results/corpus)")
    e.add_argument("-o", "--output", required=True, help="folder for scores.csv and summary.json")
    e.add_argument("--split", default="test")
    e.add_argument("--model", default=None)
    e.add_argument("--limit", type=int, default=None, help="score only the first N tracks")
    e.add_argument("--every", type=int, default=1, help="score every N-th track (an evenly spread subset)")
    e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    e.set_defaults(func=_evaluate)
