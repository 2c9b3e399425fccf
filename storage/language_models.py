"""Language model files: the one shipped with postatlas (fitted on TweetLID by `make language-model`) and those
users fit with `postatlas train language` from their labelled posts. Compressed NumPy archives of named arrays;
``models.language_id.LanguageModel`` gives them meaning."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from storage.home import Home

SHIPPED_MODEL = Path(__file__).with_name("language_weights") / "tweetlid.npz"


def read_model_arrays(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Every array of a model file (default: the shipped one); a clear error when there is none."""
    location = Path(path) if path is not None else SHIPPED_MODEL
    if not location.is_file():
        hint = "run `make language-model`" if path is None else "fit one with `postatlas train language`"
        raise FileNotFoundError(f"no language model at {location}: {hint}")
    try:
        with np.load(location, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{location} is not a language model file ({error}): refit it with "
                         "`postatlas train language`") from error


def write_model_arrays(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Write the arrays atomically, compressed (unused n-gram buckets cost next to nothing)."""
    location = Path(path)
    location.parent.mkdir(parents=True, exist_ok=True)
    temporary = location.with_name(f".{location.name}.{os.getpid()}.tmp.npz")
    np.savez_compressed(temporary, **arrays)
    temporary.replace(location)
    return location


def language_training_rows(con: duckdb.DuckDBPyConnection, task: str) -> pa.Table:
    """(text, author_id, label) of every post that is not deleted and has a gold label of ``task``."""
    return con.sql(
        "WITH gold AS (SELECT post_id, arg_min(label, source) AS label FROM post_labels WHERE task = $task "
        "GROUP BY post_id) "
        "SELECT p.text, p.author_id, g.label FROM posts p JOIN gold g USING (post_id) "
        "WHERE NOT p.deleted AND p.text IS NOT NULL ORDER BY p.post_id",
        params={"task": task},
    ).to_arrow_table()


def default_model_path(home: Home, task: str) -> Path:
    """Where `postatlas train language` saves a model fitted on label task ``task``."""
    return home.models / "language" / f"{task}.npz"
