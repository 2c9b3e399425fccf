"""Near-duplicate images: 64-bit perceptual hashes parsed from hex, and a greedy search by multi-index hashing."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.filters.arrays import as_numpy

_PHASH_HEX_DIGITS = 16
_PHASH_CHUNKS = ((0, 21), (21, 21), (42, 22))
_HEX_VALUE = np.full(256, 255, dtype=np.uint8)
_HEX_VALUE[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX_VALUE[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_HEX_VALUE[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)


def parse_phash(hex_hashes: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """64-bit hashes (uint64) from 16-digit hex strings, as imagehash's ``str(phash)`` writes them."""
    values = pa.chunked_array([hex_hashes]) if isinstance(hex_hashes, pa.Array) else hex_hashes
    values = values.combine_chunks()
    if len(values) == 0:
        return np.zeros(0, dtype=np.uint64)
    if values.null_count or (as_numpy(pc.binary_length(values)) != _PHASH_HEX_DIGITS).any():
        raise ValueError(f"image_phash must be {_PHASH_HEX_DIGITS} hex digits (a 64-bit phash)")
    first_byte = int(np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset])
    raw = np.frombuffer(values.buffers()[2], dtype=np.uint8)[first_byte : first_byte + len(values) * _PHASH_HEX_DIGITS]
    digits = _HEX_VALUE[raw].reshape(-1, _PHASH_HEX_DIGITS)
    if (digits > 15).any():
        raise ValueError("image_phash must be hexadecimal")
    shifts = np.arange(4 * (_PHASH_HEX_DIGITS - 1), -1, -4, dtype=np.uint64)
    return np.bitwise_or.reduce(digits.astype(np.uint64) << shifts, axis=1)


def greedy_near_duplicates(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """For hashes in time order: -1 if kept, else the index of the earlier kept hash within max_distance."""
    distinct, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    by_time = np.argsort(first)
    first = first[by_time]
    rank = np.empty_like(by_time)
    rank[by_time] = np.arange(len(by_time))
    rank = rank[inverse]
    kept = [True] * len(distinct)
    dropped_by = [-1] * len(distinct)
    for a, b in zip(*_near_pairs(distinct[by_time], max_distance), strict=True):
        if kept[b] and kept[a]:
            kept[b], dropped_by[b] = False, a
    kept_rank, dropper = np.array(kept, dtype=bool)[rank], np.array(dropped_by, dtype=np.int64)[rank]
    repeat = first[rank] != np.arange(len(hashes))
    by = np.where(repeat & kept_rank, rank, dropper)
    return np.where(by >= 0, first[np.maximum(by, 0)], -1)


def _near_pairs(hashes: np.ndarray, max_distance: int) -> tuple[list[int], list[int]]:
    """Pairs (a, b), a < b, of distinct hashes within max_distance bits, sorted by b then a (multi-index hashing)."""
    radius = -(-(max_distance + 1) // len(_PHASH_CHUNKS)) - 1
    found = []
    for shift, width in _PHASH_CHUNKS:
        keys = ((hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        count = np.bincount(keys, minlength=1 << width)
        start = np.cumsum(count) - count
        for flip in _flips(width, radius):
            probe = keys ^ flip
            n = count[probe]
            a = np.repeat(np.arange(len(hashes)), n)
            b = order[np.repeat(start[probe], n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)]
            close = (a < b) & (np.bitwise_count(hashes[a] ^ hashes[b]) <= max_distance)
            found.append(b[close] * len(hashes) + a[close])
    pairs = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
    return (pairs % max(len(hashes), 1)).tolist(), (pairs // max(len(hashes), 1)).tolist()


def _flips(width: int, radius: int) -> list[int]:
    """All bit masks of ``width`` bits with at most ``radius`` bits set."""
    return [sum(1 << bit for bit in bits) for r in range(radius + 1) for bits in combinations(range(width), r)]


def neighbour_probes(hashes: np.ndarray, max_distance: int) -> dict[str, np.ndarray]:
    """What a table of hashes must be joined on to find every hash within ``max_distance`` bits of ``hashes``:
    per probe the chunk's shift and mask, the chunk value to match and the hash it probes for (multi-index
    hashing: two hashes within the distance agree on some chunk up to ``radius`` flipped bits)."""
    radius = -(-(max_distance + 1) // len(_PHASH_CHUNKS)) - 1
    shift, mask, key, seed = [], [], [], []
    for chunk_shift, width in _PHASH_CHUNKS:
        chunk = (hashes >> np.uint64(chunk_shift)) & np.uint64((1 << width) - 1)
        flips = np.array(_flips(width, radius), dtype=np.uint64)
        probed = (chunk[:, None] ^ flips[None, :]).ravel()
        key.append(probed)
        seed.append(np.repeat(hashes, len(flips)))
        shift.append(np.full(len(probed), chunk_shift, dtype=np.int64))
        mask.append(np.full(len(probed), (1 << width) - 1, dtype=np.uint64))
    return {name: np.concatenate(parts) if parts else np.zeros(0, np.uint64)
            for name, parts in (("shift", shift), ("mask", mask), ("key", key), ("seed", seed))}
