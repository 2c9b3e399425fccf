"""Post embeddings as Parquet under POSTATLAS_HOME/embeddings/<model_id>/, exposed as the warehouse view `embeddings`.

Each `postatlas embed` run adds one file per model holding only posts that model had not embedded yet; a file is
written under a temporary name and renamed into place, so a killed run leaves the whole file or nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from storage import vector_parts
from storage.home import Home

EMPTY = ("(SELECT NULL::VARCHAR AS post_id, NULL::VARCHAR AS model_id, NULL::FLOAT[] AS vector, "
         "NULL::VARCHAR AS run_id WHERE false)")


def has_parts(home: Home) -> bool:
    """Whether any model has embeddings on disk."""
    return any(home.embeddings.glob(f"*/*{vector_parts.PART_SUFFIX}"))


def refresh_view(con: duckdb.DuckDBPyConnection, home: Home) -> None:
    """Point the view `embeddings` (post_id, model_id, vector, run_id) at the Parquet files now present."""
    source = (f"read_parquet('{vector_parts.glob_pattern(home.embeddings)}', union_by_name = true)"
              if has_parts(home) else EMPTY)
    con.execute(f"CREATE OR REPLACE VIEW embeddings AS SELECT post_id, model_id, vector, run_id FROM {source}")


def part_names(home: Home, model_id: str) -> set[str]:
    """The file names of a model's finished Parquet parts."""
    return {part.name for part in vector_parts.parts(home.embeddings / model_id)}


def embedded_post_ids(home: Home, model_id: str, only_parts: set[str] | None = None) -> set[str]:
    """The posts this model has embedded (read from its Parquet files; only `only_parts` when given)."""
    return vector_parts.stored_post_ids(home.embeddings / model_id, only_parts)


def write_part(home: Home, model_id: str, run_id: str, post_ids: list[str], vectors: np.ndarray) -> Path | None:
    """Write one Parquet file of new embeddings, named by its posts (a retry never replaces another run's file);
    returns its path, None when there is nothing new."""
    if not post_ids:
        return None
    return vector_parts.write_part(home.embeddings / model_id, pa.table({
        "post_id": pa.array(post_ids, pa.string()),
        "model_id": pa.array([model_id] * len(post_ids), pa.string()),
        "vector": vector_parts.vector_column(vectors),
        "run_id": pa.array([run_id] * len(post_ids), pa.string()),
    }))


def drop_model(home: Home, model_id: str) -> None:
    """Remove a model's embeddings (its weights were retrained: the old vectors no longer belong to it)."""
    shutil.rmtree(home.embeddings / model_id, ignore_errors=True)
