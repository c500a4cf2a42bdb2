"""Carvana-layout data: imgs/<id>.jpg with masks/<id>_mask.gif (or .png), split by car id.

Every problem with an input file (no mask, a mask of another size, an unreadable file)
raises InputError naming that file.
"""

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ..errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff")
MASK_SUFFIXES = (".gif", ".png")


def car_of(image_id):
    """The car id of an image id: Carvana names views <carid>_<view:02d>."""
    head, sep, _ = image_id.rpartition("_")
    return head if sep else image_id


def list_images(images_dir):
    """{image id: path} of the image files in a folder (hidden files skipped)."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise InputError(images_dir, "is not a folder of images")
    found = {}
    for path in sorted(images_dir.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in found:
                raise InputError(path, f"two images share the id {path.stem!r} ({found[path.stem].name})")
            found[path.stem] = path
    if not found:
        raise InputError(images_dir, f"contains no images ({', '.join(IMAGE_SUFFIXES)})")
    return found


def find_mask(masks_dir, image_id, image_path=None):
    """The mask file of an image: masks/<id>_mask.gif or .png; InputError when there is none."""
    for suffix in MASK_SUFFIXES:
        path = Path(masks_dir) / f"{image_id}_mask{suffix}"
        if path.is_file():
            return path
    raise InputError(image_path or image_id,
                     f"has no mask: expected {Path(masks_dir) / (image_id + '_mask.gif')} (or .png)")


def _open(path):
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputError(path, f"is not a readable image ({err})") from None
    return img


def image_size(path):
    """(width, height) from the file header; InputError when it is not an image."""
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputError(path, f"is not a readable image ({err})") from None


def load_image(path, scale=1.0):
    """RGB uint8 array (H, W, 3), resized by `scale` (bicubic)."""
    img = _open(path).convert("RGB")
    return np.asarray(_rescale(img, scale, Image.BICUBIC))


def load_mask(path, scale=1.0, n_classes=1):
    """Class-index array (H, W) uint8, resized by `scale` (nearest).

    Binary (n_classes == 1): any non-zero value is the car. Several classes: palette or grey
    values are the class indices and must be below n_classes.
    """
    img = _open(path)
    if img.mode not in ("P", "L", "1"):
        img = img.convert("L")
    mask = np.asarray(_rescale(img, scale, Image.NEAREST))
    if n_classes == 1:
        return (mask > 0).astype(np.uint8)
    if mask.max() >= n_classes:
        raise InputError(path, f"has mask value {int(mask.max())}, but there are only {n_classes} classes")
    return mask.astype(np.uint8)


def _rescale(img, scale, resample):
    if scale == 1.0:
        return img
    w, h = img.size
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(new, resample)


def scan_pairs(data_dir):
    """[(id, image path, mask path)] of a Carvana folder, each pair checked for a common size."""
    data_dir = Path(data_dir)
    images = list_images(data_dir / "imgs")
    masks_dir = data_dir / "masks"
    if not masks_dir.is_dir():
        raise InputError(masks_dir, "is missing: a Carvana folder has imgs/ and masks/")
    pairs = []
    for image_id, image_path in images.items():
        mask_path = find_mask(masks_dir, image_id, image_path)
        if image_size(mask_path) != image_size(image_path):
            raise InputError(mask_path, f"is {image_size(mask_path)} pixels but its image "
                                        f"{image_path.name} is {image_size(image_path)}")
        pairs.append((image_id, image_path, mask_path))
    return pairs


def split_by_car(ids, val_fraction, test_fraction, seed=0):
    """Split image ids into (train, val, test) so that all views of one car fall on one side.

    Each non-zero fraction gets at least one car; ValueError when no car is left for training.
    """
    cars = sorted({car_of(i) for i in ids})
    random.Random(seed).shuffle(cars)
    n = len(cars)
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    if n - n_test - n_val < 1:
        raise ValueError(f"{n} cars are too few for {n_val} validation and {n_test} test car(s) "
                         "and at least one training car")
    test_cars, val_cars = set(cars[:n_test]), set(cars[n_test:n_test + n_val])
    side = lambda i: "test" if car_of(i) in test_cars else "val" if car_of(i) in val_cars else "train"  # noqa: E731
    parts = {"train": [], "val": [], "test": []}
    for i in sorted(ids):
        parts[side(i)].append(i)
    return parts["train"], parts["val"], parts["test"]


class CarvanaDataset(Dataset):
    """Image/mask pairs as tensors: image float (3, H, W) in [0, 1], mask long (H, W).

    Pairs are decoded once and kept in memory as uint8 when they fit in `cache_mb`
    (synthetic sets, small scales); otherwise each is decoded when used (the full Carvana
    set at half scale is ~9 GB). `flip=True` mirrors a random half of the samples left-right
    (cars are symmetric), drawing from `generator` so runs are reproducible.
    """

    def __init__(self, pairs, scale=1.0, n_classes=1, flip=False, generator=None, cache_mb=2048):
        if not pairs:
            raise ValueError("a dataset needs at least one image")
        self.pairs, self.scale, self.n_classes = list(pairs), scale, n_classes
        self.ids = [p[0] for p in self.pairs]
        self.flip, self.generator = flip, generator
        first = self.pairs[0][1]
        size = image_size(first)
        for _, image_path, _ in self.pairs:
            if image_size(image_path) != size:
                raise InputError(image_path, f"is {image_size(image_path)} pixels but {Path(first).name} is "
                                             f"{size}: the images of one training run share one size")
        w, h = (max(1, round(v * scale)) for v in size)
        self.cached = len(self.pairs) * w * h * 4 <= cache_mb * 2**20
        self.items = [self._decode(i) for i in range(len(self.pairs))] if self.cached else None

    def _decode(self, index):
        _, image_path, mask_path = self.pairs[index]
        img, mask = load_image(image_path, self.scale), load_mask(mask_path, self.scale, self.n_classes)
        if img.shape[:2] != mask.shape:
            raise InputError(mask_path, f"is {mask.shape[::-1]} pixels after scaling but its image "
                                        f"{Path(image_path).name} is {img.shape[1::-1]}")
        return torch.from_numpy(img.copy()).permute(2, 0, 1).contiguous(), torch.from_numpy(mask.copy())

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, index):
        img, mask = self.items[index] if self.cached else self._decode(index)
        if self.flip and torch.rand((), generator=self.generator) < 0.5:
            img, mask = img.flip(-1), mask.flip(-1)
        return img.float() / 255.0, mask.long()
