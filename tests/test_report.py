"""The per-song job's outputs and the report that gathers every branch's metrics.json."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch

from vocalsep.audio import resample, to_mono, write_wav
from vocalsep.baselines import METHODS
from vocalsep.demo import synthesise
from vocalsep.errors import InputError
from vocalsep.evaluate import score, write_metrics
from vocalsep.matching.settings import MatchSettings
from vocalsep.matching.song import MATCHING, MATCHING_MAGNITUDE, output_paths, separate_song
from vocalsep.report import SCORE_COLUMNS, gather, write_report

SR = 22050


@pytest.fixture(scope="module")
def song_dir(tmp_path_factory):
    """One paired song separated by the real per-song job (few iterations, a few views)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("song")
    mix, vocal = synthesise(5, 44100, 2.0)
    mix, vocal = (resample(to_mono(x), 44100, SR) for x in (mix, vocal))
    write_wav(root / "mix.wav", mix, SR)
    write_wav(root / "vocal.wav", vocal, SR)
    settings = MatchSettings(iterations=4, loss_views=(0, 9, 18))
    outputs = output_paths(root / "out")
    separate_song(root / "mix.wav", root / "vocal.wav", outputs, "ça va", "100-window", settings)
    return root, outputs, mix, vocal


def test_the_song_job_writes_every_output(song_dir):
    root, outputs, mix, vocal = song_dir
    for path in outputs.values():
        assert path.exists() and path.stat().st_size > 0, path
    data = json.loads(outputs["metrics"].read_text())
    assert data["song"] == "ça va" and data["mode"] == "100-window"
    assert set(data["methods"]) == {MATCHING, MATCHING_MAGNITUDE, *METHODS}
    for method in data["methods"].values():
        assert set(method) == {"vocals", "accompaniment"}
    import soundfile as sf

    est, sr = sf.read(outputs["vocal"])
    acc, _ = sf.read(outputs["accompaniment"])
    assert sr == SR and np.allclose(est + acc, mix, atol=1e-5)
    # the vocal is rendered with the Wiener filter of both matched masks, scored beside the mask itself
    methods = data["methods"]
    assert methods[MATCHING]["vocals"]["SDR"] != methods[MATCHING_MAGNITUDE]["vocals"]["SDR"]
    assert data["settings"]["render"] == "two_source"
    assert "not a separation quality" in data["fingerprint_loss"]["note"]


def test_with_threads_the_baselines_run_beside_the_matching_with_the_same_numbers(song_dir, tmp_path, caplog):
    """A whole song's job has threads: the baselines are made and scored on a thread of their own
    (sharing the BSS Eval references with the matching's scores) and the outputs do not change."""
    root, outputs, mix, vocal = song_dir
    threaded = output_paths(tmp_path / "out")
    torch.set_num_threads(2)
    try:
        with caplog.at_level(logging.INFO, logger="vocalsep.matching.song"):
            separate_song(root / "mix.wav", root / "vocal.wav", threaded, "ça va", "100-window",
                          MatchSettings(iterations=4, loss_views=(0, 9, 18)))
    finally:
        torch.set_num_threads(1)
    beside = [r for r in caplog.records if r.getMessage().startswith("baselines and their scores")]
    assert len(beside) == 1 and beside[0].threadName.startswith("baselines")
    serial = json.loads(outputs["metrics"].read_text())["methods"]
    methods = json.loads(threaded["metrics"].read_text())["methods"]
    assert list(methods) == list(serial) and methods == serial
    import soundfile as sf

    for key in ("vocal", "accompaniment"):  # the matching's own threads may round differently
        np.testing.assert_allclose(sf.read(threaded[key])[0], sf.read(outputs[key])[0], rtol=0, atol=1e-6)


def test_the_report_has_one_row_per_song_mode_and_method(song_dir, tmp_path):
    root, outputs, mix, vocal = song_dir
    other = tmp_path / "unet" / "metrics.json"  # another branch, with a method name that clashes
    s = score(vocal, mix - vocal, 0.9 * vocal, mix - 0.9 * vocal, SR)
    write_metrics(other, "ça va", "100-window", {"unet": s, "mixture": s})
    table = write_report([(outputs["metrics"], "fingerprint"), (other, "unet")], tmp_path / "r" / "metrics.csv",
                         tmp_path / "r" / "summary.png")
    assert (tmp_path / "r" / "summary.png").stat().st_size > 1000
    csv = pd.read_csv(tmp_path / "r" / "metrics.csv")
    assert len(csv) == len(table) == 2 + len(METHODS) + 2
    assert not csv.duplicated(["song", "mode", "method"]).any()
    assert {MATCHING, MATCHING_MAGNITUDE, "IRM2", "IRM1", "IBM", "REPET-SIM", "unet", "mixture (fingerprint)",
            "mixture (unet)"} == set(csv["method"])
    assert set(SCORE_COLUMNS) <= set(csv.columns)
    assert csv[SCORE_COLUMNS].notna().all().all()
    reduction = csv.set_index("method")["fingerprint_loss_reduction"]
    assert reduction.notna().sum() == 1 and np.isfinite(reduction[MATCHING])
    sdr = csv.set_index("method")["vocals_SDR"]
    assert sdr["IRM2"] > sdr["mixture (fingerprint)"]


