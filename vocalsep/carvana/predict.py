"""Prediction with a trained image U-Net: masks for any images, scores and overlays for held-out cars."""

import json
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..audio import atomic_write_bytes, write_text
from ..device import pick_device
from ..errors import InputError
from ..models import UNet
from .data import car_of, list_images, load_image, load_mask, scan_pairs
from .metrics import mask_scores, predict_mask

LOG = logging.getLogger("vocalsep.carvana")


def load_model(path, device=None):
    """(UNet in eval mode on `device`, its checkpoint dict) from model.pth or checkpoint_epoch{N}.pth."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "does not exist (expected a model.pth written by Carvana training)")
    device = device or pick_device()
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        model = UNet(**state["model_config"])
        model.load_state_dict(state["model"])
    except Exception as err:  # noqa: BLE001 - a truncated, foreign or mismatched file
        raise InputError(path, f"is not a Carvana U-Net checkpoint ({type(err).__name__}: {err})") from None
    return model.to(device).eval(), state


def predict_image(model, image, scale, threshold=0.5):
    """Class-index mask (H, W) uint8 at the image's own size, for an RGB uint8 array (H, W, 3).

    The image is reduced by `scale` (as in training), the logits are brought back to full size
    bilinearly, then thresholded (one class) or arg-maxed.
    """
    device = next(model.parameters()).device
    h, w = image.shape[:2]
    small = image
    if scale != 1.0:
        small = np.asarray(Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                         Image.BICUBIC))
    x = torch.from_numpy(small.copy()).permute(2, 0, 1)[None].float().div(255).to(device)
    with torch.no_grad(), torch.autocast(device.type, enabled=device.type == "cuda"):
        logits = model(x)
    logits = F.interpolate(logits.float(), size=(h, w), mode="bilinear", align_corners=False)
    return predict_mask(logits, threshold)[0].to(torch.uint8).cpu().numpy()


def save_mask_png(path, mask, n_classes):
    """A predicted mask as PNG: 0/255 for one class, class indices otherwise."""
    values = mask * 255 if n_classes == 1 else mask
    img = Image.fromarray(values.astype(np.uint8), mode="L")
    atomic_write_bytes(path, lambda tmp: img.save(tmp, format="PNG"))


def overlay(image, pred, truth=None):
    """RGB picture: prediction tinted green; with the truth, missed car pixels blue, false car red."""
    out = image.astype(np.float32) * 0.55
    car = pred > 0
    colours = {"hit": (0, 200, 0), "false": (230, 0, 0), "missed": (0, 80, 255)}
    regions = {"hit": car} if truth is None else {
        "hit": car & (truth > 0), "false": car & (truth == 0), "missed": ~car & (truth > 0)}
    for name, where in regions.items():
        out[where] += np.array(colours[name]) * 0.45
    return np.uint8(np.clip(out, 0, 255))


def save_overlay_grid(path, tiles, columns=4):
    """Tiles (RGB arrays, resized to the first one's size) side by side in rows, as a PNG."""
    h, w = tiles[0].shape[:2]
    tiles = [t if t.shape[:2] == (h, w) else np.asarray(Image.fromarray(t).resize((w, h))) for t in tiles]
    rows = (len(tiles) + columns - 1) // columns
    grid = np.full((rows * h, min(columns, len(tiles)) * w, 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
    atomic_write_bytes(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))


def _one_view_per_car_first(ids):
    """Ids reordered so that the first ones show as many different cars as possible."""
    views = {}
    for i in ids:
        views.setdefault(car_of(i), []).append(i)
    rounds = max(len(v) for v in views.values())
    return [v[k] for k in range(rounds) for v in views.values() if k < len(v)]


def predict_folder(model_path, images_dir, out_dir, threshold=0.5, scale=None, device="auto", overlay_path=None):
    """Write out_dir/<id>_mask.png for every image in images_dir; returns the ids.

    `scale` defaults to the scale the model was trained at. An image that cannot be read
    stops the run with an InputError naming it.
    """
    model, state = load_model(model_path, pick_device(device))
    scale = state.get("scale", 1.0) if scale is None else scale
    images = list_images(images_dir)
    tiles = []
    for image_id, path in images.items():
        image = load_image(path)
        pred = predict_image(model, image, scale, threshold)
        save_mask_png(Path(out_dir) / f"{image_id}_mask.png", pred, model.n_classes)
        if overlay_path and len(tiles) < 8:
            tiles.append(overlay(image, pred))
    if overlay_path:
        save_overlay_grid(overlay_path, tiles)
    LOG.info("%d masks written to %s", len(images), out_dir)
    return list(images)


def evaluate(model_path, data_dir, split_path, predictions_dir, overlay_path, metrics_path,
             threshold=0.5, device="auto", subset="test", overlay_count=8):
    """Predict the held-out images of a split, score them against their masks, write the results.

    Writes predictions_dir/<id>_mask.png, an overlay picture of the first `overlay_count`
    images, one view per car first (green: correct car pixels, red: false car, blue: missed car) and metrics.json with
    the mean Dice and IoU at full resolution and per image. Returns the metrics dict.
    """
    model, state = load_model(model_path, pick_device(device))
    try:
        split = json.loads(Path(split_path).read_text(encoding="utf-8"))
        ids = split[subset] or split["val"]
        subset = subset if split[subset] else "val"
    except (OSError, ValueError, KeyError) as err:
        raise InputError(split_path, f"is not a split.json written by Carvana training ({err})") from None
    pairs = {p[0]: p for p in scan_pairs(data_dir)}
    missing = [i for i in ids if i not in pairs]
    if missing:
        raise InputError(Path(data_dir) / "imgs", f"lacks {len(missing)} image(s) of the split, e.g. {missing[0]}")
    scale = state.get("scale", 1.0)
    per_image, tiles = {}, {}
    shown = set(_one_view_per_car_first(ids)[:overlay_count])
    for image_id in ids:
        _, image_path, mask_path = pairs[image_id]
        image, truth = load_image(image_path), load_mask(mask_path, 1.0, model.n_classes)
        pred = predict_image(model, image, scale, threshold)
        per_image[image_id] = mask_scores(torch.from_numpy(pred).long(), torch.from_numpy(truth).long(),
                                          model.n_classes)
        save_mask_png(Path(predictions_dir) / f"{image_id}_mask.png", pred, model.n_classes)
        if image_id in shown:
            tiles[image_id] = overlay(image, pred, truth)
    save_overlay_grid(overlay_path, [tiles[i] for i in _one_view_per_car_first(ids) if i in tiles])
    metrics = {
        "subset": subset,
        "images": len(ids),
        "cars": len({car_of(i) for i in ids}),
        "dice": float(np.mean([s["dice"] for s in per_image.values()])),
        "iou": float(np.mean([s["iou"] for s in per_image.values()])),
        "threshold": threshold,
        "scale": scale,
        "model_epoch": state.get("epoch"),
        "model_val_dice": state.get("val_dice"),
        "per_image": per_image,
    }
    write_text(metrics_path, json.dumps(metrics, indent=2) + "\n")
    LOG.info("%s set: %d images of %d cars, Dice %.4f, IoU %.4f", subset, metrics["images"], metrics["cars"],
             metrics["dice"], metrics["iou"])
    return metrics

