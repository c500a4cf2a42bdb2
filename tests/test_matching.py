"""Fingerprint matching, the baselines and the scores on real (synthesised) pairs."""

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO
from vocalsep.audio import resample, to_mono
from vocalsep.baselines import METHODS, baselines, oracle_masks
from vocalsep.demo import synthesise
from vocalsep.errors import InputError
from vocalsep.evaluate import score
from vocalsep.fingerprint.cache import write_fingerprint
from vocalsep.fingerprint.cache_reader import CachedFingerprint
from vocalsep.matching.adam import CosineAdam
from vocalsep.matching.history import loss_reduction
from vocalsep.matching.loss import FingerprintLoss, reference_metrics
from vocalsep.matching.optimise import chunks, match, optimise_mask
from vocalsep.matching.plan import ViewPlan
from vocalsep.matching.polish import polish
from vocalsep.matching.profiles import match_profiles, signal_profiles, view0_profiles
from vocalsep.matching.refine import power_ratio, refine, refine_hop, render_refined
from vocalsep.matching.render import render_gain
from vocalsep.matching.settings import MatchSettings
from vocalsep.parallel import Workers
from vocalsep.stft import istft, stft

SR = 22050


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pair(seconds, seed=0):
    """A demo-like pair at 22050 Hz: sung voice (glottal pulses, formants, consonants) + band."""
    mix, vocal = synthesise(seed, 44100, seconds)
    mix, vocal = (resample(to_mono(x), 44100, SR) for x in (mix, vocal))
    return mix, vocal


def test_the_loss_is_zero_at_the_reference_and_positive_for_the_mix():
    mix, vocal = pair(1.2)
    loss = FingerprintLoss(torch.from_numpy(vocal), SR, MatchSettings(other_views_weight=1.0))
    at_ref, per_view = loss(torch.from_numpy(vocal))
    at_mix, per_view_mix = loss(torch.from_numpy(mix))
    assert float(at_ref) == pytest.approx(0.0, abs=1e-6)
    assert per_view.shape == (3, 19) and torch.isfinite(per_view_mix).all()
    assert float(at_mix) > 0.1 and (per_view_mix > 0).all()


