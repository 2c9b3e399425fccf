"""Images of the media store decoded once into fixed-size uint8 arrays, cached on disk as memory-mapped .npy files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from storage.home import Home

CHUNK = 512


def decode_square(path: Path, size: int, channels: int) -> np.ndarray | None:
    """The image centre-cropped to a square and resized to size x size, as (channels, size, size) uint8.

    None when the file is missing or cannot be decoded (the caller marks the post as having no image).
    """
    try:
        with Image.open(path) as image:
            image.draft("RGB" if channels == 3 else "L", (size * 2, size * 2))
            image = ImageOps.exif_transpose(image).convert("RGB" if channels == 3 else "L")
            square = ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    pixels = np.asarray(square, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def decode_rgb(path: Path, max_side: int = 1280) -> np.ndarray | None:
    """The image as (height, width, 3) uint8 RGB, shrunk to at most max_side pixels; None when it cannot be read."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (max_side, max_side))
            image = ImageOps.exif_transpose(image).convert("RGB")
            image.thumbnail((max_side, max_side))
            return np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def full_images(home: Home, relative_paths: Sequence[str], max_side: int = 1280) -> list[np.ndarray | None]:
    """Each image whole (see decode_rgb), decoded on a few threads; None for one that cannot be read."""
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda path: decode_rgb(home.path(path), max_side), relative_paths))


def _cache_key(paths: Sequence[str | None], size: int, channels: int) -> str:
    digest = hashlib.blake2b(f"{size}:{channels}".encode(), digest_size=12)
    for path in paths:
        digest.update(b"\0" + (path or "").encode())
    return digest.hexdigest()


def image_array(
    home: Home,
    relative_paths: Sequence[str | None],
    size: int,
    channels: int,
    cache: bool = False,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(pixels (n, channels, size, size) uint8 memory map, present bool (n,)) for media paths relative to home.

    A path of None, a missing file or a corrupt image gives a zero image and present False. With `cache` the arrays
    are kept in the home's image cache by the list of paths and the shape, so every later call (and every model)
    reuses them; without it they are decoded into memory (prediction streams posts chunk by chunk that way).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (colour), got {channels}")
    if not cache:
        pixels = np.zeros((len(relative_paths), channels, size, size), dtype=np.uint8)
        present = _decode_into(home, relative_paths, size, channels, pixels, progress)
        return pixels, present
    cache_dir = home.image_cache
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _cache_key(relative_paths, size, channels)
    pixels_file, present_file = cache_dir / f"images-{key}.npy", cache_dir / f"present-{key}.npy"
    if pixels_file.exists() and present_file.exists():
        return np.load(pixels_file, mmap_mode="r"), np.load(present_file)
    count = len(relative_paths)
    partial = cache_dir / f"images-{key}.npy.partial-{os.getpid()}"
    pixels = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(count, channels, size, size))
    present = _decode_into(home, relative_paths, size, channels, pixels, progress)
    pixels.flush()
    del pixels
    np.save(present_file.with_suffix(".partial.npy"), present)
    os.replace(partial, pixels_file)
    os.replace(present_file.with_suffix(".partial.npy"), present_file)
    return np.load(pixels_file, mmap_mode="r"), present


def _decode_into(
    home: Home, relative_paths: Sequence[str | None], size: int, channels: int, pixels: np.ndarray, progress: bool
) -> np.ndarray:
    """Decode every image into its row of `pixels`; returns which rows hold an image."""
    count = len(relative_paths)
    present = np.zeros(count, dtype=bool)

    def decode(index: int) -> tuple[int, np.ndarray | None]:
        path = relative_paths[index]
        return index, decode_square(home.path(path), size, channels) if path else None

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        bar = tqdm(total=count, desc=f"decoding images {size}px", unit="img", disable=None if progress else True, leave=False)
        for begin in range(0, count, CHUNK):
            for index, decoded in pool.map(decode, range(begin, min(begin + CHUNK, count))):
                if decoded is not None:
                    pixels[index], present[index] = decoded, True
            bar.update(min(CHUNK, count - begin))
        bar.close()
    return present
