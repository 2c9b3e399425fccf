"""Embedding parts on disk and the `embeddings` view (real Parquet files and a real DuckDB connection)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from storage import embeddings
from storage.home import Home


def _view_rows(home: Home) -> list[tuple]:
    con = duckdb.connect()
    try:
        embeddings.refresh_view(con, home)
        return con.execute("SELECT post_id, model_id, len(vector), run_id FROM embeddings ORDER BY 1").fetchall()
    finally:
        con.close()


def test_parts_of_one_run_never_replace_each_other(tmp_path: Path) -> None:
    """Parts of one run never replace each other."""
    home = Home(tmp_path)
    vectors = np.ones((2, 3), dtype=np.float32)
    first = embeddings.write_part(home, "m", "run-1", ["a", "b"], vectors)
    second = embeddings.write_part(home, "m", "run-1", ["c", "d"], vectors)  # e.g. a retried run
    assert first != second and first.exists() and second.exists()
    assert embeddings.embedded_post_ids(home, "m") == {"a", "b", "c", "d"}
    assert embeddings.embedded_post_ids(home, "m", {second.name}) == {"c", "d"}
    assert _view_rows(home) == [(p, "m", 3, "run-1") for p in "abcd"]
    assert embeddings.write_part(home, "m", "run-2", [], np.zeros((0, 3))) is None


def test_half_written_files_are_not_read_and_an_emptied_view_still_answers(tmp_path: Path) -> None:
    """Half written files are not read and an emptied view still answers."""
    home = Home(tmp_path)
    embeddings.write_part(home, "m", "run-1", ["a"], np.zeros((1, 4), dtype=np.float32))
    (home.embeddings / "m" / ".part-x.123.partial").write_bytes(b"PAR1 truncated")
    assert [row[0] for row in _view_rows(home)] == ["a"]
    embeddings.drop_model(home, "m")
    assert embeddings.embedded_post_ids(home, "m") == set()
    assert _view_rows(home) == []
