"""Append-only Parquet parts of per-post vectors, one folder per key (an embedding model, a frozen encoder).

A part is written under a temporary name and renamed into place, and is named by the digest of its posts, so a
killed run leaves the whole part or nothing and a retried run never writes a second copy of the same batch.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

PART_SUFFIX = ".parquet"


def vector_column(vectors: np.ndarray, missing: np.ndarray | None = None) -> pa.ListArray:
    """(n, d) float32 rows as a list<float> column; rows where `missing` is True become NULL."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    offsets = pa.array(np.arange(len(vectors) + 1, dtype=np.int32) * vectors.shape[1])
    mask = pa.array(missing, pa.bool_()) if missing is not None and bool(np.any(missing)) else None
    return pa.ListArray.from_arrays(offsets, pa.array(vectors.reshape(-1), pa.float32()), mask=mask)


def parts(folder: Path) -> list[Path]:
    """The finished parts in the folder, by name."""
    return sorted(folder.glob(f"*{PART_SUFFIX}"))


def vector_batches(files: list[Path], condition: ds.Expression | None, batch_rows: int
                   ) -> Iterator[tuple[pa.Array, np.ndarray]]:
    """(post ids, (n, d) float32 vectors) of the files' rows matching ``condition``, in batches of one pass over
    them: memory follows the batch, not the files."""
    if not files:
        return
    for batch in ds.dataset([str(path) for path in files], format="parquet").to_batches(
            columns=["post_id", "vector"], filter=condition, batch_size=batch_rows):
        if batch.num_rows:
            flat = pc.list_flatten(batch.column("vector")).to_numpy(zero_copy_only=False)
            yield batch.column("post_id"), flat.reshape(batch.num_rows, -1).astype(np.float32, copy=False)


def glob_pattern(root: Path) -> str:
    """A read_parquet pattern for every part under root's key folders, quoted for SQL."""
    return str(root / "*" / f"*{PART_SUFFIX}").replace("'", "''")


def stored_post_ids(folder: Path, only_parts: set[str] | None = None) -> set[str]:
    """The posts the folder's parts hold (only the parts named in `only_parts` when given)."""
    chosen = [part for part in parts(folder) if only_parts is None or part.name in only_parts]
    if not chosen:
        return set()
    return set(pa.concat_tables(pq.read_table(part, columns=["post_id"]) for part in chosen)
               .column("post_id").to_pylist())


def stored_count(folder: Path) -> int:
    """Rows in the folder's parts, from their footers."""
    return sum(pq.ParquetFile(part).metadata.num_rows for part in parts(folder))


def write_part(folder: Path, table: pa.Table) -> Path | None:
    """Write the rows (a `post_id` column first) as one part named by its posts; None when there are no rows."""
    if table.num_rows == 0:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    post_ids = table.column("post_id").to_pylist()
    name = hashlib.blake2b("\0".join(post_ids).encode(), digest_size=8).hexdigest()
    path = folder / f"part-{name}{PART_SUFFIX}"
    partial = folder / f".part-{name}.{os.getpid()}.partial"
    pq.write_table(table, partial, compression="zstd")
    os.replace(partial, path)
    return path
