"""Carvana branch: synthetic data, scores, bad inputs, training (real, tiny), resume, prediction."""

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from vocalsep.carvana.data import CarvanaDataset, car_of, scan_pairs, split_by_car
from vocalsep.carvana.metrics import dice_coeff, iou, mask_scores, segmentation_loss
from vocalsep.carvana.predict import evaluate, load_model, predict_folder
from vocalsep.carvana.synth import generate
from vocalsep.carvana.train import checkpoints_in, recalibrate_batchnorm, train
from vocalsep.cli import main as cli_main
from vocalsep.errors import InputError
from vocalsep.models import UNet

# A tiny but real training problem: a few cars, small images, a narrow network.
TINY = {"batch_size": 4, "learning_rate": 0.003, "scale": 1.0, "base_channels": 8, "depth": 3,
        "val_fraction": 0.2, "test_fraction": 0.2, "lr_patience": 2, "seed": 3, "device": "cpu"}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: the test machine's 2 cores are shared, and busy-waiting OpenMP
    threads slow a 2-thread run on a loaded machine many times over. Bit-identical resumes
    also need the same thread count in both runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cars(tmp_path_factory):
    """30 synthetic cars x 2 views at 64 x 48 pixels (many cars generalise better than many views)."""
    folder = tmp_path_factory.mktemp("cars")
    ids = generate(folder, cars=30, views=2, width=64, height=48, seed=7)
    return folder, ids


