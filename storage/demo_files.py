"""Writing generated files (the embedded demo dataset) to disk, once per folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path


def write_files(files: Iterable[tuple[str, bytes]], root: Path) -> Path:
    """Write (relative path, bytes) pairs under ``root`` atomically: a whole folder renamed into place."""
    if root.exists():
        return root
    staging = root.with_name(f".{root.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    for relpath, data in files:
        target = staging / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    root.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, root)
    return root
