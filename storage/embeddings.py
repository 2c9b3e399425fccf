"""Post embeddings as Parquet under POSTATLAS_HOME/embeddings/<model_id>/, exposed as the warehouse view `embeddings`.

Each `postatlas embed` run adds one file per model holding only posts that model had not embedded yet; a file is
written under a temporary name and renamed into place, so a killed run leaves the whole file or nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from storage.home import Home

PART_SUFFIX = ".parquet"
EMPTY = ("(SELECT NULL::VARCHAR AS post_id, NULL::VARCHAR AS model_id, NULL::FLOAT[] AS vector, "
         "NULL::VARCHAR AS run_id WHERE false)")


def _pattern(home: Home) -> str:
    return str(home.embeddings / "*" / f"*{PART_SUFFIX}").replace("'", "''")


def has_parts(home: Home) -> bool:
    """Whether any model has embeddings on disk."""
    return any(home.embeddings.glob(f"*/*{PART_SUFFIX}"))


def refresh_view(con: duckdb.DuckDBPyConnection, home: Home) -> None:
    """Point the view `embeddings` (post_id, model_id, vector, run_id) at the Parquet files now present."""
    source = f"read_parquet('{_pattern(home)}', union_by_name = true)" if has_parts(home) else EMPTY
    con.execute(f"CREATE OR REPLACE VIEW embeddings AS SELECT post_id, model_id, vector, run_id FROM {source}")


def part_names(home: Home, model_id: str) -> set[str]:
    """The file names of a model's finished Parquet parts."""
    return {part.name for part in (home.embeddings / model_id).glob(f"*{PART_SUFFIX}")}


def embedded_post_ids(home: Home, model_id: str, only_parts: set[str] | None = None) -> set[str]:
    """The posts this model has embedded (read from its Parquet files; only `only_parts` when given)."""
    folder = home.embeddings / model_id
    parts = sorted(folder.glob(f"*{PART_SUFFIX}"))
    if only_parts is not None:
        parts = [part for part in parts if part.name in only_parts]
    if not parts:
        return set()
    return set(pa.concat_tables(pq.read_table(part, columns=["post_id"]) for part in parts)
               .column("post_id").to_pylist())


def write_part(home: Home, model_id: str, run_id: str, post_ids: list[str], vectors: np.ndarray) -> Path | None:
    """Write one Parquet file of new embeddings, named by its posts (a retry never replaces another run's file);
    returns its path, None when there is nothing new."""
    if not post_ids:
        return None
    folder = home.embeddings / model_id
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
    digest = hashlib.blake2b("\0".join(post_ids).encode(), digest_size=8).hexdigest()
    path = folder / f"part-{digest}{PART_SUFFIX}"
    partial = folder / f".part-{digest}.{os.getpid()}.partial"
    pq.write_table(table, partial, compression="zstd")
    os.replace(partial, path)
    return path


def drop_model(home: Home, model_id: str) -> None:
    """Remove a model's embeddings (its weights were retrained: the old vectors no longer belong to it)."""
    shutil.rmtree(home.embeddings / model_id, ignore_errors=True)
