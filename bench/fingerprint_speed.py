"""Benchmark: fingerprint of both sources + fingerprint-matching optimisation + rendering.

In one process, on synthesised demo-like pairs (sung voice over a band, exact stems) of 4.7 s and
3 min 30 s: the fingerprint cache (19 views x every scale x 425 metrics, written to disk as rule
fingerprint does) of the mix and of the vocal, then the matching (it reads the vocal's cache as
its target, optimises the mask and renders it, as rule fingerprint_match does). Prints wall and
CPU seconds of each part, the real-time factor (seconds of processing per second of audio) and the
vocal SDR of the matching and of the IRM2 oracle on the 4.7 s clip, which runs twice: first in a
fresh process (as a workflow job runs it), then warm. The bar: <= 1.2 s for the 4.7 s clip and
<= 60 s for 3:30 on 2 cores.
`--memory` instead runs the whole per-song job (cache of both sources, matching, baselines,
scores, pictures) on a 10-minute song, each job in a fresh process that reads the wavs as
Snakemake runs it, and prints each job's peak resident memory (bar: < 4 GB).
Not a test: it asserts nothing.

    .venv/bin/python bench/fingerprint_speed.py [--threads 2] [--iterations N] [--skip-long]
    .venv/bin/python bench/fingerprint_speed.py --memory [--minutes 10]
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: idle threads sleep on shared cores

import soundfile as sf  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vocalsep import SAMPLE_RATE as SR  # noqa: E402
from vocalsep.audio import to_mono, write_wav  # noqa: E402
from vocalsep.baselines import baselines  # noqa: E402
from vocalsep.demo import synthesise  # noqa: E402
from vocalsep.evaluate import score  # noqa: E402
from vocalsep.fingerprint.cache import write_fingerprint  # noqa: E402
from vocalsep.matching import MatchSettings, loss_reduction, match  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def pair(seconds, seed=0):
    mix, vocal = synthesise(seed, SR, seconds)
    return to_mono(mix), to_mono(vocal)


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def run(seconds, settings, seed=0, quality=False):
    mix, vocal = pair(seconds, seed)
    with tempfile.TemporaryDirectory() as tmp:
        with Clock() as fp:  # what rule fingerprint does for each source: the cache on disk
            write_fingerprint(mix, SR, Path(tmp, "mix"), settings.scales, settings.hop_fraction)
            write_fingerprint(vocal, SR, Path(tmp, "vocal"), settings.scales, settings.hop_fraction)
        with Clock() as mt:  # rule fingerprint_match's optimisation, reading the vocal's cache
            est, mask, history = match(mix, vocal, SR, settings, vocal_fingerprint=Path(tmp, "vocal"))
    total_wall, total_cpu = fp.wall + mt.wall, fp.cpu + mt.cpu
    print(f"{seconds:7.1f} s of audio: fingerprints {fp.wall:6.2f} s (cpu {fp.cpu:6.2f})  "
          f"matching {mt.wall:7.2f} s (cpu {mt.cpu:7.2f})  total {total_wall:7.2f} s (cpu {total_cpu:7.2f})  "
          f"real-time factor {total_wall / seconds:.3f}", flush=True)
    if quality:
        acc = mix - vocal
        ours = score(vocal, acc, est, mix - est, SR)["vocals"]
        v2, a2 = baselines(mix, vocal, SR, settings.mask_n_fft, settings.mask_hop)["IRM2"]
        irm = score(vocal, acc, v2, a2, SR)["vocals"]
        print(f"          vocal SDR: matching {ours['SDR']:.2f} dB, IRM2 {irm['SDR']:.2f} dB "
              f"(difference {ours['SDR'] - irm['SDR']:+.2f} dB); fingerprint loss reduction "
              f"{loss_reduction(history):.3f} (not a quality measure)", flush=True)
    return total_wall


def memory(minutes, iterations, threads):
    """Peak memory of each job of a long song, each in a fresh process that reads the wavs, as
    Snakemake runs them: the fingerprint cache of one source (rule fingerprint, twice), then the
    matching with baselines, scores and pictures (rule fingerprint_match)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mix, vocal = pair(60.0 * minutes, seed=1)
        write_wav(tmp / "mix.wav", mix, SR)
        write_wav(tmp / "vocal.wav", vocal, SR)
        del mix, vocal
        for job in ("fingerprint:mix", "fingerprint:vocal", "fingerprint_match"):
            cmd = [sys.executable, __file__, "--memory-child", f"{tmp}|{job}", "--iterations", str(iterations),
                   "--threads", str(threads)]
            subprocess.run(cmd, check=True)
        size = sum(p.stat().st_size for p in (tmp / "fp").rglob("*.npy")) / 2**30
        print(f"fingerprint cache of both sources {size:.2f} GiB on disk")


def memory_child(spec, settings):
    """One job in this fresh process; it imports only what that job's workflow script imports
    (matplotlib, the baselines and the scores only in the matching's), so that its peak memory
    is the job's."""
    tmp, job = spec.split("|")
    tmp = Path(tmp)
    with Clock() as c:
        if job.startswith("fingerprint:"):
            from vocalsep.fingerprint.song import fingerprint_song

            source = job.split(":")[1]
            fingerprint_song(tmp / f"{source}.wav", tmp / "fp" / source, settings.scales, settings.hop_fraction)
        else:
            from vocalsep.matching.song import output_paths, separate_song

            separate_song(tmp / "mix.wav", tmp / "vocal.wav", output_paths(tmp / "out"), "long", "no-limit",
                          settings, vocal_fingerprint=tmp / "fp" / "vocal")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    minutes = sf.info(str(tmp / "mix.wav")).duration / 60
    print(f"{minutes:g}-minute song, job {job} ({settings.iterations} Adam steps): {c.wall:.0f} s, "
          f"peak resident memory {peak:.0f} MB", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, help="override config.yaml's fingerprint iterations")
    parser.add_argument("--skip-long", action="store_true", help="only the 4.7 s clip")
    parser.add_argument("--long-seconds", type=float, default=210.0)
    parser.add_argument("--memory", action="store_true", help="peak memory of a whole long song's job")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    section = yaml.safe_load((REPO / "config.yaml").read_text())["fingerprint"]
    settings = MatchSettings.from_config(section)
    if args.iterations is not None:
        settings = MatchSettings.from_config({**section, "iterations": args.iterations})
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; scales {settings.scales}, {settings.iterations} iterations, "
          f"loss views {list(settings.loss_views)}, views per step {settings.views_per_step or 'all'}")
    if args.memory_child:
        memory_child(args.memory_child, settings)
        return
    if args.memory:
        memory(args.minutes, settings.iterations, args.threads)
        return
    print("first run in this process (cold: tables built, kernels loaded, as in a workflow job):")
    run(4.7, settings)
    print("warm:")
    run(4.7, settings, quality=True)
    if not args.skip_long:
        run(args.long_seconds, settings)


if __name__ == "__main__":
    main()
