"""Arrow <-> NumPy helpers the filters share."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def contiguous(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One Arrow array: a chunked array's chunks combined, an array as it is."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def as_numpy(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A null-free Arrow array or chunked array as a numpy array."""
    return contiguous(values).to_numpy(zero_copy_only=False)
