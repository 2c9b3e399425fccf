"""The pictures: a scene per topic painted from the image's seed, as JPEG bytes (near-duplicates, cut files)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from tasks.demo.model import PlannedImage

Color = tuple[int, int, int]
Box = tuple[float, float, float, float]


def _jitter(rng: np.random.Generator, color: Color, amount: int = 18) -> Color:
    """``color`` with each channel moved by up to ``amount``."""
    red, green, blue = (int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)
    return red, green, blue


def _disc(x: float, y: float, r: float) -> Box:
    """The bounding box of the circle of radius ``r`` around (``x``, ``y``)."""
    return x - r, y - r, x + r, y + r


def _paint_food(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """A plate on a wooden table with warm-coloured food."""
    draw.rectangle((0, 0, w, h), fill=_jitter(rng, (118, 78, 48)))
    for _ in range(int(rng.integers(2, 6))):
        y = int(rng.integers(0, h))
        draw.line((0, y, w, y + int(rng.integers(-8, 9))), fill=_jitter(rng, (92, 58, 34)), width=2)
    for _ in range(int(rng.integers(0, 3))):  # glasses and small dishes around the plate
        gx, gy, gr = w * rng.uniform(0, 1), h * rng.uniform(0, 1), min(w, h) * rng.uniform(0.06, 0.16)
        colour = ((200, 60, 70), (230, 220, 190))[int(rng.integers(2))]
        draw.ellipse(_disc(gx, gy, gr), fill=_jitter(rng, colour))
    if rng.random() < 0.5:
        nx, ny = w * rng.uniform(0, 0.8), h * rng.uniform(0, 0.8)
        napkin = (nx, ny, nx + w * rng.uniform(0.15, 0.3), ny + h * rng.uniform(0.2, 0.4))
        draw.rectangle(napkin, fill=_jitter(rng, (226, 226, 236)))
    cx, cy = w * rng.uniform(0.22, 0.78), h * rng.uniform(0.22, 0.78)
    r = min(w, h) * rng.uniform(0.2, 0.45)
    draw.ellipse(_disc(cx, cy, r), fill=_jitter(rng, (238, 228, 206)))
    palette = ((226, 120, 34), (196, 46, 32), (240, 196, 60), (150, 86, 40), (96, 146, 52))
    for _ in range(int(rng.integers(3, 8))):
        bx, by = cx + rng.uniform(-0.55, 0.55) * r, cy + rng.uniform(-0.55, 0.55) * r
        br = r * rng.uniform(0.12, 0.35)
        blob = (bx - br, by - br * rng.uniform(0.6, 1.0), bx + br, by + br)
        draw.ellipse(blob, fill=_jitter(rng, palette[int(rng.integers(5))]))


def _paint_beach(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """Sky, sea and a sloping shore, a sun, clouds, boats, towels and umbrellas."""
    horizon = h * rng.uniform(0.2, 0.55)
    left, right = horizon + h * rng.uniform(0.08, 0.35), horizon + h * rng.uniform(0.08, 0.35)
    draw.rectangle((0, 0, w, h), fill=_jitter(rng, (112, 182, 234)))
    draw.rectangle((0, horizon, w, h), fill=_jitter(rng, (26, 112, 170)))
    draw.polygon([(0, left), (w, right), (w, h), (0, h)], fill=_jitter(rng, (232, 210, 160)))
    sx, sy, sr = w * rng.uniform(0.05, 0.95), horizon * rng.uniform(0.15, 0.7), min(w, h) * rng.uniform(0.05, 0.14)
    draw.ellipse(_disc(sx, sy, sr), fill=_jitter(rng, (255, 228, 120), 10))
    for _ in range(int(rng.integers(0, 4))):
        cx, cy, cr = rng.uniform(0, w), rng.uniform(0, horizon * 0.8), rng.uniform(4, w * 0.18)
        draw.ellipse((cx - cr, cy - cr / 2.5, cx + cr, cy + cr / 2.5), fill=_jitter(rng, (245, 248, 252), 8))
    for _ in range(int(rng.integers(0, 3))):
        bx, by = rng.uniform(0, w), rng.uniform(horizon + 2, min(left, right))
        draw.polygon([(bx, by), (bx + 6, by), (bx + 3, by - 8)], fill=(250, 250, 250))
    for _ in range(int(rng.integers(0, 5))):
        colour = ((220, 40, 40), (250, 200, 30), (40, 160, 220), (240, 120, 180))[int(rng.integers(4))]
        ux, uy, ur = w * rng.uniform(0.05, 0.95), rng.uniform(max(left, right), h), min(w, h) * rng.uniform(0.06, 0.2)
        if rng.random() < 0.5:
            draw.pieslice(_disc(ux, uy, ur), 180, 360, fill=_jitter(rng, colour))
        else:
            draw.rectangle((ux - ur, uy - ur / 3, ux + ur, uy + ur / 3), fill=_jitter(rng, colour))


def _paint_football(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """A striped pitch with white lines, a ball and blaugrana shirts."""
    stripes = int(rng.integers(3, 9))
    light, dark = _jitter(rng, (62, 162, 64)), _jitter(rng, (44, 134, 50))
    vertical = rng.random() < 0.5
    for i in range(stripes):
        a, b = i * (w if vertical else h) / stripes, (i + 1) * (w if vertical else h) / stripes
        draw.rectangle((a, 0, b, h) if vertical else (0, a, w, b), fill=light if i % 2 else dark)
    white = _jitter(rng, (240, 240, 240), 10)
    inset = int(rng.integers(3, 10))
    draw.rectangle((inset, inset, w - inset, h - inset), outline=white, width=2)
    cx, cy, cr = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7), min(w, h) * rng.uniform(0.12, 0.25)
    draw.line((cx, 0, cx, h) if rng.random() < 0.5 else (0, cy, w, cy), fill=white, width=2)
    draw.ellipse(_disc(cx, cy, cr), outline=white, width=2)
    bx, by, br = w * rng.uniform(0.1, 0.9), h * rng.uniform(0.1, 0.9), min(w, h) * rng.uniform(0.05, 0.09)
    draw.ellipse(_disc(bx, by, br), fill=(250, 250, 250))
    draw.ellipse(_disc(bx, by, br / 3), fill=(20, 20, 20))
    for _ in range(int(rng.integers(0, 4))):
        px, py = w * rng.uniform(0.05, 0.9), h * rng.uniform(0.05, 0.8)
        colour = ((165, 0, 68), (0, 77, 152))[int(rng.integers(2))]
        draw.rectangle((px, py, px + w * 0.06, py + h * 0.14), fill=_jitter(rng, colour, 12))


def _paint_architecture(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """Pale sky and stone / terracotta buildings with windows and spires."""
    draw.rectangle((0, 0, w, h), fill=_jitter(rng, (188, 208, 228)))
    palette = ((204, 172, 128), (182, 96, 62), (150, 150, 150), (220, 200, 170))
    x = -rng.uniform(0, w * 0.2)
    while x < w:
        width, top = w * rng.uniform(0.18, 0.45), h * rng.uniform(0.15, 0.55)
        draw.rectangle((x, top, x + width, h), fill=_jitter(rng, palette[int(rng.integers(4))]))
        if rng.random() < 0.4:
            draw.polygon([(x + width * 0.3, top), (x + width * 0.5, top - h * rng.uniform(0.1, 0.25)),
                          (x + width * 0.7, top)], fill=_jitter(rng, (170, 140, 100)))
        step = rng.uniform(7, 13)
        window = _jitter(rng, (60, 60, 72), 12)
        for wy in np.arange(top + 4, h - 6, step):
            for wx in np.arange(x + 3, x + width - 5, step):
                draw.rectangle((wx, wy, wx + step * 0.45, wy + step * 0.6), fill=window)
        x += width + rng.uniform(0, w * 0.05)


def _paint_nightlife(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """A dark room with neon lights and laser beams."""
    draw.rectangle((0, 0, w, h), fill=_jitter(rng, (18, 10, 34), 8))
    palette = ((255, 40, 200), (40, 230, 255), (150, 60, 255), (255, 220, 60))
    ox, oy = w * rng.uniform(0.2, 0.8), h * rng.uniform(0.0, 0.3)
    for _ in range(int(rng.integers(2, 6))):
        draw.line((ox, oy, rng.uniform(0, w), h), fill=_jitter(rng, palette[int(rng.integers(4))], 20), width=1)
    for _ in range(int(rng.integers(6, 15))):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(2, min(w, h) * 0.12)
        colour = _jitter(rng, palette[int(rng.integers(4))], 20)
        if rng.random() < 0.5:
            draw.ellipse(_disc(x, y, r), fill=colour)
        else:
            draw.ellipse(_disc(x, y, r), outline=colour, width=2)


def _paint_nature(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """Sky, grey mountains and a dark green forest of triangular trees."""
    horizon = h * rng.uniform(0.3, 0.55)
    draw.rectangle((0, 0, w, h), fill=_jitter(rng, (150, 198, 236)))
    for _ in range(int(rng.integers(1, 3))):
        peak = rng.uniform(0, w)
        top = horizon - h * rng.uniform(0.1, 0.3)
        mountain = [(peak - w * 0.6, horizon), (peak, top), (peak + w * 0.6, horizon)]
        draw.polygon(mountain, fill=_jitter(rng, (112, 124, 128)))
    draw.rectangle((0, horizon, w, h), fill=_jitter(rng, (34, 86, 40)))
    greens = ((22, 80, 34), (38, 104, 44), (56, 120, 52))
    for _ in range(int(rng.integers(5, 14))):
        tx, base = rng.uniform(0, w), rng.uniform(horizon, h * 1.05)
        size = h * rng.uniform(0.12, 0.3)
        draw.rectangle((tx - 1.5, base - size * 0.3, tx + 1.5, base), fill=_jitter(rng, (90, 60, 30), 10))
        crown = [(tx - size * 0.35, base - size * 0.25), (tx, base - size), (tx + size * 0.35, base - size * 0.25)]
        draw.polygon(crown, fill=_jitter(rng, greens[int(rng.integers(3))]))


PAINTERS = {
    "food": _paint_food, "beach": _paint_beach, "football": _paint_football,
    "architecture": _paint_architecture, "nightlife": _paint_nightlife, "nature": _paint_nature,
}


def _render(image: PlannedImage) -> Image.Image:
    """The picture of ``image``'s topic for its seed: shapes, then pixel noise (no two are identical)."""
    rng = np.random.default_rng(image.seed)
    canvas = Image.new("RGB", (image.width, image.height))
    PAINTERS[image.topic](ImageDraw.Draw(canvas), rng, image.width, image.height)
    pixels = np.asarray(canvas, dtype=np.float32) + rng.normal(0.0, 6.0, (image.height, image.width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _jpeg(picture: Image.Image, quality: int) -> bytes:
    """JPEG bytes of ``picture``."""
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def image_bytes(image: PlannedImage, cache: dict[int, bytes]) -> bytes:
    """The file content of ``image`` (a near-duplicate re-renders its source, then changes it slightly)."""
    if id(image) in cache:
        return cache[id(image)]
    picture = _render(image.source or image)
    quality = image.quality
    if picture.size != (image.width, image.height):  # change == "resize": a smaller re-upload
        picture = picture.resize((image.width, image.height))
    if image.change == "reencode":
        quality = max(50, quality - 30)
    elif image.change == "brighten":
        picture = Image.fromarray(np.clip(np.asarray(picture, dtype=np.int16) + 12, 0, 255).astype(np.uint8))
    data = _jpeg(picture, quality)
    if image.corrupt:
        data = data[: len(data) // 3]  # an interrupted download: header fine, scan data cut
    cache[id(image)] = data
    return data
