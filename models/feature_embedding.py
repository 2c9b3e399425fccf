"""The frozen encoders' features as a clustering embedding: `features:e5-small+efficientnet-lite0`.

Each encoder's vectors form one block. A block is balanced on its own before the blocks are put side by side:
every vector is L2-normalised (the encoders' scales differ by orders of magnitude), the block is centred on the mean
of the posts that have it, then scaled so that its total variance over those posts is 1. Each block then adds, on
average, as much to the squared distances as any other, whatever its number of dimensions (1,280 for the image
encoder, 384 for the text ones). A post without a block (no image, no text, an unreadable image) sits at that
block's mean: the block adds nothing to tell it apart.

The clusterer must not standardise feature by feature afterwards (that would weigh each block by its number of
dimensions again): the default method is run with `standardise=False` on these vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.encoder_registry import ENCODERS, spec

PREFIX = "features:"


def is_feature_embedding(name: str | None) -> bool:
    """Whether an embedding name means the feature store's vectors (`features:...`), not a trained model's."""
    return name is not None and name.startswith(PREFIX)


def parse_feature_embedding(name: str) -> tuple[str, ...]:
    """'features:e5-small+efficientnet-lite0' -> ('e5-small', 'efficientnet-lite0'); a ValueError naming the
    frozen encoders when a part is unknown, trained, repeated or missing."""
    if not is_feature_embedding(name):
        raise ValueError(f"a feature embedding is named {PREFIX}ENCODER[+ENCODER...], got {name!r}")
    names = tuple(part.strip() for part in name[len(PREFIX):].split("+"))
    frozen = ", ".join(n for n, s in ENCODERS.items() if s.frozen)
    if not names or any(not part for part in names):
        raise ValueError(f"no encoder named in {name!r}; frozen encoders: {frozen}")
    for part in names:
        if part not in ENCODERS or not spec(part).frozen:
            raise ValueError(f"{part!r} is not a frozen pretrained encoder; choose from {frozen}")
    if len(set(names)) != len(names):
        raise ValueError(f"encoder named twice in {name!r}")
    return names


def feature_embedding_name(encoders: Sequence[str]) -> str:
    """The name recorded in cluster_runs.model_id: `features:` and the encoders joined by '+'."""
    return PREFIX + "+".join(encoders)


def balance_block(vectors: np.ndarray, present: np.ndarray) -> np.ndarray:
    """One encoder's block, L2-normalised row by row, centred and scaled to total variance 1 over the rows
    present; absent rows (and rows of zeros) are 0, the block's mean. float32."""
    vectors = np.asarray(vectors, dtype=np.float64)
    present = np.asarray(present, dtype=bool)
    out = np.zeros(vectors.shape, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    keep = present & (norms > 0)
    if not keep.any():
        return out
    unit = vectors[keep] / norms[keep, None]
    centred = unit - unit.mean(axis=0)
    total = float(centred.var(axis=0).sum())
    out[keep] = centred / np.sqrt(total) if total > 1e-12 else centred
    return out


def balanced_features(blocks: Sequence[np.ndarray], present: Sequence[np.ndarray]) -> np.ndarray:
    """The blocks balanced one by one (`balance_block`) and concatenated: n x (sum of dimensions), float32."""
    if not blocks:
        raise ValueError("no feature block to combine")
    return np.concatenate([balance_block(b, p) for b, p in zip(blocks, present, strict=True)], axis=1)
