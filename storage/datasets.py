"""Training-set snapshots under POSTATLAS_HOME/datasets/<name>/: the posts as Parquet, metadata and features."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from storage.home import Home

POSTS, META = "posts.parquet", "meta.json"


def write_dataset(home: Home, name: str, posts: pa.Table, meta: dict[str, Any]) -> Path:
    """Write the snapshot `name` whole (a temporary folder renamed into place); an existing one is kept as is."""
    directory = home.datasets / name
    if (directory / META).exists():
        return directory
    partial = directory.with_name(f"{directory.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    pq.write_table(posts, partial / POSTS, compression="zstd")
    (partial / META).write_text(json.dumps(meta, indent=2, sort_keys=True))
    try:
        os.replace(partial, directory)
    except OSError:  # another run wrote the same snapshot first
        shutil.rmtree(partial, ignore_errors=True)
    return directory


def read_dataset(directory: Path) -> tuple[pa.Table, dict[str, Any]]:
    """A snapshot's posts and metadata."""
    if not (directory / META).exists():
        raise FileNotFoundError(f"no dataset snapshot at {directory}: rerun the training flow")
    return pq.read_table(directory / POSTS), json.loads((directory / META).read_text())


def cached_array(directory: Path, name: str) -> np.ndarray | None:
    """An array saved next to the snapshot, memory-mapped, or None."""
    path = directory / f"{name}.npy"
    return np.load(path, mmap_mode="r") if path.exists() else None


def save_array(directory: Path, name: str, array: np.ndarray) -> np.ndarray:
    """Save next to the snapshot (atomically) and return the array memory-mapped from disk."""
    path = directory / f"{name}.npy"
    partial = directory / f"{name}.partial-{os.getpid()}.npy"
    np.save(partial, np.ascontiguousarray(array))
    os.replace(partial, path)
    return np.load(path, mmap_mode="r")
