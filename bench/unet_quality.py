"""Benchmark: the vocal U-Net's post-processing settings against TensorFlow Spleeter, side by side.

Measures the separation quality (BSS Eval v4 as museval computes it, 1 s windows, median over
windows; SI-SDR over the whole signal; `vocalsep.evaluate.score`) of Deezer's pretrained 2-stem
Spleeter run two ways on the same inputs in one run:

* TF Spleeter itself (`bench/spleeter_reference.py`, run in its side virtual environment), the
  reference;
* our PyTorch port (`vocalsep.unet.separate.Separator`) under each named `Postprocess` setting of
  SETTINGS below ("none" is Spleeter's own computation and must score like TF: the sanity check).

Data:

* real pairs: <pairs>/<split>/<track>/{mixture,vocals}.wav, mono (the open corpus: real speech
  over real music, accompaniment = mixture - vocals), default the 52 held-out test pairs;
* with --demo, the demo songs (`vocalsep.demo.synthesise`, synthetic sung-like voice over a
  synthetic band, stereo 44.1 kHz, exact stems), reported as a separate data set.

Both systems see the same input: the pair's mixture resampled with soxr (`vocalsep.audio.resample`)
to 44.1 kHz, mono duplicated to two channels, written as a float WAV for TF; ours gets the same
two-channel signal at the pair's rate and resamples it with the same soxr. TF's outputs are
brought back to the pair's rate (soxr) and to mono (channel mean) before scoring, as are ours.

Prints, per data set and setting, the median vocal SDR, SIR, SAR and SI-SDR, the median of the
per-pair differences to TF Spleeter's vocal SDR, the difference of the medians, the accompaniment's
median SDR and its per-pair difference to TF, and how close the vocal waveform is to TF's (SDR of
ours against TF's vocal; tens of dB means "the same computation"). -o writes every pair's numbers
as CSV. Not a test: it asserts nothing.

    .venv/bin/python bench/unet_quality.py [--pairs results/corpus] [--split test] [--every 1]
        [--limit N] [--settings none,22k,...] [--demo] [--spleeter-python /tmp/tfspl/bin/python] [-o OUT]
"""

import argparse
import csv
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: idle threads sleep on shared cores

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from tqdm import tqdm  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vocalsep.audio import resample  # noqa: E402
from vocalsep.demo import synthesise  # noqa: E402
from vocalsep.evaluate import score  # noqa: E402
from vocalsep.unet.separate import POSTPROCESS, Postprocess, Separator  # noqa: E402

TF = "tf-spleeter"
SPLEETER_RATE = 44100

# The candidate settings. "none" is TF Spleeter's computation; the others change one thing at a
# time from it or from "22k-ov128" (the 22.05 kHz grid with 128 cross-faded frames).
SETTINGS = {
    "none": POSTPROCESS["none"],
    "22k": Postprocess(grid="22k"),
    "44k-ov64": Postprocess(overlap=64),
    "44k-ov128": Postprocess(overlap=128),
    "44k-ov256": Postprocess(overlap=256),
    "22k-ov128": Postprocess(grid="22k", overlap=128),
    "22k-ov128-exp1": Postprocess(grid="22k", overlap=128, exponent=1.0),
    "22k-ov128-exp1.5": Postprocess(grid="22k", overlap=128, exponent=1.5),
    "22k-ov128-exp3": Postprocess(grid="22k", overlap=128, exponent=3.0),
    "44k-res": Postprocess(residual=True),
    "22k-ov128-res": Postprocess(grid="22k", overlap=128, residual=True),
    "44k-wiener1": Postprocess(wiener=1),
    "22k-ov128-wiener1": Postprocess(grid="22k", overlap=128, wiener=1),
    "default": POSTPROCESS["default"],
    # combinations added after the first run (26 pairs): 44k-ov256 had the best median on the
    # real pairs and exponent 1.5 the best per-pair difference; 22k is the same as 44k there
    "22k-ov256": Postprocess(grid="22k", overlap=256),
    "22k-ov256-exp1.5": Postprocess(grid="22k", overlap=256, exponent=1.5),
    "22k-ov384-exp1.5": Postprocess(grid="22k", overlap=384, exponent=1.5),
}

METRICS = ("SDR", "SIR", "SAR", "SI-SDR")


def real_pairs(folder, split, every, limit):
    """[(name, mixture (samples, 2), vocal ref, accompaniment ref, sr)] of the corpus' pairs (mono)."""
    tracks = sorted(p for p in (Path(folder) / split).glob("*") if (p / "vocals.wav").is_file())
    if not tracks:
        raise SystemExit(f"{folder}/{split}: no <track>/mixture.wav + vocals.wav here "
                         "(build the open corpus: python -m vocalsep unet-corpus -o results/corpus)")
    tracks = tracks[::every][:limit]
    items = []
    for track in tracks:
        mix, sr = sf.read(str(track / "mixture.wav"), dtype="float32")
        vocal, sr_v = sf.read(str(track / "vocals.wav"), dtype="float32")
        if mix.ndim != 1 or vocal.ndim != 1 or sr != sr_v or len(mix) != len(vocal):
            raise SystemExit(f"{track}: expected mono mixture and vocals of the same rate and length")
        items.append((track.name, np.stack([mix, mix], axis=1), vocal, mix - vocal, sr))
    return items


