"""`--postprocess none` is TensorFlow Spleeter's computation: the same vocals, to >= 40 dB SDR.

The reference was made once by TensorFlow Spleeter in a side environment
(bench/spleeter_reference.py; tests/fixtures/spleeter/README.md says how and from what).
"""

from pathlib import Path

import numpy as np
import soundfile as sf

from vocalsep.unet.separate import Separator

FIXTURES = Path(__file__).parent / "fixtures" / "spleeter"


def sdr(reference, estimate):
    return 10 * np.log10(np.sum(reference.astype(np.float64) ** 2)
                         / np.sum((reference.astype(np.float64) - estimate) ** 2))


def test_postprocess_none_gives_tensorflow_spleeters_vocals():
    mix, sr = sf.read(FIXTURES / "nunc_dimittis_195s.flac", dtype="float32")
    reference, ref_sr = sf.read(FIXTURES / "nunc_dimittis_195s.tf_vocals.flac", dtype="float32")
    assert sr == ref_sr == 44100 and mix.shape == reference.shape and mix.shape[1] == 2
    vocal, accompaniment = Separator(postprocess="none", device="cpu").separate(mix, sr)
    assert vocal.shape == mix.shape
    for c in range(2):
        assert sdr(reference[:, c], vocal[:, c]) >= 40.0
    # the vocal is not trivially the mix or silence: Spleeter took a real part of the music out
    assert 0.01 < np.sum(vocal ** 2) / np.sum(mix ** 2) < 0.9
    # the first and second 512-frame segments both match (the boundary falls at 11.9 s)
    boundary = 512 * 1024 - 4096
    for part in (slice(0, boundary), slice(boundary, None)):
        assert sdr(reference[part], vocal[part]) >= 40.0
