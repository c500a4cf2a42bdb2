"""Benchmark: fingerprint matching against the oracles on real recordings with exact stems.

Runs the per-song job of the fingerprint branch (matching, baselines on the same STFT, museval
scores; `vocalsep.matching.song.separate_song`, what `snakemake` runs per song) on pairs of a
folder in the MUSDB18-HQ layout, by default the test split of the open corpus (real speech over
real music; build it with `python -m vocalsep unet-corpus -o results/corpus`). Prints each pair's
vocal SDR per method and the matching's distance to the IRM2 oracle (the bar: within 1 dB on
every song). Settings come from config.yaml's `fingerprint:` section. Not a test: it asserts nothing.

    .venv/bin/python bench/fingerprint_quality.py [--pairs results/corpus] [--every 6] [--offset 0] [--threads 2]
"""

import argparse
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

from vocalsep.matching.settings import MatchSettings  # noqa: E402
from vocalsep.matching.song import MATCHING, output_paths, separate_song  # noqa: E402

SHOWN = (MATCHING, "IRM2", "IRM1", "IBM", "REPET-SIM", "mixture")
WIDTH = {m: max(9, len(m) + 2) for m in SHOWN}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default=str(REPO / "results" / "corpus"),
                        help="folder with <split>/<track>/mixture.wav and vocals.wav")
    parser.add_argument("--split", default="test")
    parser.add_argument("--every", type=int, default=6, help="every n-th track (sorted by name)")
    parser.add_argument("--offset", type=int, default=0,
                        help="start at this track (another subset of the held-out pairs)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    tracks = sorted(p for p in (Path(args.pairs) / args.split).glob("*") if (p / "vocals.wav").is_file())
    if not tracks:
        raise SystemExit(f"{args.pairs}/{args.split}: no <track>/mixture.wav + vocals.wav here "
                         "(build the open corpus: python -m vocalsep unet-corpus -o results/corpus)")
    tracks = tracks[args.offset :: args.every]
    torch.set_num_threads(args.threads)
    section = yaml.safe_load((REPO / "config.yaml").read_text())["fingerprint"]
    settings = MatchSettings.from_config(section)
    print(f"{len(tracks)} pairs of {args.pairs}/{args.split}; {settings.profile_iterations} profile updates, "
          f"{settings.iterations} Adam steps; vocal SDR in dB (museval v4, 1 s windows, median)")
    print(f"{'pair':40s}" + "".join(f"{m:>{WIDTH[m]}s}" for m in SHOWN) + f"{'match - IRM2':>14s}{'seconds':>9s}")
    gaps = []
    with tempfile.TemporaryDirectory() as tmp:
        for track in tracks:
            t = time.perf_counter()
            scores = separate_song(track / "mixture.wav", track / "vocals.wav", output_paths(Path(tmp) / track.name),
                                   track.name, "no-limit", settings, section["repet_segment_seconds"])
            sdr = {m: scores[m]["vocals"]["SDR"] for m in SHOWN}
            gaps.append(sdr[MATCHING] - sdr["IRM2"])
            print(f"{track.name:40s}" + "".join(f"{sdr[m]:{WIDTH[m]}.2f}" for m in SHOWN)
                  + f"{gaps[-1]:+14.2f}{time.perf_counter() - t:9.1f}", flush=True)
    print(f"median distance to IRM2 {statistics.median(gaps):+.2f} dB; within 1 dB on "
          f"{sum(g >= -1 for g in gaps)} of {len(gaps)} pairs; worst {min(gaps):+.2f} dB")


if __name__ == "__main__":
    main()
