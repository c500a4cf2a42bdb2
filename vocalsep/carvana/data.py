"""Carvana-layout data: imgs/<id>.jpg with masks/<id>_mask.gif (or .png), split by car id.

Every problem with an input file (no mask, a mask of another size, an unreadable file)
raises InputError naming that file.
"""

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ..errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff")
MASK_SUFFIXES = (".gif", ".png")


def car_of(image_id: str) -> str:
    """The car id of an image id: Carvana names views <carid>_<view:02d>.

    Args:
        image_id: an image's id (its file name without the suffix).

    Returns:
        The part before the last underscore, or the whole id when it has none.
    """
    head, sep, _ = image_id.rpartition("_")
    return head if sep else image_id


def list_images(images_dir: str | Path) -> dict[str, Path]:
    """The image files in a folder, by id (hidden files skipped).

    Args:
        images_dir: a folder of images (suffixes IMAGE_SUFFIXES, any case).

    Returns:
        {image id (file stem): path}, sorted by file name.

    Raises:
        InputError: when the folder is missing, holds no image, or two images share an id.
    """
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


def find_mask(masks_dir: str | Path, image_id: str, image_path: str | Path | None = None) -> Path:
    """The mask file of an image: masks/<id>_mask.gif or .png.

    Args:
        masks_dir: the folder of masks.
        image_id: the image's id.
        image_path: the image's file, named in the error (default: the id).

    Returns:
        The path of the mask, the GIF when both exist.

    Raises:
        InputError: when the image has no mask.
    """
    for suffix in MASK_SUFFIXES:
        path = Path(masks_dir) / f"{image_id}_mask{suffix}"
        if path.is_file():
            return path
    raise InputError(image_path or image_id,
                     f"has no mask: expected {Path(masks_dir) / (image_id + '_mask.gif')} (or .png)")


def _open(path):
    """The decoded PIL image of a file; InputError when it is not a readable image."""
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputError(path, f"is not a readable image ({err})") from None
    return img


def image_size(path: str | Path) -> tuple[int, int]:
    """The size of an image, read from the file header only (the pixels are not decoded).

    Args:
        path: an image file.

    Returns:
        (width, height) in pixels.

    Raises:
        InputError: when the file is not a readable image.
    """
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputError(path, f"is not a readable image ({err})") from None


def load_image(path: str | Path, scale: float = 1.0) -> np.ndarray:
    """An image as an RGB array, resized by `scale` (bicubic).

    Args:
        path: an image file (any mode; converted to RGB).
        scale: factor on both sides; each side is rounded and at least 1 pixel.

    Returns:
        uint8 array (H, W, 3).

    Raises:
        InputError: when the file is not a readable image.
    """
    img = _open(path).convert("RGB")
    return np.asarray(_rescale(img, scale, Image.BICUBIC))


def load_mask(path: str | Path, scale: float = 1.0, n_classes: int = 1) -> np.ndarray:
    """A mask as class indices, resized by `scale` (nearest, so no new values appear).

    Binary (n_classes == 1): any non-zero value is the car. Several classes: palette or grey
    values are the class indices and must be below n_classes.

    Args:
        path: a mask file (palette, grey or 1-bit; other modes are converted to grey).
        scale: factor on both sides, as in load_image.
        n_classes: the number of classes; 1 for a binary mask.

    Returns:
        uint8 array (H, W) of class indices (0/1 for a binary mask).

    Raises:
        InputError: when the file is not a readable image or has a value of no class.
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
    """img resized by `scale` (each side rounded, at least 1 pixel); itself at scale 1."""
    if scale == 1.0:
        return img
    w, h = img.size
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(new, resample)


def scan_pairs(data_dir: str | Path) -> list[tuple[str, Path, Path]]:
    """The image/mask pairs of a Carvana folder, each pair checked for a common size.

    Args:
        data_dir: a folder with imgs/<id>.<suffix> and masks/<id>_mask.gif (or .png).

    Returns:
        [(image id, image path, mask path)], sorted by image file name.

    Raises:
        InputError: naming the file, when masks/ is missing, an image has no mask, a mask
            differs in size from its image, or a file is not a readable image.
    """
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


def split_by_car(ids: Sequence[str], val_fraction: float, test_fraction: float,
                 seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """Split image ids into (train, val, test) so that all views of one car fall on one side.

    Splitting by car keeps the held-out scores honest: a view of a car seen in training would
    be nearly a copy of a training image. Each non-zero fraction gets at least one car.

    Args:
        ids: image ids (<carid>_<view>).
        val_fraction: fraction of the cars (not of the images) for validation.
        test_fraction: fraction of the cars for testing.
        seed: seed of the shuffle of the cars; the same ids and seed give the same split.

    Returns:
        (train ids, validation ids, test ids), each sorted.

    Raises:
        ValueError: when no car is left for training.
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

    Args:
        pairs: (image id, image path, mask path) tuples, as from scan_pairs; all images of one size.
        scale: factor on the image sides (images bicubic, masks nearest).
        n_classes: the number of mask classes; 1 for a binary mask.
        flip: mirror a random half of the samples left-right.
        generator: the random generator of the flips (default: torch's global one).
        cache_mb: the most memory, in MiB, the decoded pairs may take to be kept.

    Raises:
        ValueError: when there are no pairs.
        InputError: when the images differ in size, or a mask's size differs from its image's.
    """

    def __init__(self, pairs: Sequence[tuple[str, Path, Path]], scale: float = 1.0, n_classes: int = 1,
                 flip: bool = False, generator: torch.Generator | None = None, cache_mb: float = 2048) -> None:
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
        """(image uint8 (3, H, W), mask uint8 (H, W)) of pair `index`, read from its files."""
        _, image_path, mask_path = self.pairs[index]
        img, mask = load_image(image_path, self.scale), load_mask(mask_path, self.scale, self.n_classes)
        if img.shape[:2] != mask.shape:
            raise InputError(mask_path, f"is {mask.shape[::-1]} pixels after scaling but its image "
                                        f"{Path(image_path).name} is {img.shape[1::-1]}")
        return torch.from_numpy(img.copy()).permute(2, 0, 1).contiguous(), torch.from_numpy(mask.copy())

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(image float (3, H, W) in [0, 1], mask long (H, W)) of one pair, mirrored or not."""
        img, mask = self.items[index] if self.cached else self._decode(index)
        if self.flip and torch.rand((), generator=self.generator) < 0.5:
            img, mask = img.flip(-1), mask.flip(-1)
        return img.float() / 255.0, mask.long()
