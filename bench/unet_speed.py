"""Speed and memory of the vocal U-Net's separation, with the model loaded once.

    .venv/bin/python bench/unet_speed.py [--model PATH] [--threads 2] [--memory]

Prints the seconds to separate a 20 s clip and a 3 min 30 s song on `threads` CPU cores (and on
the GPU when there is one), for the workflow's format (mono 22050 Hz) and for a CD-format file
(stereo 44.1 kHz, resampled in and out). The bar: <= 2.5 s for the 20 s clip on 2 CPU cores.
--memory also separates a 10-minute stereo 44.1 kHz song in a fresh process and prints its peak
memory (the bar: under 4 GB).
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vocalsep.demo import synthesise  # noqa: E402
from vocalsep.unet.separate import Separator  # noqa: E402


def song(seconds, sr, channels):
    """A synthetic song (voice over a band) of the given length, rate and channels."""
    mix, _ = synthesise(7, sr, min(seconds, 30.0))
    reps = int(np.ceil(seconds / 30.0))
    mix = np.concatenate([mix] * reps)[: int(seconds * sr)]
    return mix if channels == 2 else mix.mean(axis=1)


def timed(sep, signal, sr, repeats):
    """Median wall seconds and CPU seconds (all threads) of one separation."""
    sep.separate(signal[: sr * 2], sr)  # warm-up: first-call allocations
    times, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        sep.separate(signal, sr)
        if sep.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(times), statistics.median(cpu)


def memory_child(model, threads):
    torch.set_num_threads(threads)
    sep = Separator(model, device="cpu")
    signal = song(600, 44100, 2)
    t = time.perf_counter()
    vocal, _ = sep.separate(signal, 44100)
    seconds = time.perf_counter() - t
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"10 min stereo 44.1 kHz song: {seconds:.1f} s, peak memory of the whole process {peak_gb:.2f} GB "
          f"(input alone {signal.nbytes / 2**30:.2f} GB)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="also measure a 10-minute song's peak memory")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.model, args.threads)
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPU cores, load average {load:.1f} (other processes slow the wall times down)")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        t = time.perf_counter()
        sep = Separator(args.model, device=device)
        load = time.perf_counter() - t
        label = f"{device} ({args.threads} threads)" if device == "cpu" else device
        print(f"[{label}] model {sep.model_path.name} (width {sep.model.width}) loaded once in {load:.2f} s")
        for sr, channels, fmt in ((22050, 1, "mono 22.05 kHz"), (44100, 2, "stereo 44.1 kHz")):
            for seconds, name in ((20, "20 s clip"), (210, "3 min 30 s song")):
                sig = song(seconds, sr, channels)
                secs, cpu = timed(sep, sig, sr, args.repeats if seconds <= 20 else 1)
                bar = "  (bar <= 2.5 s)" if seconds == 20 and device == "cpu" else ""
                print(f"[{label}] {name}, {fmt}: {secs:.2f} s wall ({seconds / secs:.0f}x real time), "
                      f"{cpu:.2f} s CPU{bar}")
    if args.memory:
        cmd = [sys.executable, __file__, "--memory-child", "--threads", str(args.threads)]
        if args.model:
            cmd += ["--model", args.model]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
