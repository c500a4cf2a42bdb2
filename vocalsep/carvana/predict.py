"""Prediction with a trained image U-Net: masks for any images, scores and overlays for held-out cars."""

import json
import logging
from collections.abc import Sequence
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


def load_model(path: str | Path, device: torch.device | str | None = None) -> tuple[UNet, dict]:
    """A trained U-Net from model.pth or checkpoint_epoch{N}.pth, ready to predict.

    Args:
        path: a model.pth or checkpoint written by Carvana training.
        device: where the model goes (default: pick_device's choice).

    Returns:
        (the UNet in eval mode on `device`, the checkpoint dict: "model_config", "model" and,
        from training, "scale", "epoch", "val_dice", "settings").

    Raises:
        InputError: when the file is missing or is not a Carvana U-Net checkpoint.
    """
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


def predict_image(model: UNet, image: np.ndarray, scale: float, threshold: float = 0.5) -> np.ndarray:
    """The predicted mask of one image, at the image's own size.

    The image is reduced by `scale` (as in training), the logits are brought back to full size
    bilinearly, then thresholded (one class) or arg-maxed. Mixed precision on CUDA only.

    Args:
        model: a U-Net (as from load_model), on the device to compute on.
        image: RGB uint8 array (H, W, 3).
        scale: the factor the model was trained at (bicubic reduction of the image).
        threshold: probability above which a pixel is car (one class only).

    Returns:
        uint8 array (H, W) of class indices (0/1 for one class).
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


def save_mask_png(path: str | Path, mask: np.ndarray, n_classes: int) -> None:
    """Write a predicted mask as a grey PNG: 0/255 for one class, class indices otherwise.

    Args:
        path: the PNG file (written atomically, folders created).
        mask: (H, W) class indices.
        n_classes: the model's classes; 1 writes the mask as 0/255 so it is visible.
    """
    values = mask * 255 if n_classes == 1 else mask
    img = Image.fromarray(values.astype(np.uint8), mode="L")
    atomic_write_bytes(path, lambda tmp: img.save(tmp, format="PNG"))


def overlay(image: np.ndarray, pred: np.ndarray, truth: np.ndarray | None = None) -> np.ndarray:
    """A picture of a prediction over its image: predicted car green; with the truth, missed car
    pixels blue and false car red.

    Args:
        image: RGB uint8 array (H, W, 3), darkened under the tints.
        pred: (H, W) predicted class indices; any non-zero value is car.
        truth: (H, W) true class indices, or None to show the prediction alone.

    Returns:
        RGB uint8 array (H, W, 3).
    """
    out = image.astype(np.float32) * 0.55
    car = pred > 0
    colours = {"hit": (0, 200, 0), "false": (230, 0, 0), "missed": (0, 80, 255)}
    regions = {"hit": car} if truth is None else {
        "hit": car & (truth > 0), "false": car & (truth == 0), "missed": ~car & (truth > 0)}
    for name, where in regions.items():
        out[where] += np.array(colours[name]) * 0.45
    return np.uint8(np.clip(out, 0, 255))


def save_overlay_grid(path: str | Path, tiles: Sequence[np.ndarray], columns: int = 4) -> None:
    """Write tiles side by side in rows, as a PNG (white where the last row is short).

    Args:
        path: the PNG file (written atomically, folders created).
        tiles: RGB uint8 arrays (H, W, 3), at least one; all are resized to the first one's size.
        columns: tiles per row.
    """
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


def predict_folder(model_path: str | Path, images_dir: str | Path, out_dir: str | Path, threshold: float = 0.5,
                   scale: float | None = None, device: str = "auto",
                   overlay_path: str | Path | None = None) -> list[str]:
    """Write out_dir/<id>_mask.png for every image in images_dir.

    An image that cannot be read stops the run with an InputError naming it.

    Args:
        model_path: model.pth (or a checkpoint) from Carvana training.
        images_dir: a folder of images, of any size.
        out_dir: the folder that receives the masks.
        threshold: probability above which a pixel is car (one class only).
        scale: image scale for the network (default: the scale the model was trained at).
        device: "auto", "cuda", "mps" or "cpu", as for pick_device.
        overlay_path: where to write a PNG of the first 8 images with their masks (None: none).

    Returns:
        The image ids, in file-name order.
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


def evaluate(model_path: str | Path, data_dir: str | Path, split_path: str | Path, predictions_dir: str | Path,
             overlay_path: str | Path, metrics_path: str | Path, threshold: float = 0.5, device: str = "auto",
             subset: str = "test", overlay_count: int = 8) -> dict:
    """Predict the held-out images of a split, score them against their masks, write the results.

    Writes predictions_dir/<id>_mask.png, an overlay picture of the first `overlay_count`
    images, one view per car first (green: correct car pixels, red: false car, blue: missed
    car) and metrics.json with the mean Dice and IoU at full resolution and per image.

    Args:
        model_path: model.pth from Carvana training.
        data_dir: the Carvana folder (imgs/, masks/) the model was trained on.
        split_path: the split.json written by that training.
        predictions_dir: the folder that receives the predicted masks.
        overlay_path: the overlay PNG.
        metrics_path: the metrics JSON.
        threshold: probability above which a pixel is car (one class only).
        device: "auto", "cuda", "mps" or "cpu", as for pick_device.
        subset: the split's part to score, "test" or "val"; an empty part falls back to "val".
        overlay_count: how many images the overlay shows.

    Returns:
        The metrics written: "subset", "images", "cars", mean "dice" and "iou", "threshold",
        "scale", "model_epoch", "model_val_dice" and "per_image" ({id: {"dice", "iou"}}).

    Raises:
        InputError: when the model, the split or an image of the split is missing or unreadable.
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

