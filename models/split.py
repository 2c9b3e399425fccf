"""Deterministic train / validation / test split by hashed post_id (paper 001: 80 / 5 / 15)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.80, 0.05, 0.15)


def split_fraction(post_id: str, salt: str = "") -> float:
    """A number in [0, 1) fixed by the post id alone, so a post never changes side between runs."""
    digest = hashlib.blake2b(f"{salt}{post_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def assign_splits(
    post_ids: Iterable[str], fractions: tuple[float, float, float] = DEFAULT_FRACTIONS, salt: str = ""
) -> np.ndarray:
    """The split name of every post id, as an array of "train" / "val" / "test"."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"split fractions must be three non-negative numbers adding up to 1, got {fractions}")
    positions = np.fromiter((split_fraction(p, salt) for p in post_ids), dtype=np.float64)
    edges = np.cumsum(fractions)[:2]
    return np.asarray(SPLITS, dtype=object)[np.searchsorted(edges, positions, side="right")]
