"""Reads and files of paper 001's word space: its posts, cached image vectors, report paths."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from storage.home import Home
from storage.learning import FIRST_IMAGE
from storage.model_store import model_dir

REPORT_FOLDER = "word-space"


def word_space_posts(con: duckdb.DuckDBPyConnection, curated_only: bool) -> pa.Table:
    """post_id, text, lang, image_path (first stored image, relative to home; NULL without) of the posts with a
    text: the curated posts, or every non-deleted post."""
    source = "curated_posts" if curated_only else "(SELECT * FROM posts WHERE NOT deleted)"
    return con.sql(
        f"""
        WITH {FIRST_IMAGE}
        SELECT p.post_id, p.text, p.lang, i.image_path
        FROM {source} p LEFT JOIN first_image i USING (post_id)
        WHERE p.text IS NOT NULL AND trim(p.text) <> ''
        ORDER BY p.post_id
        """
    ).to_arrow_table()


def report_dir(home: Home) -> Path:
    """home/reports/word-space, created when missing."""
    folder = home.reports / REPORT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _vectors_file(home: Home, model_id: str, post_ids: Sequence[str]) -> Path:
    digest = hashlib.blake2b(digest_size=10)
    for post_id in post_ids:
        digest.update(post_id.encode() + b"\0")
    return model_dir(home, model_id) / f"image-vectors-{digest.hexdigest()}.npy"


def cached_image_vectors(home: Home, model_id: str, post_ids: Sequence[str]) -> np.ndarray | None:
    """The model's image vectors of exactly these posts (in this order) when computed before, else None."""
    path = _vectors_file(home, model_id, post_ids)
    return np.load(path, allow_pickle=False) if path.exists() else None


def save_image_vectors(home: Home, model_id: str, post_ids: Sequence[str], vectors: np.ndarray) -> Path:
    """Keep the vectors next to the model, keyed by the post id list (written whole or not at all)."""
    path = _vectors_file(home, model_id, post_ids)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.partial-{os.getpid()}.npy")
    np.save(partial, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
    os.replace(partial, path)
    return path