def test_a_broken_metrics_file_is_named_in_the_error(tmp_path):
    bad = tmp_path / "metrics.json"
    bad.write_text('{"song": "x"}')
    with pytest.raises(InputError, match="metrics.json"):
        gather([bad])
    bad.write_text("not json")
    with pytest.raises(InputError, match="not a readable metrics file"):
        gather([bad])


def test_the_command_line_writes_a_report_and_a_fingerprint(song_dir, tmp_path):
    import subprocess
    import sys

    root, outputs, mix, vocal = song_dir
    run = subprocess.run([sys.executable, "-m", "vocalsep", "report", str(outputs["metrics"]), "-o",
                          str(tmp_path / "rep")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert len(pd.read_csv(tmp_path / "rep" / "metrics.csv")) == 2 + len(METHODS)
    write_wav(tmp_path / "short.wav", vocal[: SR // 2], SR)
    run = subprocess.run([sys.executable, "-m", "vocalsep", "fingerprint", str(tmp_path / "short.wav"), "-o",
                          str(tmp_path / "fp")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert len(list((tmp_path / "fp").rglob("slice_*.npy"))) == 57
    run = subprocess.run([sys.executable, "-m", "vocalsep", "match", str(tmp_path / "short.wav"),
                          str(tmp_path / "missing.wav"), "-o", str(tmp_path / "m")], capture_output=True, text=True)
    assert run.returncode == 2 and "missing.wav" in run.stderr and "Traceback" not in run.stderr


def test_a_whole_song_plays_in_the_listening_page(tmp_path):
    """A 3:30 song's audio goes inline whole: one Vorbis write of it crashed the job (SIGSEGV)."""
    import base64
    import io

    import soundfile as sf

    from vocalsep.report_pages import audio_data_uri

    seconds = 210
    t = np.arange(seconds * SR) / SR
    signal = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2).astype(np.float32)
    write_wav(tmp_path / "song.wav", signal, SR)
    uri = audio_data_uri(tmp_path / "song.wav")
    assert uri.startswith("data:audio/ogg;base64,")
    decoded, sr = sf.read(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), dtype="float32")
    assert sr == SR and abs(len(decoded) - len(signal)) < SR // 10
    middle = slice(len(signal) // 2, len(signal) // 2 + SR)
    assert np.corrcoef(decoded[middle], signal[middle])[0, 1] > 0.99


def test_the_listening_page_and_the_scores_import_no_heavy_package():
    """report_listen and unet_metrics run once per song: pandas, torch, matplotlib or museval imported
    there would be start-up time paid by every song for nothing."""
    import subprocess
    import sys

    code = ("import sys; import vocalsep.report_pages, vocalsep.unet.evaluate, vocalsep.evaluate, vocalsep.bsseval; "
            "print(sorted(m for m in ('pandas', 'torch', 'matplotlib', 'museval', 'librosa') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_listening_page_encodes_its_clips_on_threads_as_one_at_a_time(tmp_path):
    """Every player of a page made on two threads plays the audio of one made on one, in order."""
    import base64
    import io
    import re

    import soundfile as sf

    from vocalsep.report_pages import write_listen_page

    t = np.arange(2 * SR) / SR
    clips = []
    for k in range(4):
        write_wav(tmp_path / f"c{k}.wav", (0.2 * np.sin(2 * np.pi * 110 * (k + 1) * t)).astype(np.float32), SR)
        clips.append((f"clip {k}", tmp_path / f"c{k}.wav"))
    pages = []
    for threads in (1, 2):
        write_listen_page(tmp_path / f"page{threads}.html", "song", "no-limit", clips, threads=threads)
        html = (tmp_path / f"page{threads}.html").read_text()
        pages.append([sf.read(io.BytesIO(base64.b64decode(b64)), dtype="float32")[0]
                      for b64 in re.findall(r'src="data:audio/ogg;base64,([^"]+)"', html)])
    assert len(pages[0]) == len(pages[1]) == 4
    for one, two in zip(*pages):
        np.testing.assert_array_equal(one, two)  # Ogg's stream serials differ; the audio does not
    assert not np.array_equal(pages[1][0], pages[1][1])  # and each player has its own clip
