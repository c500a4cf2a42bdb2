"""Speed and memory of `python -m vocalsep separate` beside TensorFlow Spleeter, whole processes.

    .venv/bin/python bench/unet_speed.py [--spleeter-python /tmp/tfspl/bin/python] [--threads 2]
        [--rounds 2] [--memory] [--gpu]

On a 20 s clip and a 3 min 30 s song (stereo 44.1 kHz, synthetic voice over a band: speed does
not depend on what is sung), it runs, in turn and `rounds` times each, our whole command
(`separate --postprocess default` and `--postprocess none`) and TF Spleeter's whole process
(bench/spleeter_reference.py in its side environment: import, model load, separation, writing),
each limited to `threads` CPU cores, and prints the median wall seconds and the ratios ours/TF.
--memory separates a 10-minute stereo 44.1 kHz song in a fresh process and prints its peak
resident memory. --gpu times a 30 s clip on the GPU with the model loaded (when there is one).
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: idle threads sleep on shared cores

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vocalsep.demo import synthesise  # noqa: E402


def song(seconds, sr=44100):
    """A synthetic stereo song of the given length (a 30 s demo song repeated)."""
    mix, _ = synthesise(7, sr, min(seconds, 30.0))
    reps = int(np.ceil(seconds / 30.0))
    return np.concatenate([mix] * reps)[: int(seconds * sr)]


def run(cmd, threads):
    """Wall seconds and peak RSS (MB) of a whole command on `threads` cores (taskset)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    cores = ",".join(str(c) for c in range(threads))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(["taskset", "-c", cores, *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def ours(path, out, postprocess):
    return [sys.executable, "-m", "vocalsep", "separate", str(path), "-o", str(out), "--force", "-q",
            "--device", "cpu", "--postprocess", postprocess]


def gpu_timing(seconds=30.0, repeats=5):
    import torch

    from vocalsep.unet.separate import Separator

    if not torch.cuda.is_available():
        return "no CUDA device here"
    sep = Separator(device="cuda")
    clip = song(seconds)
    sep.separate(clip, 44100)
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        sep.separate(clip, 44100)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return f"{seconds:.0f} s clip on {torch.cuda.get_device_name()}: median {statistics.median(times) * 1000:.0f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spleeter-python", default="/tmp/tfspl/bin/python")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--gpu", action="store_true")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="unet_speed_"))
    if args.gpu:
        print(gpu_timing())
        return
    if args.memory:
        path = work / "ten_minutes.wav"
        sf.write(path, song(600.0), 44100)
        wall, peak = run(ours(path, work / "out", "default"), args.threads)
        print(f"10-minute stereo 44.1 kHz song: {wall:.1f} s, peak memory {peak:.0f} MB (bar: < 4096 MB)")
        return
    reference = REPO / "bench" / "spleeter_reference.py"
    have_tf = Path(args.spleeter_python).exists()
    print(f"{args.threads} CPU core(s); each figure the median of {args.rounds} whole-process run(s), taken in turn")
    for label, seconds in (("20 s clip", 20.0), ("3 min 30 s song", 210.0)):
        path = work / f"{int(seconds)}s.wav"
        sf.write(path, song(seconds), 44100)
        times = {"ours (default)": [], "ours (none)": [], "TF Spleeter": []}
        for _ in range(args.rounds):
            times["ours (default)"].append(run(ours(path, work / "o", "default"), args.threads)[0])
            times["ours (none)"].append(run(ours(path, work / "o", "none"), args.threads)[0])
            if have_tf:
                times["TF Spleeter"].append(run([args.spleeter_python, str(reference), str(path), "-o",
                                                 str(work / "tf")], args.threads)[0])
        med = {k: statistics.median(v) for k, v in times.items() if v}
        line = ", ".join(f"{k} {v:.1f} s" for k, v in med.items())
        if "TF Spleeter" in med:
            line += "; ratios ours/TF: " + ", ".join(
                f"{k} {med[k] / med['TF Spleeter']:.2f}" for k in med if k != "TF Spleeter")
        else:
            line += f" (no TF Spleeter at {args.spleeter_python}: see bench/spleeter_reference.py)"
        print(f"{label}: {line}", flush=True)


if __name__ == "__main__":
    main()
