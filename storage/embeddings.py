"""Post embeddings as Parquet under POSTATLAS_HOME/embeddings/<model_id>/, exposed as the warehouse view `embeddings`.

Each `postatlas embed` run adds one file per model holding only posts that model had not embedded yet; a file is
written under a temporary name and renamed into place, so a killed run leaves the whole file or nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

PART_SUFFIX = ".parquet"


def embeddings_root(home: Path) -> Path:
    return home / "embeddings"


def _pattern(home: Path) -> str:
    return str(embeddings_root(home) / "*" / f"*{PART_SUFFIX}").replace("'", "''")


def has_parts(home: Path) -> bool:
    return any(embeddings_root(home).glob(f"*/*{PART_SUFFIX}"))


def refresh_view(con: duckdb.DuckDBPyConnection, home: Path) -> None:
    """Point the view `embeddings` (post_id, model_id, vector, run_id) at the Parquet files now present."""
    if has_parts(home):
        con.execute(
            "CREATE OR REPLACE VIEW embeddings AS SELECT post_id, model_id, vector, run_id "
            f"FROM read_parquet('{_pattern(home)}', union_by_name = true)"
        )


def embedded_post_ids(home: Path, model_id: str) -> set[str]:
    """The posts this model has embedded already (read from its Parquet files, no warehouse needed)."""
    folder = embeddings_root(home) / model_id
    if not any(folder.glob(f"*{PART_SUFFIX}")):
        return set()
    return set(_read_parts(folder, ["post_id"]).column("post_id").to_pylist())


def _read_parts(folder: Path, columns: list[str]) -> pa.Table:
    parts = sorted(folder.glob(f"*{PART_SUFFIX}"))
    return pa.concat_tables(pq.read_table(part, columns=columns) for part in parts)


def write_part(home: Path, model_id: str, run_id: str, post_ids: list[str], vectors: np.ndarray) -> Path | None:
    """Write one Parquet file of new embeddings; returns its path (None when there is nothing new)."""
    if not post_ids:
        return None
    folder = embeddings_root(home) / model_id
    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    flat = pa.array(vectors.reshape(-1), pa.float32())
    offsets = pa.array(np.arange(0, vectors.size + 1, vectors.shape[1], dtype=np.int32))
    table = pa.table({
        "post_id": pa.array(post_ids, pa.string()),
        "model_id": pa.array([model_id] * len(post_ids), pa.string()),
        "vector": pa.ListArray.from_arrays(offsets, flat),
        "run_id": pa.array([run_id] * len(post_ids), pa.string()),
    })
    path = folder / f"part-{run_id}{PART_SUFFIX}"
    partial = folder / f".part-{run_id}.{os.getpid()}.partial"
    pq.write_table(table, partial, compression="zstd")
    os.replace(partial, path)
    return path


def read_vectors(home: Path, model_id: str, post_ids: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """(post_ids, n x d float32) of a model's embeddings, in post_id order; only `post_ids` when given."""
    folder = embeddings_root(home) / model_id
    if not any(folder.glob(f"*{PART_SUFFIX}")):
        return [], np.zeros((0, 0), dtype=np.float32)
    table = _read_parts(folder, ["post_id", "vector"])
    if post_ids is not None:
        table = table.filter(pc.is_in(table.column("post_id"), pa.array(post_ids, pa.string())))
    table = table.sort_by("post_id")
    vectors = table.column("vector").combine_chunks()
    width = len(vectors[0]) if len(vectors) else 0
    flat = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return table.column("post_id").to_pylist(), flat.reshape(len(vectors), width)
