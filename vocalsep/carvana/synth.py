"""Synthetic cars in the Carvana layout: imgs/<carid>_<view>.jpg and masks/<carid>_<view>_mask.gif.

Each car id has one body style, size and colour, seen from `views` angles around it (Carvana:
16), each over its own textured, cluttered background with a lighting gradient, a ground
shadow, noise and JPEG compression. Parts (body, cabin, windows, wheels, lights) are drawn at
twice the size and reduced, so edges are anti-aliased; the mask is the car's coverage.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..audio import atomic_write_bytes, write_text

SUPERSAMPLE = 2


@dataclass
class CarStyle:
    """What stays the same across the views of one car (sizes are fractions of image width)."""

    length: float        # body length
    width: float         # body width (across the car)
    body_height: float
    clearance: float     # gap between ground and body bottom
    cabin_start: float   # cabin base, from the rear, as fractions of the length
    cabin_end: float
    roof_taper: float    # how much shorter the roof is than the cabin base (fraction of length)
    cabin_height: float
    wheel_radius: float
    wheelbase: float     # distance between axles (fraction of length)
    hood_slope: float    # how far the nose drops (fraction of body height)
    colour: tuple
    window_colour: tuple
    rim_colour: tuple


def _random_colour(rng, dark=0, light=255):
    """An (r, g, b) tuple of ints, each in [dark, light)."""
    return tuple(int(c) for c in rng.integers(dark, light, size=3))


def random_style(rng: np.random.Generator) -> CarStyle:
    """A random car: hatchback to SUV proportions, any colour (greys and whites common).

    Args:
        rng: the random generator to draw from.

    Returns:
        The car's style, shared by all its views.
    """
    length = rng.uniform(0.45, 0.75)
    if rng.random() < 0.4:  # white, black, silver cars, as in a real car park
        grey = int(rng.choice([20, 40, 150, 190, 235]) + rng.integers(-15, 15))
        colour = tuple(int(np.clip(grey + rng.integers(-8, 8), 0, 255)) for _ in range(3))
    else:
        colour = _random_colour(rng, 10, 245)
    cabin_start = rng.uniform(0.08, 0.3)
    return CarStyle(
        length=length,
        width=length * rng.uniform(0.4, 0.5),
        body_height=length * rng.uniform(0.17, 0.26),
        clearance=length * rng.uniform(0.03, 0.07),
        cabin_start=cabin_start,
        cabin_end=rng.uniform(0.6, 0.78),
        roof_taper=rng.uniform(0.05, 0.2),
        cabin_height=length * rng.uniform(0.12, 0.2),
        wheel_radius=length * rng.uniform(0.08, 0.11),
        wheelbase=rng.uniform(0.58, 0.7),
        hood_slope=rng.uniform(0.15, 0.5),
        colour=colour,
        window_colour=_random_colour(rng, 10, 90),
        rim_colour=_random_colour(rng, 120, 230),
    )


def _background(rng, w, h):
    """A textured, cluttered scene: gradient backdrop, floor, noise texture and random shapes."""
    top, bottom = np.array(_random_colour(rng)), np.array(_random_colour(rng))
    t = np.linspace(0, 1, h)[:, None, None]
    img = (1 - t) * top + t * bottom
    img = np.broadcast_to(img, (h, w, 3)).copy()
    horizon = int(h * rng.uniform(0.35, 0.65))
    img[horizon:] = img[horizon:] * rng.uniform(0.5, 1.1) + rng.uniform(-30, 30, size=3)
    # Low-frequency texture: coarse noise upsampled; then fine grain.
    for cells, amp in ((rng.integers(3, 10), rng.uniform(10, 40)), (rng.integers(20, 60), rng.uniform(0, 20))):
        coarse = rng.normal(0, 1, size=(cells, max(2, int(cells * w / h)), 3)).astype(np.float32)
        tex = Image.fromarray(np.uint8(np.clip(coarse * 40 + 128, 0, 255))).resize((w, h), Image.BICUBIC)
        img += (np.asarray(tex, np.float32) - 128) / 40 * amp
    scene = Image.fromarray(np.uint8(np.clip(img, 0, 255)))
    draw = ImageDraw.Draw(scene)
    for _ in range(rng.integers(4, 14)):  # clutter: boxes, blobs, poles, polygons
        colour = _random_colour(rng)
        x0, y0 = rng.uniform(-0.1, 1.0) * w, rng.uniform(-0.1, 1.0) * h
        sw, sh = rng.uniform(0.03, 0.4) * w, rng.uniform(0.03, 0.4) * h
        kind = rng.integers(0, 4)
        if kind == 0:
            draw.rectangle([x0, y0, x0 + sw, y0 + sh], fill=colour)
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + sw, y0 + sh], fill=colour)
        elif kind == 2:
            draw.line([x0, y0, x0 + rng.uniform(-1, 1) * sw, y0 + sh], fill=colour, width=int(rng.integers(1, 6)))
        else:
            pts = [(x0 + rng.uniform(0, sw), y0 + rng.uniform(0, sh)) for _ in range(rng.integers(3, 7))]
            draw.polygon(pts, fill=colour)
    return scene


def _render_car(style, view_angle, w, h, rng):
    """Draw one view of a car at supersampled size; returns (RGB image, coverage 'L', shadow box)."""
    s = SUPERSAMPLE
    W, H = w * s, h * s
    car = Image.new("RGB", (W, H))
    cover = Image.new("L", (W, H), 0)
    dc, dm = ImageDraw.Draw(car), ImageDraw.Draw(cover)
    scale = W * rng.uniform(0.85, 1.15)  # camera distance varies a little between views
    c, sn = math.cos(view_angle), math.sin(view_angle)
    elevation = rng.uniform(0.12, 0.3)  # far side appears higher: a camera slightly above

    L, Wd = style.length * scale, style.width * scale

    def project(x, z):
        """Car-local (x along the length, z across) -> screen x offset, screen y offset."""
        return x * c + z * sn, -(x * sn - z * c) * elevation

    footprint = [project(x, z) for x in (-L / 2, L / 2) for z in (-Wd / 2, Wd / 2)]
    half_span = max(abs(p[0]) for p in footprint)
    cx = rng.uniform(half_span + 0.02 * W, W - half_span - 0.02 * W) if 2 * half_span < 0.96 * W else W / 2
    ground = H * rng.uniform(0.62, 0.9)
    body_bottom = ground - style.clearance * scale
    body_top = body_bottom - style.body_height * scale
    depth = lambda x, z: x * sn - z * c  # noqa: E731 - larger is farther from the camera

    def fill(points, colour):
        dc.polygon(points, fill=colour)
        dm.polygon(points, fill=255)

    def wheel(x, z):
        dx, dy = project(x, z)
        r = style.wheel_radius * scale
        rx = r * (0.3 + 0.7 * abs(c))  # a wheel seen edge-on is a narrow ellipse
        wx, wy = cx + dx, ground - r + dy * 0.5
        dc.ellipse([wx - rx, wy - r, wx + rx, wy + r], fill=(18, 18, 18))
        dm.ellipse([wx - rx, wy - r, wx + rx, wy + r], fill=255)
        if abs(c) > 0.3:
            dc.ellipse([wx - rx * 0.55, wy - r * 0.55, wx + rx * 0.55, wy + r * 0.55], fill=style.rim_colour)

    axle = style.wheelbase * L / 2
    wheels = [(x, z) for x in (-axle, axle) for z in (-Wd / 2 * 0.85, Wd / 2 * 0.85)]
    wheels.sort(key=lambda p: -depth(*p))
    for x, z in wheels[:2]:  # far wheels first: the body hides part of them
        wheel(x, z)

    # Body: the convex hull of the projected box, with the nose lower than the tail.
    corners = [project(x, z) for x, z in ((-L / 2, -Wd / 2), (-L / 2, Wd / 2), (L / 2, Wd / 2), (L / 2, -Wd / 2))]
    xs = [cx + p[0] for p in corners]
    ys = [p[1] for p in corners]
    left, right = min(xs), max(xs)
    slope = style.hood_slope * style.body_height * scale * abs(c)
    nose_right = c > 0  # the front (x > 0) points right on screen when cos > 0
    lift = min(ys)
    top_left = body_top + (slope if not nose_right else 0) + lift * 0.5
    top_right = body_top + (slope if nose_right else 0) + lift * 0.5
    radius = (body_bottom - body_top) * 0.25
    body = [(left, body_bottom - radius), (left + radius * 0.5, body_bottom), (right - radius * 0.5, body_bottom),
            (right, body_bottom - radius), (right, top_right + radius * 0.5), (right - radius, top_right),
            (left + radius, top_left), (left, top_left + radius * 0.5)]
    fill(body, style.colour)

    # Cabin: base on the body's top, roof shorter; windows inset in it.
    base_x = [-L / 2 + style.cabin_start * L, -L / 2 + style.cabin_end * L]
    roof_x = [base_x[0] + style.roof_taper * L, base_x[1] - style.roof_taper * L * 0.6]
    half_w = Wd / 2 * 0.92

    def span(xs_local, wz):
        pts = [cx + project(x, z)[0] for x in xs_local for z in (-wz, wz)]
        return min(pts), max(pts)

    b0, b1 = span(base_x, half_w)
    r0, r1 = span(roof_x, half_w * 0.85)
    cab_bottom = max(top_left, top_right) - 1 if abs(c) < 0.3 else (body_top + lift * 0.5)
    cab_top = cab_bottom - style.cabin_height * scale
    cabin = [(b0, cab_bottom + 2), (b1, cab_bottom + 2), (r1, cab_top), (r0, cab_top)]
    fill(cabin, style.colour)
    inset = 0.18 * (cab_bottom - cab_top)
    win = [(b0 + inset * 1.5, cab_bottom - inset * 0.4), (b1 - inset * 1.5, cab_bottom - inset * 0.4),
           (r1 - inset * 0.6, cab_top + inset), (r0 + inset * 0.6, cab_top + inset)]
    if win[1][0] - win[0][0] > 2 * s and win[2][0] - win[3][0] > 0:
        dc.polygon(win, fill=style.window_colour)
        if abs(c) > 0.4:  # side view: a pillar splits front and rear windows
            mid_b, mid_t = (win[0][0] + win[1][0]) / 2, (win[2][0] + win[3][0]) / 2
            dc.line([(mid_b, win[0][1]), (mid_t, win[3][1])], fill=style.colour, width=int(inset * 0.7) + 1)
        glare = tuple(min(255, v + 70) for v in style.window_colour)
        dc.line([win[3], ((win[0][0] + win[1][0]) / 2, win[0][1])], fill=glare, width=max(1, int(inset * 0.3)))

    for x, z in wheels[2:]:  # near wheels over the body
        wheel(x, z)

    # Lights at the visible end(s): white/yellow at the front, red at the back.
    light_y = (top_left + top_right) / 2 + (body_bottom - body_top) * 0.25
    lh = (body_bottom - body_top) * 0.15
    for end, colour in ((L / 2, (250, 240, 190)), (-L / 2, (200, 20, 20))):
        for z in (-Wd / 2 * 0.7, Wd / 2 * 0.7):
            dx, _ = project(end, z)
            if (end > 0) == (sn < 0.2) or abs(c) > 0.5:  # an end that faces the camera
                lx = cx + dx
                lx = min(max(lx, left + lh), right - lh)
                dc.rectangle([lx - lh, light_y - lh / 2, lx + lh, light_y + lh / 2], fill=colour)

    # Shading: lighter at the top, a highlight line along the body.
    arr = np.asarray(car, np.float32)
    ramp = np.linspace(1.25, 0.7, H)[:, None, None]
    arr = arr * ramp
    car = Image.fromarray(np.uint8(np.clip(arr, 0, 255)))
    shadow = (left - 0.05 * (right - left), ground - style.wheel_radius * scale * 0.6,
              right + 0.05 * (right - left), ground + style.wheel_radius * scale * 0.5)
    return car, cover, shadow


def render_view(style: CarStyle, view_angle: float, w: int, h: int,
                rng: np.random.Generator) -> tuple[Image.Image, np.ndarray]:
    """One photograph of a car over a random scene, with its mask.

    Args:
        style: the car.
        view_angle: the car's turn about its vertical axis, in radians (0: side view, nose right).
        w: image width in pixels.
        h: image height in pixels.
        rng: the random generator of the scene, placement, lighting and noise.

    Returns:
        (RGB image of size w x h, boolean mask (h, w): True where the car covers at least half
        the pixel).
    """
    scene = _background(rng, w * SUPERSAMPLE, h * SUPERSAMPLE)
    car, cover, shadow = _render_car(style, view_angle, w, h, rng)
    shade = Image.new("L", scene.size, 0)
    ImageDraw.Draw(shade).ellipse(shadow, fill=int(rng.uniform(90, 180)))
    shade = shade.filter(ImageFilter.GaussianBlur(3 * SUPERSAMPLE))
    scene = Image.composite(Image.new("RGB", scene.size), scene, shade)
    scene = Image.composite(car, scene, cover)
    scene = scene.resize((w, h), Image.BOX)
    coverage = np.asarray(cover.resize((w, h), Image.BOX))
    img = np.asarray(scene, np.float32)
    # Lighting gradient in a random direction, then sensor noise.
    yy, xx = np.mgrid[0:h, 0:w]
    angle = rng.uniform(0, 2 * math.pi)
    g = (math.cos(angle) * xx / w + math.sin(angle) * yy / h)
    g = (g - g.min()) / max(g.max() - g.min(), 1e-6)
    light = rng.uniform(0.55, 0.9) + g * rng.uniform(0.2, 0.6)
    img = img * light[..., None] + rng.normal(0, rng.uniform(2, 9), size=img.shape)
    return Image.fromarray(np.uint8(np.clip(img, 0, 255))), coverage >= 128


def car_id(rng: np.random.Generator) -> str:
    """A Carvana-like car id: 12 hex digits.

    Args:
        rng: the random generator to draw the digits from.

    Returns:
        The id, e.g. "0cdf5b5d0ce1".
    """
    return "".join(rng.choice(list("0123456789abcdef"), size=12))


def save_mask_gif(path: str | Path, mask: np.ndarray) -> None:
    """Write a boolean mask as a palette GIF with indices 0/1 (black/white), like Carvana's.

    Args:
        path: the GIF file (written atomically, folders created).
        mask: (H, W) boolean or 0/1 array.
    """
    img = Image.fromarray(np.asarray(mask, np.uint8), mode="P")
    img.putpalette([0, 0, 0, 255, 255, 255] + [0, 0, 0] * 254)
    atomic_write_bytes(path, lambda tmp: img.save(tmp, format="GIF"))


def generate(out_dir: str | Path, cars: int = 48, views: int = 16, width: int = 240, height: int = 160,
             seed: int = 0, quality: int = 90) -> list[str]:
    """Write `cars` synthetic cars x `views` views into out_dir/imgs and out_dir/masks.

    Cars are drawn from seed-derived generators, so the first k cars of a bigger set are the
    same as those of a smaller one. Also writes out_dir/synthetic.json with the arguments.

    Args:
        out_dir: the folder that receives imgs/<id>.jpg, masks/<id>_mask.gif and synthetic.json.
        cars: number of cars.
        views: views per car, evenly spaced around it (Carvana: 16).
        width: image width in pixels.
        height: image height in pixels.
        seed: the seed of the whole set.
        quality: JPEG quality of the images.

    Returns:
        The image ids (<carid>_<view:02d>), car by car.

    Raises:
        ValueError: on fewer than 1 car or view, or an image smaller than 8 x 8 pixels.
    """
    out_dir = Path(out_dir)
    if cars < 1 or views < 1 or width < 8 or height < 8:
        raise ValueError("need at least 1 car, 1 view and an image of at least 8 x 8 pixels")
    ids = []
    for index in range(cars):
        rng = np.random.default_rng([seed, index])
        cid, style = car_id(rng), random_style(rng)
        phase = rng.uniform(0, 2 * math.pi / views)
        for view in range(1, views + 1):
            image_id = f"{cid}_{view:02d}"
            angle = phase + 2 * math.pi * (view - 1) / views
            img, mask = render_view(style, angle, width, height, rng)
            atomic_write_bytes(out_dir / "imgs" / f"{image_id}.jpg",
                               lambda tmp, img=img: img.save(tmp, format="JPEG", quality=quality))
            save_mask_gif(out_dir / "masks" / f"{image_id}_mask.gif", mask)
            ids.append(image_id)
    write_text(out_dir / "synthetic.json", json.dumps(
        {"cars": cars, "views": views, "width": width, "height": height, "seed": seed, "images": len(ids)},
        indent=2) + "\n")
    return ids