def demo_songs(count):
    """The demo songs as the demo rule makes them (config.yaml's seed, rate, length), aligned:
    stereo mixture, mono references (channel means)."""
    demo = yaml.safe_load((REPO / "config.yaml").read_text())["demo"]
    sr = demo["sample_rate"]
    items = []
    for i in range(count):
        mix, vocal = synthesise(demo["seed"] + 7919 * i, sr, demo["no_limit_seconds"])
        items.append((f"demo-{i + 1:02d}", mix, vocal.mean(axis=1), (mix - vocal).mean(axis=1), sr))
    return items


def fit(x, n):
    """x cut or zero-padded to n samples."""
    return x[:n] if len(x) >= n else np.concatenate([x, np.zeros(n - len(x), x.dtype)])


def run_tf_spleeter(python, items, workdir):
    """{name: (vocal, accompaniment)} mono at each item's rate, from TF Spleeter in its own venv."""
    inputs = Path(workdir) / "in"
    outputs = Path(workdir) / "out"
    inputs.mkdir()
    paths = []
    for name, mix, _, _, sr in items:
        path = inputs / f"{name}.wav"
        sf.write(str(path), resample(mix, sr, SPLEETER_RATE), SPLEETER_RATE, subtype="FLOAT")
        paths.append(str(path))
    log_path = Path(workdir) / "spleeter.log"
    command = [python, str(REPO / "bench" / "spleeter_reference.py"), *paths, "-o", str(outputs)]
    with open(log_path, "w") as log, tqdm(total=len(items), desc=TF, unit="pair") as bar:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        for line in proc.stdout:
            if line.startswith(str(inputs)):
                bar.update(1)
        proc.wait()
    if proc.returncode:
        tail = log_path.read_text().splitlines()[-20:]
        raise SystemExit(f"TF Spleeter failed (exit {proc.returncode}):\n" + "\n".join(tail))
    result = {}
    for name, mix, _, _, sr in items:
        pair = []
        for stem in ("vocals", "accompaniment"):
            wave, rate = sf.read(str(outputs / name / f"{stem}.flac"), dtype="float32")
            pair.append(fit(resample(wave.mean(axis=1), rate, sr), len(mix)))
        result[name] = tuple(pair)
    return result


def closeness(reference, estimate):
    """SDR in dB of estimate against reference (plain energy ratio, no projection)."""
    error = np.sum((np.asarray(reference, np.float64) - estimate) ** 2)
    return float(10 * np.log10(np.sum(np.asarray(reference, np.float64) ** 2) / max(error, 1e-30)))


def median(values):
    values = [v for v in values if math.isfinite(v)]
    return float(np.median(values)) if values else float("nan")


def measure(items, settings, spleeter_python, threads):
    """Rows (one per item and method) of scores; TF Spleeter's row is the first of every item."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="unet_quality.") as workdir:
        tf = run_tf_spleeter(spleeter_python, items, workdir)
    for name, _, vocal_ref, accomp_ref, sr in tqdm(items, desc=f"score {TF}", unit="pair"):
        result = score(vocal_ref, accomp_ref, *tf[name], sr)
        rows.append({"pair": name, "method": TF, "result": result, "vs_tf": float("inf")})
    torch.set_num_threads(threads)
    for method in settings:
        sep = Separator(model=None, postprocess=SETTINGS[method], device="cpu")  # loaded once per setting
        for name, mix, vocal_ref, accomp_ref, sr in tqdm(items, desc=method, unit="pair"):
            # a (samples, 2) pair, channel mean after: what Spleeter does with mono input
            vocal, accomp = sep.separate(mix, sr)
            vocal, accomp = vocal.mean(axis=1), accomp.mean(axis=1)
            result = score(vocal_ref, accomp_ref, vocal, accomp, sr)
            rows.append({"pair": name, "method": method, "result": result,
                         "vs_tf": closeness(tf[name][0], vocal)})
    return rows


def table(title, rows, methods):
    """Print one data set's medians per method, and return them."""
    tf_sdr = {r["pair"]: r["result"] for r in rows if r["method"] == TF}
    pairs = len(tf_sdr)
    print(f"\n{title}: {pairs} pair(s); vocal metrics in dB (median over pairs), "
          "d = ours - TF Spleeter (median of per-pair differences), dmed = difference of medians")
    header = (f"{'method':20s}" + "".join(f"{'voc ' + m:>12s}" for m in METRICS)
              + f"{'d SDR':>8s}{'dmed SDR':>10s}{'acc SDR':>9s}{'d acc':>8s}{'vs TF':>8s}")
    print(header)
    print("-" * len(header))
    tf_median = median(r["vocals"]["SDR"] for r in tf_sdr.values())
    tf_acc_median = median(r["accompaniment"]["SDR"] for r in tf_sdr.values())
    summary = {}
    for method in [TF, *methods]:
        mine = [r for r in rows if r["method"] == method]
        voc = {m: median(r["result"]["vocals"][m] for r in mine) for m in METRICS}
        acc = median(r["result"]["accompaniment"]["SDR"] for r in mine)
        d = median(r["result"]["vocals"]["SDR"] - tf_sdr[r["pair"]]["vocals"]["SDR"] for r in mine)
        d_acc = median(r["result"]["accompaniment"]["SDR"] - tf_sdr[r["pair"]]["accompaniment"]["SDR"]
                       for r in mine)
        vs_tf = median(r["vs_tf"] for r in mine) if method != TF else float("nan")
        summary[method] = {"voc": voc, "d": d, "dmed": voc["SDR"] - tf_median, "acc": acc, "d_acc": d_acc}
        print(f"{method:20s}" + "".join(f"{voc[m]:12.2f}" for m in METRICS)
              + f"{d:+8.2f}{voc['SDR'] - tf_median:+10.2f}{acc:9.2f}{d_acc:+8.2f}"
              + (f"{vs_tf:8.1f}" if method != TF else f"{'':8s}"))
    if "none" in methods:
        gaps = [r["result"]["vocals"]["SDR"] - tf_sdr[r["pair"]]["vocals"]["SDR"]
                for r in rows if r["method"] == "none"]
        agree = [r["vs_tf"] for r in rows if r["method"] == "none"]
        print(f"sanity check 'none' vs TF Spleeter: vocal SDR gap median {median(gaps):+.3f} dB, "
              f"largest |gap| {max(abs(g) for g in gaps):.3f} dB; waveform agreement with TF's vocal "
              f"median {median(agree):.1f} dB, lowest {min(agree):.1f} dB "
              f"(accompaniment median SDR {tf_acc_median:.2f} dB for TF)")
    return summary


