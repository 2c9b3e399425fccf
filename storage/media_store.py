"""The media store: images verified, hashed (sha256 and a perceptual hash) and kept once by content."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import imagehash
from PIL import Image, UnidentifiedImageError

from storage.home import Home

MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 100_000_000


class MediaError(Exception):
    """An image that cannot be used; ``reason`` is the quarantine reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class StoredImage:
    """An image in the store: content hash, relative path and what PIL read."""

    sha256: str
    path: str
    width: int
    height: int
    mime: str
    phash: str


def _check(source: Path) -> tuple[int, int, str, str]:
    """Width, height, mime and perceptual hash of a fully decodable image, else MediaError."""
    try:
        size = source.stat().st_size
    except OSError as error:
        raise MediaError("missing_image", str(error)) from error
    if size > MAX_IMAGE_BYTES:
        raise MediaError("image_too_large", f"{size} bytes > {MAX_IMAGE_BYTES}")
    try:
        with Image.open(source) as image:
            image.verify()
        with Image.open(source) as image:
            if image.width * image.height > MAX_PIXELS:
                raise MediaError("image_too_large", f"{image.width}x{image.height} pixels")
            image.load()  # raises on truncated data
            mime = Image.MIME.get(image.format or "", "application/octet-stream")
            return image.width, image.height, mime, str(imagehash.phash(image))
    except MediaError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise MediaError("corrupt_image", f"{type(error).__name__}: {error}") from error


def download_image(url: str, session, home: Home, timeout: float = 30.0) -> StoredImage:
    """Fetch ``url`` with ``session`` (a requests.Session), then verify and store it like a local image."""
    response = session.get(url, timeout=timeout, stream=True)
    if response.status_code != 200:
        raise MediaError("image_unavailable", f"HTTP {response.status_code} for {url}")
    data = bytearray()
    for chunk in response.iter_content(1 << 16):
        data.extend(chunk)
        if len(data) > MAX_IMAGE_BYTES:
            raise MediaError("image_too_large", f"more than {MAX_IMAGE_BYTES} bytes at {url}")
    suffix = Path(urlparse(url).path).suffix.lower() or ".jpg"
    # the pid in the name lets the next run sweep it when this process is killed (storage/leftovers.py)
    with tempfile.NamedTemporaryFile(prefix=f".download.{os.getpid()}.", suffix=suffix, dir=home.root,
                                     delete=False) as handle:
        handle.write(data)
    try:
        return store_image(Path(handle.name), home)
    finally:
        os.unlink(handle.name)


def store_image(source: Path, home: Home) -> StoredImage:
    """Verify ``source`` and copy it into ``media/<aa>/<sha256><ext>`` (once per content)."""
    width, height, mime, phash = _check(source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    relative = Path("media") / digest[:2] / f"{digest}{source.suffix.lower() or '.img'}"
    target = home.path(relative)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    return StoredImage(digest, relative.as_posix(), width, height, mime, phash)


def find_local_copy(url: str | None, media_dirs: tuple[Path, ...]) -> str | None:
    """A downloaded copy of a remote image: a file named like the URL's last path segment in a media dir."""
    if not url or not media_dirs:
        return None
    name = Path(urlparse(url).path).name
    for folder in media_dirs:
        candidate = folder / name
        if name and candidate.is_file():
            return str(candidate)
    return None
