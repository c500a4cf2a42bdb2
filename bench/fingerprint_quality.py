"""Benchmark: fingerprint matching against the oracles on several mask STFTs, on pairs with exact stems.

Runs the per-song job of the fingerprint branch (matching, baselines on the same STFT, museval
scores; `vocalsep.fingerprint.song.separate_song`, what `snakemake` runs per song) once per mask
STFT size (`--mask-n-fft`, hop a quarter of it) on pairs of a folder in the MUSDB18-HQ layout, by
default the test split of the open corpus (real speech over real music; build it with
`python -m vocalsep unet-corpus -o results/corpus`), or with `--demo` on the demo songs
(synthetic singing, `vocalsep.demo.synthesise`). Prints, per pair, each STFT's vocal SDR per
method; then the matching and IRM2 on the chosen STFT (config.yaml's `mask_n_fft`), the best
IRM2 of all the STFTs run and the gap between the two; then the median of every method on every
STFT. The bar: median gap to the best IRM2 >= -0.5 dB. Every other setting comes from
config.yaml's `fingerprint:` section. Not a test: it asserts nothing.

    .venv/bin/python bench/fingerprint_quality.py [--pairs results/corpus] [--every 6] [--offset 0]
        [--mask-n-fft 1024 2048 4096] [--demo] [--threads 2] [--json scores.json]
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: idle threads sleep on shared cores

import torch  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vocalsep.audio import write_wav  # noqa: E402
from vocalsep.demo import synthesise  # noqa: E402
from vocalsep.matching.settings import MatchSettings  # noqa: E402
from vocalsep.matching.song import MATCHING, output_paths, separate_song  # noqa: E402

SHOWN = (MATCHING, "IRM2", "IRM1", "IBM", "REPET-SIM")
SHORT = {MATCHING: "match", "IRM2": "IRM2", "IRM1": "IRM1", "IBM": "IBM", "REPET-SIM": "REPET"}
HOP_FRACTION = 4  # mask hop = n_fft / 4 (config.yaml's 1024 / 256)


def corpus_pairs(folder, split, every, offset):
    """[(name, mixture.wav, vocals.wav)] of every `every`-th track of a MUSDB18-HQ-layout split."""
    tracks = sorted(p for p in (Path(folder) / split).glob("*") if (p / "vocals.wav").is_file())
    if not tracks:
        raise SystemExit(f"{folder}/{split}: no <track>/mixture.wav + vocals.wav here "
                         "(build the open corpus: python -m vocalsep unet-corpus -o results/corpus)")
    return [(t.name, t / "mixture.wav", t / "vocals.wav") for t in tracks[offset::every]]


def demo_pairs(folder):
    """The demo songs as the demo rule synthesises them (config.yaml's seed, rate and length),
    aligned, written into folder as mono mixture and vocal wavs: [(name, mixture, vocals)]."""
    demo = yaml.safe_load((REPO / "config.yaml").read_text())["demo"]
    pairs = []
    for i in range(demo["songs"]):
        mix, vocal = synthesise(demo["seed"] + 7919 * i, demo["sample_rate"], demo["no_limit_seconds"])
        name = f"demo-{i + 1:02d}"
        paths = (Path(folder) / f"{name}_mixture.wav", Path(folder) / f"{name}_vocals.wav")
        for path, x in zip(paths, (mix, vocal)):
            write_wav(path, x.mean(axis=1), demo["sample_rate"])
        pairs.append((name, *paths))
    return pairs


def run_pair(mix, vocal, name, sizes, settings, section, tmp):
    """{n_fft: {method: vocal SDR}} and {n_fft: seconds} of one pair, one separate_song per size."""
    sdr, seconds = {}, {}
    for n in sizes:
        t = time.perf_counter()
        scores = separate_song(mix, vocal, output_paths(Path(tmp) / f"{name}_{n}"), name, "no-limit",
                               dataclasses.replace(settings, mask_n_fft=n, mask_hop=n // HOP_FRACTION),
                               section["repet_segment_seconds"])
        sdr[n] = {m: scores[m]["vocals"]["SDR"] for m in SHOWN}
        seconds[n] = time.perf_counter() - t
    return sdr, seconds


def median(values):
    return statistics.median(values) if values else float("nan")


def report(results, sizes, chosen):
    """Print the per-pair comparison with the best IRM2 and the medians per method and STFT."""
    print(f"\nchosen STFT: n_fft {chosen} (hop {chosen // HOP_FRACTION}); best IRM2 of n_fft "
          + "/".join(map(str, sizes)))
    print(f"{'pair':40s}{'match':>8s}{'IRM2':>8s}{'best IRM2':>11s}{'at':>6s}{'gap':>8s}{'vs IRM2':>9s}")
    gaps, own = [], []
    for name, sdr in results.items():
        best = max(sizes, key=lambda n: sdr[n]["IRM2"])
        match, irm2 = sdr[chosen][MATCHING], sdr[chosen]["IRM2"]
        gaps.append(match - sdr[best]["IRM2"])
        own.append(match - irm2)
        print(f"{name:40s}{match:8.2f}{irm2:8.2f}{sdr[best]['IRM2']:11.2f}{best:6d}{gaps[-1]:+8.2f}{own[-1]:+9.2f}")
    print(f"median gap to the best IRM2 {median(gaps):+.2f} dB (bar: >= -0.50), worst {min(gaps):+.2f}, "
          f"at or above it on {sum(g >= 0 for g in gaps)} of {len(gaps)}; to IRM2 on the same STFT "
          f"{median(own):+.2f} dB")
    print(f"\nmedian vocal SDR (dB) over {len(results)} pairs")
    print(f"{'n_fft':>8s}" + "".join(f"{SHORT[m]:>8s}" for m in SHOWN))
    for n in sizes:
        print(f"{n:8d}" + "".join(f"{median([s[n][m] for s in results.values()]):8.2f}" for m in SHOWN))
    best_irm2 = median([max(s[n]["IRM2"] for n in sizes) for s in results.values()])
    print(f"{'best':>8s}{'':8s}{best_irm2:8.2f}  (IRM2 of each pair's best STFT)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default=str(REPO / "results" / "corpus"),
                        help="folder with <split>/<track>/mixture.wav and vocals.wav")
    parser.add_argument("--split", default="test")
    parser.add_argument("--every", type=int, default=6, help="every n-th track (sorted by name)")
    parser.add_argument("--offset", type=int, default=0,
                        help="start at this track (another subset of the held-out pairs)")
    parser.add_argument("--demo", action="store_true",
                        help="the demo songs (synthetic singing) instead of the folder's pairs")
    parser.add_argument("--mask-n-fft", type=int, nargs="+", default=[1024, 2048, 4096],
                        help="mask STFT sizes to run (hop: a quarter); config.yaml's is always run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write every score and timing to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    section = yaml.safe_load((REPO / "config.yaml").read_text())["fingerprint"]
    settings = MatchSettings.from_config(section)
    chosen = settings.mask_n_fft
    sizes = sorted(set(args.mask_n_fft) | {chosen})
    results, timings = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        pairs = demo_pairs(tmp) if args.demo else corpus_pairs(args.pairs, args.split, args.every, args.offset)
        source = "the demo songs (synthetic singing)" if args.demo else f"{args.pairs}/{args.split}"
        print(f"{len(pairs)} pairs of {source}; mask n_fft {', '.join(map(str, sizes))} (hop n_fft/4); "
              f"{settings.profile_iterations} profile updates, {settings.iterations} Adam steps, render "
              f"{settings.render}; vocal SDR in dB (museval v4, 1 s windows, median)")
        print(f"{'pair':40s}{'n_fft':>6s}" + "".join(f"{SHORT[m]:>8s}" for m in SHOWN) + f"{'seconds':>9s}")
        for name, mix, vocal in pairs:
            results[name], timings[name] = run_pair(mix, vocal, name, sizes, settings, section, tmp)
            for n in sizes:
                print(f"{name if n == sizes[0] else '':40s}{n:6d}"
                      + "".join(f"{results[name][n][m]:8.2f}" for m in SHOWN) + f"{timings[name][n]:9.1f}",
                      flush=True)
    report(results, sizes, chosen)
    print("\nmedian seconds per pair (separate_song: matching, baselines, scores, plots): "
          + ", ".join(f"n_fft {n} {median([t[n] for t in timings.values()]):.1f}" for n in sizes))
    if args.json:
        Path(args.json).write_text(json.dumps({"sizes": sizes, "chosen": chosen, "sdr": results,
                                               "seconds": timings}, indent=1, default=float))


if __name__ == "__main__":
    main()