def test_block_by_block_gives_the_values_and_gradient_of_the_whole(monkeypatch):
    import vocalsep.fingerprint.fingerprint as fpmod

    mix, vocal = pair(1.5, seed=2)
    settings = MatchSettings(other_views_weight=1.0)
    views = [0, 5, 9, 16, 17, 18]

    def evaluate():
        loss = FingerprintLoss(torch.from_numpy(vocal), SR, settings)
        x = torch.from_numpy(mix).clone().requires_grad_(True)
        total, per_view = loss(x, views, backward=True)
        return loss.targets[512][0].target, total, per_view, x.grad

    monkeypatch.setattr(fpmod, "MAX_BLOCK_WINDOWS", 1 << 20)
    monkeypatch.setattr(fpmod, "BLOCK_CELLS", 1 << 30)  # one block: the whole spectrogram at once
    whole = evaluate()
    monkeypatch.setattr(fpmod, "BLOCK_CELLS", 8 * 257)  # blocks of 8 windows at n_fft 512 (130 windows)
    blocks = evaluate()
    torch.testing.assert_close(blocks[0], whole[0], rtol=1e-4, atol=1e-5)  # the vocal's reference metrics
    torch.testing.assert_close(blocks[1], whole[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(blocks[2], whole[2], rtol=1e-5, atol=1e-6, equal_nan=True)
    torch.testing.assert_close(blocks[3], whole[3], rtol=1e-4, atol=1e-6 * float(whole[3].abs().max()))
    assert float(whole[3].abs().max()) > 0


def test_the_mask_stays_in_0_1_and_the_loss_goes_down():
    mix, vocal = pair(1.2, seed=1)
    # Adam alone (no profile matching first) lowers the loss over the chosen views
    settings = MatchSettings(profile_iterations=0, iterations=25, learning_rate=0.2, loss_views=(0, 5, 12, 17),
                             views_per_step=0)
    mask, history = optimise_mask(torch.from_numpy(mix), torch.from_numpy(vocal), SR, settings)
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert mask.shape == tuple(stft(torch.from_numpy(mix), settings.mask_n_fft, settings.mask_hop).shape)
    assert history["final"] < 0.7 * history["initial"]
    assert history["per_view"].shape == (25, 3, 19)
    assert np.isnan(history["per_view"][:, :, 1]).all() and not np.isnan(history["per_view"][:, :, 5]).any()
    assert 0 < loss_reduction(history) < 1


def test_profile_matching_alone_pulls_the_profiles_together_and_separates():
    mix, vocal = pair(3.0, seed=6)
    settings = MatchSettings(profile_iterations=12, iterations=0)
    est, mask, history = match(mix, vocal, SR, settings)
    distances = history["profile"]
    assert len(distances) == 12 and distances[-1] < 0.3 * distances[0]
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert history["total"].shape == (0,) and history["per_view"].shape == (0, 3, 19)
    assert history["final"] < 0.5 * history["initial"]  # the whole loss falls too, though not optimised
    acc = mix - vocal
    got = score(vocal, acc, est, mix - est, SR)["vocals"]["SDR"]
    floor = score(vocal, acc, mix, mix, SR)["vocals"]["SDR"]
    assert got > floor + 10


def test_drawn_views_estimate_the_weighted_loss_and_monitoring_sees_them_all():
    mix, vocal = pair(1.0, seed=5)
    settings = MatchSettings(iterations=10, views_per_step=1, monitor_every=4)
    mask, history = optimise_mask(torch.from_numpy(mix), torch.from_numpy(vocal), SR, settings)
    seen = ~np.isnan(history["per_view"][:, 0, :])  # (iterations, views) at the first scale
    assert seen[:, 0].all()  # slice 0 at every step
    monitored = [3, 7]
    assert seen[monitored].all()
    others = np.delete(np.arange(10), monitored)
    assert (seen[others, 1:].sum(axis=1) == 1).all()  # exactly one other view drawn per step
    assert len({int(np.flatnonzero(row[1:])[0]) for row in seen[others]}) > 1
    # both ends on the same views: slice 0 and check_views (3) others drawn once
    ends = ~np.isnan(history["final_per_view"][0])
    assert (ends == ~np.isnan(history["initial_per_view"][0])).all()
    assert ends[0] and ends[1:].sum() == settings.check_views == 3
    # the weighted total of those views: slice 0 weight 1, the mean of the others 0.25
    pv = history["final_per_view"]
    expected = (pv[:, 0].mean() + 0.25 * pv[:, 1:][:, ends[1:]].mean()) / 1.25
    assert history["final"] == pytest.approx(expected, rel=1e-5)
    # and with check_views covering every view, both ends see them all
    every = MatchSettings(iterations=2, check_views=18)
    _, history = optimise_mask(torch.from_numpy(mix), torch.from_numpy(vocal), SR, every)
    assert not np.isnan(history["initial_per_view"]).any() and not np.isnan(history["final_per_view"]).any()


def test_matching_beats_the_mixture_floor_by_a_wide_margin():
    mix, vocal = pair(3.0, seed=2)
    settings = MatchSettings(iterations=20, learning_rate=0.2, loss_views=(0,),
                             group_weights={"profile": 1.0, "bands": 0.2, "shape": 0.2, "harmonic": 0.2,
                                            "formant": 0.2, "dynamics": 0.2})
    est, mask, history = match(mix, vocal, SR, settings)
    acc = mix - vocal
    got = score(vocal, acc, est, mix - est, SR)["vocals"]
    floor = score(vocal, acc, mix, mix, SR)["vocals"]
    assert got["SDR"] > floor["SDR"] + 10 and got["SI-SDR"] > floor["SI-SDR"] + 10


def test_chunks_cover_the_song_once_with_context_and_the_mask_joins():
    settings = MatchSettings(chunk_seconds=1.0, context_seconds=0.2, iterations=3, loss_views=(0,))
    n = int(3.3 * SR)
    spans = chunks(n, SR, settings)
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(sa <= a and sb >= b for a, b, sa, sb in spans) and len(spans) == 3
    mix, vocal = pair(3.3, seed=3)
    est, mask, _ = match(mix, vocal, SR, settings)
    assert est.shape == mix.shape and np.isfinite(est).all()
    assert mask.shape[0] == n // settings.mask_hop + 1 and (mask > 0).all() and mask.max() <= 1.0


def test_the_oracles_and_repet_sim_beat_the_floor_and_sum_to_the_mix():
    mix, vocal = pair(4.0, seed=4)
    out = baselines(mix, vocal, SR, 1024, 256, segment_seconds=30.0)
    assert set(out) == set(METHODS)
    acc = mix - vocal
    sdr = {k: score(vocal, acc, v, a, SR)["vocals"]["SDR"] for k, (v, a) in out.items()}
    assert min(sdr["IRM2"], sdr["IRM1"], sdr["IBM"]) > sdr["mixture"] + 8
    assert sdr["REPET-SIM"] > sdr["mixture"]
    for name in ("IRM2", "IRM1", "IBM", "REPET-SIM"):
        v, a = out[name]
        np.testing.assert_allclose(v + a, mix, atol=1e-5)
    np.testing.assert_array_equal(out["mixture"][0], mix)
    X = stft(torch.from_numpy(mix), 1024, 256)
    V = stft(torch.from_numpy(vocal), 1024, 256)
    for m in oracle_masks(V, X - V).values():
        assert float(m.min()) >= 0 and float(m.max()) <= 1


def librosa_repet_sim_mask(mag, sr, hop, segment_seconds=30.0, margin=10.0, power=2.0, min_gap_seconds=2.0):
    """The librosa recipe that vocalsep.baselines.repet_sim_mask reproduces in numpy."""
    import librosa

    mag = np.asarray(mag, dtype=np.float32)
    n_win = mag.shape[0]
    seg = max(1, int(round(segment_seconds * sr / hop)))
    bounds = list(range(0, n_win, seg)) + [n_win]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < seg // 2:
        bounds.pop(-2)
    mask = np.zeros_like(mag)
    for a, b in zip(bounds[:-1], bounds[1:]):
        S = mag[a:b].T.astype(np.float64)
        width = min(int(librosa.time_to_frames(min_gap_seconds, sr=sr, hop_length=hop)), max(1, (b - a - 1) // 2 - 1))
        if b - a < 8 or not np.any(S):
            continue
        rep = librosa.decompose.nn_filter(S, aggregate=np.median, metric="cosine", width=width)
        rep = np.minimum(S, rep)
        mask[a:b] = librosa.util.softmask(S - rep, margin * rep, power=power).T
    return mask


def test_repet_sim_in_numpy_gives_librosas_mask():
    pytest.importorskip("librosa")
    import soundfile as sf

    from vocalsep.baselines import nn_median, repet_sim_mask

    choir, sr = sf.read(REPO / "tests/fixtures/spleeter/nunc_dimittis_195s.flac", dtype="float32")
    choir = resample(to_mono(choir), sr, SR)  # 13 s of a real choir recording
    cases = [(pair(4.7, seed=1)[0], 30.0), (choir, 30.0), (choir, 4.0), (choir[: 30 * 256], 30.0)]
    for signal, segment in cases:  # one segment; several with a merged last one; under 2 s (width clamped)
        mag = stft(torch.from_numpy(np.ascontiguousarray(signal)), 1024, 256).abs().numpy()
        ours = repet_sim_mask(mag, SR, 256, segment_seconds=segment)
        np.testing.assert_allclose(ours, librosa_repet_sim_mask(mag, SR, 256, segment_seconds=segment), atol=1e-5)
        assert ours.max() > 0.5 and ours.min() == 0.0
    import librosa

    S = stft(torch.from_numpy(np.ascontiguousarray(choir[: 3 * SR])), 1024, 256).abs().numpy()
    for width, k in ((5, 7), (20, None), (1, 4)):  # odd and even neighbour counts
        np.testing.assert_allclose(nn_median(S, width, k), librosa.decompose.nn_filter(
            S.T.astype(np.float64), aggregate=np.median, metric="cosine", width=width, k=k).T, rtol=1e-12)


def test_museval_agrees_with_hand_checked_cases():
    from scipy.signal import lfilter

    rng = np.random.default_rng(0)
    n = 3 * SR
    v = lfilter([1.0], [1.0, -0.9], rng.standard_normal(n))
    a = lfilter([1.0, 0.5], [1.0], rng.standard_normal(n))
    v, a = v / v.std(), a / a.std()
    # leaking a tenth of the accompaniment: interference 20 dB down, no artefacts
    leak = score(v, a, v + 0.1 * a, 0.9 * a, SR)["vocals"]
    assert leak["SIR"] == pytest.approx(20.0, abs=0.3) and leak["SDR"] == pytest.approx(20.0, abs=0.3)
    assert leak["SAR"] > 60
    # white noise 20 dB down: an artefact, not interference
    noise = rng.standard_normal(n) * 0.1
    art = score(v, a, v + noise, a - noise, SR)["vocals"]
    assert art["SAR"] == pytest.approx(20.0, abs=0.3) and art["SIR"] > 35
    assert art["SI-SDR"] == pytest.approx(20.0, abs=0.3)
    # the mixture of two equal-power sources scores 0 dB SIR
    assert score(v, a, v + a, v + a, SR)["vocals"]["SIR"] == pytest.approx(0.0, abs=0.3)


def test_settings_come_from_the_config_section():
    section = yaml.safe_load((REPO / "config.yaml").read_text())["fingerprint"]
    settings = MatchSettings.from_config(section)
    assert settings.scales == tuple(section["scales"]) and settings.iterations == section["iterations"]
    assert set(settings.group_weights) == {"profile", "bands", "shape", "harmonic", "formant", "dynamics"}
    assert math.isclose(settings.learning_rate, section["learning_rate"])


def test_config_yaml_holds_the_settings_defaults():
    """config.yaml's fingerprint section and MatchSettings' defaults are one set of values: a default
    changed in one place only (as the mask STFT once was) would run the workflow on other settings
    than the command line and the benches."""
    section = yaml.safe_load((REPO / "config.yaml").read_text())["fingerprint"]
    defaults = MatchSettings()
    differ = {}
    for field in dataclasses.fields(MatchSettings):
        if field.name in section:
            value = section[field.name]
            value = tuple(value) if isinstance(value, list) else value
            if value != getattr(defaults, field.name):
                differ[field.name] = (section[field.name], getattr(defaults, field.name))
    assert not differ, f"config.yaml vs MatchSettings defaults: {differ}"


def test_matching_reads_the_vocal_cache_as_its_target(tmp_path):
    mix, vocal = pair(1.5, seed=4)
    settings = MatchSettings(profile_iterations=3, iterations=2)
    write_fingerprint(vocal, SR, tmp_path / "vocal", settings.scales, settings.hop_fraction)
    cached = CachedFingerprint(tmp_path / "vocal", SR, settings.scales, settings.hop_fraction, len(vocal))
    got = cached.metrics(0, len(vocal), range(19))
    want = reference_metrics(torch.from_numpy(vocal), SR, settings, range(19))
    for n in settings.scales:
        for g, w in zip(got[n][:2], want[n][:2]):  # metrics of the full and the pooled views
            torch.testing.assert_close(g, w)
        for g, w in zip(got[n][2:4], want[n][2:4]):  # fundamentals and formant bins recovered from columns
            assert torch.equal(g.f0_hz, w.f0_hz) and torch.equal(g.formant_bins, w.formant_bins)
        assert (got[n][3].formant_bins >= 0).any()
    # one chunk: the same mask whether the target is read or computed
    est_a, mask_a, hist_a = match(mix, vocal, SR, settings)
    est_b, mask_b, hist_b = match(mix, vocal, SR, settings, vocal_fingerprint=tmp_path / "vocal")
    np.testing.assert_allclose(mask_b, mask_a, atol=1e-5)
    # a cache of other settings is refused with the file named
    with pytest.raises(InputError, match=r"n2048.slice_00\.json.*hop 1024 \(expected 512\)"):
        CachedFingerprint(tmp_path / "vocal", SR, settings.scales, 0.25, len(vocal))
    with pytest.raises(InputError, match="samples"):
        match(mix[:-512], vocal[:-512], SR, settings, vocal_fingerprint=tmp_path / "vocal")


def test_the_vocal_is_rendered_with_the_wiener_filter_of_both_matched_masks_unless_asked_otherwise():
    mix, vocal = pair(1.0, seed=5)
    runs = {render: match(mix, vocal, SR, MatchSettings(profile_iterations=4, iterations=0, render=render,
                                                        refine_sizes=(), refine_updates=()))
            for render in ("two_source", "wiener", "magnitude")}
    assert MatchSettings().render == "two_source"
    masks = [mask for _, mask, _ in runs.values()]
    for other in masks[1:]:  # the same matching; batched beside the accompaniment's, rounding differs
        np.testing.assert_allclose(masks[0], other, atol=1e-2)  # (most near Nyquist, where profiles are faint)
        assert np.abs(masks[0] - other).mean() < 1e-5
    m = masks[0]
    m_a = runs["two_source"][2]["accompaniment_mask"]
    assert runs["wiener"][2]["accompaniment_mask"] is None
    # the accompaniment's mask: stage 1 towards the profiles of mix minus vocal (one chunk here)
    settings = MatchSettings(profile_iterations=4)
    X = stft(torch.from_numpy(mix), settings.mask_n_fft, settings.mask_hop)
    with torch.no_grad():
        direct, _ = match_profiles(X, signal_profiles(torch.from_numpy(mix - vocal), SR, settings), SR, settings,
                                   len(mix))
    np.testing.assert_allclose(m_a, direct.numpy(), atol=1e-2)
    assert np.abs(m_a - direct.numpy()).mean() < 1e-5
    assert m_a.min() >= 0 and m_a.max() <= 1 and not np.allclose(m_a, m, atol=0.05)
    for render, (est, mask, history) in runs.items():  # each run's own mask (rounding differs slightly)
        gain = {"two_source": mask**2 / np.maximum(mask**2 + m_a**2, 1e-12), "wiener": mask**2,
                "magnitude": mask}[render]
        want = istft(torch.from_numpy(gain) * X, settings.mask_n_fft, settings.mask_hop, len(mix)).numpy()
        np.testing.assert_allclose(est, want, atol=1e-6)
        np.testing.assert_array_equal(render_gain(mask, render, history["accompaniment_mask"]), gain)
    with pytest.raises(ValueError, match="needs the accompaniment"):
        render_gain(m, "two_source")
    with pytest.raises(ValueError, match="render must be one of two_source, wiener, magnitude"):
        MatchSettings.from_config({"render": "power"})


def test_stage_3_refits_the_rendered_outputs_on_each_stft_and_averages_their_renders():
    mix, vocal = pair(1.5, seed=6)
    base = MatchSettings(profile_iterations=4, iterations=0, refine_sizes=(), refine_updates=(), polish_steps=0)
    settings = dataclasses.replace(base, refine_sizes=(2048, 4096), refine_updates=(1, 2))
    assert MatchSettings().refine_sizes == (2048, 4096) and MatchSettings().refine_updates == (1, 2)
    est0, mask0, hist0 = match(mix, vocal, SR, base)
    est, mask, hist = match(mix, vocal, SR, settings)
    assert hist0["refined"] is None and set(hist["refined"]) == {2048, 4096}
    np.testing.assert_array_equal(mask, mask0)  # stages 1 and 2 as they were
    for n, gain in hist["refined"].items():  # on each STFT's grid, in [0, 1]
        assert gain.shape == (len(mix) // refine_hop(n) + 1, n // 2 + 1)
        assert gain.min() >= 0 and gain.max() <= 1
    mix_t = torch.from_numpy(mix)
    np.testing.assert_allclose(est, render_refined(mix_t, hist["refined"]).numpy(), atol=1e-6)
    # one chunk: the same gains as refine() on the two-source gain and both sources' profiles
    vocal_targets = view0_profiles(reference_metrics(torch.from_numpy(vocal), SR, settings, [0]), settings.scales)
    acc_targets = signal_profiles(torch.from_numpy(mix - vocal), SR, settings)
    gains = refine(mix_t, render_gain(mask, "two_source", hist["accompaniment_mask"]), vocal_targets,
                   acc_targets, SR, settings)
    for n in gains:
        np.testing.assert_allclose(gains[n], hist["refined"][n], atol=1e-4)
    with ThreadPoolExecutor(2) as pool:  # the two sources' ratios measured on two threads: the same gains
        threaded = refine(mix_t, render_gain(mask, "two_source", hist["accompaniment_mask"]), vocal_targets,
                          acc_targets, SR, settings, Workers(pool, 2))
    for n in gains:
        np.testing.assert_array_equal(threaded[n], gains[n])
    # the refitted outputs are closer to the profiles than the two-source render, and separate better
    acc = mix - vocal
    got, before = (score(vocal, acc, e, mix - e, SR)["vocals"]["SDR"] for e in (est, est0))
    assert got > before
    # the second STFT starts from the first one's estimate, re-measured on its grid
    first = render_refined(mix_t, {2048: gains[2048]})
    start = power_ratio(mix_t, first, 4096)
    assert start.shape == gains[4096].shape and float(start.min()) >= 0 and float(start.max()) <= 1
    with pytest.raises(ValueError, match="as long as each other"):
        MatchSettings.from_config({"refine_sizes": [2048, 4096], "refine_updates": [1]})
    off = MatchSettings.from_config({"refine_sizes": [], "refine_updates": []})
    assert off.refine_sizes == () and match(mix, vocal, SR, dataclasses.replace(off, render="wiener",
                                            profile_iterations=2, iterations=0))[2]["refined"] is None


def test_stage_4_polishes_stage_3s_gains_on_the_fingerprint_loss_of_their_mean_render():
    mix, vocal = pair(1.5, seed=6)
    off = MatchSettings(profile_iterations=4, iterations=0, polish_steps=0)
    settings = dataclasses.replace(off, polish_steps=3)
    assert MatchSettings().polish_steps == 3 and MatchSettings().polish_views == (0, 1, 7)
    assert set(settings.polish_views) <= set(ViewPlan(settings).needed) and ViewPlan(off).polish == []
    assert ViewPlan(dataclasses.replace(settings, render="wiener")).polish == []
    est0, mask0, hist0 = match(mix, vocal, SR, off)
    est, mask, hist = match(mix, vocal, SR, settings)
    np.testing.assert_array_equal(mask, mask0)  # stages 1 to 3 as they were
    mix_t = torch.from_numpy(mix)
    np.testing.assert_allclose(est, render_refined(mix_t, hist["refined"]).numpy(), atol=1e-6)
    for n, gain in hist["refined"].items():  # the same grids, in [0, 1], moved
        assert gain.shape == hist0["refined"][n].shape and gain.min() >= 0 and gain.max() <= 1
        assert np.abs(gain - hist0["refined"][n]).max() > 0.05
    # one chunk: the same gains as polish() on stage 3's, and a lower loss on the polished views
    loss_fn = FingerprintLoss(torch.from_numpy(vocal), SR, settings, settings.polish_views)
    gains = polish(mix_t, hist0["refined"], loss_fn, settings)
    for n in gains:  # (Adam's first step is the gradient's sign: where it is ~0, rounding picks the side)
        assert np.abs(gains[n] - hist["refined"][n]).mean() < 1e-3
    np.testing.assert_allclose(render_refined(mix_t, gains).numpy(), est, atol=2e-3 * np.abs(est).max())
    with torch.no_grad():
        after, before = (float(loss_fn(torch.from_numpy(e))[0]) for e in (est, est0))
    assert after < before
    assert polish(mix_t, hist0["refined"], loss_fn, off) is hist0["refined"]
    assert MatchSettings.from_config({"polish_views": [0, 7]}).polish_views == (0, 7)


def test_the_written_out_adam_follows_torch_optim_step_for_step():
    """CosineAdam is torch.optim.Adam with CosineAnnealingLR (to 5 % of the rate), on the same
    gradients: the same parameters after every step."""
    rng = np.random.default_rng(3)
    target = torch.as_tensor(rng.standard_normal((40, 7)))
    ours = torch.as_tensor(rng.standard_normal((40, 7))).requires_grad_(True)
    theirs = ours.detach().clone().requires_grad_(True)
    start = ours.detach().clone()
    steps, lr = 8, 0.05
    mine = CosineAdam(ours, lr, steps)
    opt = torch.optim.Adam([theirs], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=0.05 * lr)
    for _ in range(steps):
        for p in (ours, theirs):
            p.grad = None
            ((p - target) ** 4).sum().backward()
        mine.step()
        opt.step()
        sched.step()
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    assert float((ours.detach() - start).abs().max()) > 0.1  # it moved: the steps were not empty