def write_csv(path, datasets):
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    out = path / "unet_quality.csv"
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["dataset", "pair", "method", "settings"]
                        + [f"vocals {m}" for m in METRICS] + [f"accompaniment {m}" for m in METRICS]
                        + ["vocal SDR - TF", "vocal vs TF (dB)"])
        for dataset, rows in datasets:
            tf = {r["pair"]: r["result"]["vocals"]["SDR"] for r in rows if r["method"] == TF}
            for r in rows:
                settings = "" if r["method"] == TF else str(asdict(SETTINGS[r["method"]]))
                writer.writerow([dataset, r["pair"], r["method"], settings]
                                + [f"{r['result'][s][m]:.4f}" for s in ("vocals", "accompaniment") for m in METRICS]
                                + [f"{r['result']['vocals']['SDR'] - tf[r['pair']]:.4f}", f"{r['vs_tf']:.2f}"])
    print(f"\nper-pair numbers: {out}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default=str(REPO / "results" / "corpus"),
                        help="folder with <split>/<track>/mixture.wav and vocals.wav (mono)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--every", type=int, default=1, help="every n-th pair (sorted by name)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many pairs (after --every)")
    parser.add_argument("--spleeter-python", default="/tmp/tfspl/bin/python",
                        help="python of the side venv with TF Spleeter (see bench/spleeter_reference.py)")
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma-separated setting names, of: {', '.join(SETTINGS)}")
    parser.add_argument("--demo", action="store_true", help="also the demo songs (synthetic singing)")
    parser.add_argument("--demo-songs", type=int, default=None,
                        help="how many demo songs (default: config.yaml's demo.songs)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for our separator")
    parser.add_argument("-o", "--output", default=None, help="folder for the per-pair CSV")
    args = parser.parse_args(argv)

    methods = [m.strip() for m in args.settings.split(",") if m.strip()]
    unknown = [m for m in methods if m not in SETTINGS]
    if unknown:
        raise SystemExit(f"unknown setting(s) {', '.join(unknown)}; choose from {', '.join(SETTINGS)}")
    if not Path(args.spleeter_python).is_file():
        raise SystemExit(f"{args.spleeter_python}: no TF Spleeter python (see bench/spleeter_reference.py)")

    t0 = time.perf_counter()
    datasets = [(f"real pairs ({args.pairs}/{args.split}, speech over music)",
                 real_pairs(args.pairs, args.split, args.every, args.limit))]
    if args.demo:
        count = args.demo_songs or yaml.safe_load((REPO / "config.yaml").read_text())["demo"]["songs"]
        datasets.append(("demo, synthetic singing (vocalsep.demo, stereo 44.1 kHz)", demo_songs(count)))
    print("settings:")
    for method in methods:
        print(f"  {method:20s} {asdict(SETTINGS[method])}")
    results = []
    for title, items in datasets:
        print(f"{title}: {len(items)} pairs", file=sys.stderr)
        results.append((title, measure(items, methods, args.spleeter_python, args.threads)))
    for title, rows in results:
        table(title, rows, methods)
    if args.output:
        write_csv(args.output, results)
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