@pytest.fixture(scope="module")
def trained(cars, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    result = train(cars[0], out, {**TINY, "epochs": 15}, progress=False)
    return out, result


# --- scores -------------------------------------------------------------------------------------

def test_dice_and_iou_of_perfect_empty_and_half_predictions():
    target = torch.zeros(1, 8, 8)
    target[0, 2:6, 2:6] = 1
    assert float(dice_coeff(target, target)) == pytest.approx(1.0)
    assert float(iou(target, target)) == pytest.approx(1.0)
    empty = torch.zeros_like(target)
    assert float(dice_coeff(empty, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(iou(empty, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(dice_coeff(empty, empty)) == pytest.approx(1.0)  # nothing to find, nothing found
    half = target.clone()
    half[0, 2:4] = 0  # 8 of the 16 pixels
    assert float(dice_coeff(half, target)) == pytest.approx(2 * 8 / (8 + 16))
    assert float(iou(half, target)) == pytest.approx(8 / 16)
    scores = mask_scores(half[0].long(), target[0].long(), n_classes=1)
    assert scores == pytest.approx({"dice": 2 / 3, "iou": 0.5})


def test_loss_is_lowest_for_confident_correct_logits_binary_and_multiclass():
    mask = torch.zeros(2, 6, 6, dtype=torch.long)
    mask[:, 1:4, 2:5] = 1
    good = (mask.float() * 2 - 1)[:, None] * 8
    assert segmentation_loss(good, mask) < 0.01 < segmentation_loss(-good, mask)
    mask3 = mask.clone()
    mask3[:, 4:, :] = 2
    logits = torch.nn.functional.one_hot(mask3, 3).permute(0, 3, 1, 2).float() * 10
    assert segmentation_loss(logits, mask3) < 0.01 < segmentation_loss(logits.roll(1, dims=1), mask3)


# --- synthetic data -----------------------------------------------------------------------------

def test_generator_writes_matching_image_and_mask_pairs(cars):
    folder, ids = cars
    assert len(ids) == 60 and len({car_of(i) for i in ids}) == 30
    assert all(re.fullmatch(r"[0-9a-f]{12}_0[12]", i) for i in ids)
    pairs = scan_pairs(folder)
    assert [p[0] for p in pairs] == sorted(ids)
    for image_id, image_path, mask_path in pairs:
        assert image_path.name == f"{image_id}.jpg" and mask_path.name == f"{image_id}_mask.gif"
        img, mask = Image.open(image_path), np.asarray(Image.open(mask_path))
        assert img.size == (64, 48) and img.mode == "RGB" and mask.shape == (48, 64)
        assert set(np.unique(mask)) == {0, 1}  # Carvana's GIF masks: palette indices 0/1
        assert 0.03 < mask.mean() < 0.7
    # The car differs from its surroundings: mean colour inside the mask vs a ring around it.
    image_id, image_path, mask_path = pairs[0]
    pixels = np.asarray(Image.open(image_path), np.float32)
    mask = np.asarray(Image.open(mask_path)) > 0
    assert np.abs(pixels[mask].mean(0) - pixels[~mask].mean(0)).max() > 3


def test_generator_is_reproducible_and_a_larger_set_extends_a_smaller_one(tmp_path):
    a = generate(tmp_path / "a", cars=2, views=2, width=32, height=24, seed=5)
    b = generate(tmp_path / "b", cars=3, views=2, width=32, height=24, seed=5)
    assert b[:4] == a
    for i in a:
        image = f"imgs/{i}.jpg"
        assert (tmp_path / "a" / image).read_bytes() == (tmp_path / "b" / image).read_bytes()
    assert json.loads((tmp_path / "a" / "synthetic.json").read_text())["images"] == 4


def test_split_never_puts_views_of_one_car_on_two_sides(cars):
    ids = cars[1]
    train_ids, val_ids, test_ids = split_by_car(ids, 0.2, 0.2, seed=1)
    assert sorted(train_ids + val_ids + test_ids) == sorted(ids)
    sides = [{car_of(i) for i in part} for part in (train_ids, val_ids, test_ids)]
    assert all(sides) and not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert len(sides[1]) == 6 and len(sides[2]) == 6
    assert split_by_car(ids, 0.2, 0.2, seed=1) == (train_ids, val_ids, test_ids)
    with pytest.raises(ValueError, match="too few"):
        split_by_car(["a_01", "a_02"], 0.5, 0.0)


def test_scale_option_resizes_images_and_masks_cached_or_not(cars):
    pairs = scan_pairs(cars[0])[:3]
    data = CarvanaDataset(pairs, scale=0.5)
    lazy = CarvanaDataset(pairs, scale=0.5, cache_mb=0)  # a set too big for memory is decoded when used
    assert data.cached and not lazy.cached
    img, mask = data[0]
    assert img.shape == (3, 24, 32) and mask.shape == (24, 32)
    assert img.dtype == torch.float32 and 0 <= img.min() and img.max() <= 1
    assert set(mask.unique().tolist()) <= {0, 1}
    torch.testing.assert_close(lazy[0][0], img)
    torch.testing.assert_close(lazy[0][1], mask)


# --- bad input ----------------------------------------------------------------------------------

def _small_set(folder, n=2):
    generate(folder, cars=n, views=2, width=32, height=24, seed=1)
    return sorted((folder / "imgs").iterdir())


def test_an_image_without_a_mask_is_named(tmp_path):
    images = _small_set(tmp_path)
    (tmp_path / "masks" / f"{images[1].stem}_mask.gif").unlink()
    with pytest.raises(InputError, match=re.escape(images[1].name) + ".*has no mask"):
        scan_pairs(tmp_path)


def test_a_mask_of_the_wrong_size_is_named(tmp_path):
    images = _small_set(tmp_path)
    bad = tmp_path / "masks" / f"{images[0].stem}_mask.gif"
    bad.unlink()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(bad.with_suffix(".png"))  # png masks are accepted too
    with pytest.raises(InputError, match=re.escape(bad.with_suffix(".png").name) + r".*\(10, 10\) pixels"):
        scan_pairs(tmp_path)


def test_unreadable_image_and_mask_files_are_named(tmp_path):
    images = _small_set(tmp_path)
    images[0].write_bytes(b"this is not a jpeg")
    with pytest.raises(InputError, match=re.escape(images[0].name) + ".*not a readable image"):
        scan_pairs(tmp_path)
    other = tmp_path / "other"
    images = _small_set(other)
    mask = other / "masks" / f"{images[0].stem}_mask.gif"
    mask.write_bytes(mask.read_bytes()[:30])  # truncated: the header reads, the pixels do not
    with pytest.raises(InputError, match=re.escape(mask.name)):
        CarvanaDataset(scan_pairs(other))


def test_images_of_different_sizes_in_one_training_set_are_named(tmp_path):
    images = _small_set(tmp_path)
    odd = images[2]
    Image.open(odd).resize((40, 30)).save(odd)
    mask = tmp_path / "masks" / f"{odd.stem}_mask.gif"
    Image.open(mask).resize((40, 30)).save(mask)
    pairs = scan_pairs(tmp_path)  # each pair is consistent on its own
    with pytest.raises(InputError, match=re.escape(odd.name) + r".*\(40, 30\) pixels.*share one size"):
        CarvanaDataset(pairs)


def test_missing_folders_and_bad_models_are_named(tmp_path):
    with pytest.raises(InputError, match="imgs.*not a folder"):
        scan_pairs(tmp_path)
    bogus = tmp_path / "model.pth"
    bogus.write_bytes(b"\x00garbage")
    with pytest.raises(InputError, match="model.pth.*not a Carvana U-Net checkpoint"):
        load_model(bogus, torch.device("cpu"))


# --- training, resume, prediction ---------------------------------------------------------------

def test_short_training_beats_trivial_guesses_and_writes_its_outputs(trained, cars):
    out, result = trained
    history = result["history"]
    assert [r["epoch"] for r in history] == list(range(1, 16))
    # All-background scores Dice 0 on every car; all-foreground scores 2p/(1+p), p = car fraction.
    split = json.loads((out / "split.json").read_text())
    masks = [np.asarray(Image.open(cars[0] / "masks" / f"{i}_mask.gif")) > 0 for i in split["val"]]
    all_car = np.mean([2 * m.mean() / (1 + m.mean()) for m in masks])
    assert result["val_dice"] > max(0.7, all_car + 0.3), (result["val_dice"], all_car)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    rows = (out / "training.csv").read_text().splitlines()
    assert rows[0] == "epoch,train_loss,val_dice,learning_rate,seconds" and len(rows) == 16
    assert (out / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(checkpoints_in(out / "checkpoints")) == list(range(1, 16))
    model, state = load_model(out / "model.pth", torch.device("cpu"))
    assert state["epoch"] == result["best_epoch"] and model.n_classes == 1


def test_evaluation_scores_held_out_cars_and_writes_masks_and_overlay(trained, cars, tmp_path):
    out, result = trained
    metrics = evaluate(out / "model.pth", cars[0], out / "split.json", tmp_path / "pred", tmp_path / "overlay.png",
                       tmp_path / "metrics.json", device="cpu")
    split = json.loads((out / "split.json").read_text())
    assert metrics["subset"] == "test" and metrics["images"] == len(split["test"]) == 12 and metrics["cars"] == 6
    assert sorted(metrics["per_image"]) == split["test"]
    assert metrics["dice"] > 0.6 and 0 < metrics["iou"] <= metrics["dice"] <= 1
    assert json.loads((tmp_path / "metrics.json").read_text())["dice"] == metrics["dice"]
    for i in split["test"]:
        mask = np.asarray(Image.open(tmp_path / "pred" / f"{i}_mask.png"))
        assert mask.shape == (48, 64) and set(np.unique(mask)) <= {0, 255}
    # The saved masks are the scored ones: recompute one image's Dice from the files.
    i = split["test"][0]
    pred = np.asarray(Image.open(tmp_path / "pred" / f"{i}_mask.png")) > 0
    truth = np.asarray(Image.open(cars[0] / "masks" / f"{i}_mask.gif")) > 0
    assert 2 * (pred & truth).sum() / (pred.sum() + truth.sum()) == pytest.approx(metrics["per_image"][i]["dice"])
    assert Image.open(tmp_path / "overlay.png").size == (4 * 64, 2 * 48)


def test_resume_continues_at_the_next_epoch_exactly_as_an_uninterrupted_run(tmp_path):
    generate(tmp_path / "data", cars=4, views=2, width=40, height=32, seed=2)
    settings = {**TINY, "base_channels": 4, "depth": 2, "test_fraction": 0.0, "val_fraction": 0.25}
    whole = train(tmp_path / "data", tmp_path / "whole", {**settings, "epochs": 3}, progress=False)
    first = train(tmp_path / "data", tmp_path / "split", {**settings, "epochs": 2}, progress=False)
    assert first["resumed_from"] == 0
    # An interruption: the run asked for 3 epochs died after writing checkpoint 2.
    rest = train(tmp_path / "data", tmp_path / "split", {**settings, "epochs": 3}, progress=False)
    assert rest["resumed_from"] == 2 and [r["epoch"] for r in rest["history"]] == [1, 2, 3]
    for a, b in zip(whole["history"], rest["history"]):
        assert a["train_loss"] == b["train_loss"] and a["val_dice"] == b["val_dice"]
    a = torch.load(tmp_path / "whole" / "checkpoints" / "checkpoint_epoch3.pth", weights_only=False)
    b = torch.load(tmp_path / "split" / "checkpoints" / "checkpoint_epoch3.pth", weights_only=False)
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0)
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
    # A damaged last checkpoint: the run falls back to the one before and redoes epoch 3.
    (tmp_path / "split" / "checkpoints" / "checkpoint_epoch3.pth").write_bytes(b"\x00 truncated")
    redo = train(tmp_path / "data", tmp_path / "split", {**settings, "epochs": 3}, progress=False)
    assert redo["resumed_from"] == 2 and redo["history"][-1]["val_dice"] == whole["history"][-1]["val_dice"]
    # Nothing left to do: a rerun trains no epoch.
    again = train(tmp_path / "data", tmp_path / "split", {**settings, "epochs": 3}, progress=False)
    assert again["resumed_from"] == 3
    # Other settings: the old checkpoints are not resumed.
    fresh = train(tmp_path / "data", tmp_path / "split", {**settings, "epochs": 1, "learning_rate": 0.01},
                  progress=False)
    assert fresh["resumed_from"] == 0 and sorted(checkpoints_in(tmp_path / "split" / "checkpoints")) == [1]


def test_only_the_last_checkpoints_and_the_best_are_kept_when_asked(tmp_path):
    generate(tmp_path / "data", cars=4, views=2, width=40, height=32, seed=2)
    settings = {**TINY, "base_channels": 4, "depth": 2, "test_fraction": 0.0, "val_fraction": 0.25,
                "epochs": 5, "keep_checkpoints": 2}
    result = train(tmp_path / "data", tmp_path / "out", settings, progress=False)
    kept = sorted(checkpoints_in(tmp_path / "out" / "checkpoints"))
    assert kept == sorted({4, 5, result["best_epoch"]})
    assert torch.load(tmp_path / "out" / "model.pth", weights_only=False)["epoch"] == result["best_epoch"]


def test_batchnorm_recalibration_averages_the_statistics_of_training_batches():
    torch.manual_seed(0)
    model = UNet(base=4, depth=2)
    batches = [(torch.rand(3, 3, 20, 24) * (k + 1), None) for k in range(3)]
    rng = torch.get_rng_state()
    recalibrate_batchnorm(model, batches, torch.device("cpu"), max_batches=2)
    first_conv, first_norm = model.inc.double_conv[0], model.inc.double_conv[1]
    with torch.no_grad():
        means = [first_conv(x).mean((0, 2, 3)) for x, _ in batches[:2]]  # the third batch is not used
    torch.testing.assert_close(first_norm.running_mean, (means[0] + means[1]) / 2)
    assert first_norm.momentum == 0.1 and first_norm.num_batches_tracked == 2
    assert torch.equal(torch.get_rng_state(), rng)


def test_predict_command_writes_a_mask_per_image_of_any_folder(trained, cars, tmp_path, capsys):
    out, _ = trained
    folder = tmp_path / "photos"
    folder.mkdir()
    for k, image_id in enumerate(cars[1][:2]):
        img = Image.open(cars[0] / "imgs" / f"{image_id}.jpg")
        img.resize((50 + k * 7, 37)).save(folder / f"photo {k}.png")  # other sizes and formats
    assert cli_main(["carvana-predict", str(out / "model.pth"), str(folder), str(tmp_path / "masks")]) == 0
    for k in range(2):
        mask = Image.open(tmp_path / "masks" / f"photo {k}_mask.png")
        assert mask.size == (50 + k * 7, 37)
    assert "2 masks written" in capsys.readouterr().out
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    assert cli_main(["carvana-predict", str(out / "model.pth"), str(folder), str(tmp_path / "m2")]) == 2
    assert "broken.jpg" in capsys.readouterr().err
    ids = predict_folder(out / "model.pth", cars[0] / "imgs", tmp_path / "all", device="cpu")
    assert len(ids) == 60


def test_several_classes_train_with_softmax_and_predict_class_indices(tmp_path):
    generate(tmp_path / "data", cars=4, views=2, width=40, height=32, seed=4)
    for gif in sorted((tmp_path / "data" / "masks").glob("*.gif")):
        car = np.asarray(Image.open(gif)) > 0
        rows = np.nonzero(car.any(1))[0]
        classes = car.astype(np.uint8)
        classes[: (rows[0] + rows[-1]) // 2][car[: (rows[0] + rows[-1]) // 2]] = 2  # upper half: class 2
        gif.unlink()
        Image.fromarray(classes, mode="L").save(gif.with_suffix(".png"))
    settings = {**TINY, "base_channels": 4, "depth": 2, "n_classes": 3, "val_fraction": 0.25, "test_fraction": 0.25,
                "epochs": 2}
    train(tmp_path / "data", tmp_path / "out", settings, progress=False)
    model, _ = load_model(tmp_path / "out" / "model.pth", torch.device("cpu"))
    assert model.n_classes == 3
    metrics = evaluate(tmp_path / "out" / "model.pth", tmp_path / "data", tmp_path / "out" / "split.json",
                       tmp_path / "pred", tmp_path / "overlay.png", tmp_path / "metrics.json", device="cpu")
    assert 0 <= metrics["dice"] <= 1 and metrics["images"] == 2
    for png in (tmp_path / "pred").glob("*.png"):
        assert set(np.unique(np.asarray(Image.open(png)))) <= {0, 1, 2}
    with pytest.raises(InputError, match=r"_mask\.png.*mask value 2.*only 2 classes"):
        train(tmp_path / "data", tmp_path / "out2", {**settings, "n_classes": 2}, progress=False)


def test_generate_and_train_commands(tmp_path, capsys):
    assert cli_main(["carvana-generate", str(tmp_path / "data"), "--cars", "4", "--views", "2", "--width", "32",
                     "--height", "24", "--seed", "9"]) == 0
    assert "8 images of 4 cars" in capsys.readouterr().out
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"base_channels": 4, "depth": 2, "val_fraction": 0.25, "test_fraction": 0.25,
                                    "scale": 1.0, "device": "cpu"}))
    assert cli_main(["carvana-train", str(tmp_path / "data"), str(tmp_path / "out"), "--settings", str(settings),
                     "--epochs", "2", "--seed", "1"]) == 0
    assert "best validation Dice" in capsys.readouterr().out
    assert sorted(checkpoints_in(tmp_path / "out" / "checkpoints")) == [1, 2]
    assert torch.load(tmp_path / "out" / "model.pth", weights_only=False)["settings"]["seed"] == 1
    assert cli_main(["carvana-train", str(tmp_path / "nothing"), str(tmp_path / "out3")]) == 2
    assert "nothing/imgs" in capsys.readouterr().err
