"""Upgrading a warehouse keeps its data: migrations that rebuild a table move every row over."""

from __future__ import annotations

from pathlib import Path

import duckdb

from storage import warehouse


def _warehouse_at(path: Path, version: int) -> duckdb.DuckDBPyConnection:
    """A real warehouse file with the migrations up to ``version`` applied, as an older postatlas left it."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)")
    for number, name, sql in warehouse.migrations():
        if number <= version:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [number, name])
    return con


def test_the_curated_set_keeps_its_rows_and_view_when_it_loses_its_key(tmp_path: Path) -> None:
    con = _warehouse_at(tmp_path / "warehouse.duckdb", 12)
    for number in range(3):
        con.execute(
            "INSERT INTO posts (post_id, platform, native_id, text, deleted, run_id, ingested_at) "
            "VALUES (?, 'twitter', ?, 'hola', ?, 'ingest-1', now())", [f"twitter:{number}", str(number), number == 2])
    con.execute("INSERT INTO curated_set VALUES ('twitter:0', 'curate-1'), ('twitter:2', 'curate-1')")

    assert warehouse.migrate(con) == max(number for number, _, _ in warehouse.migrations())
    assert con.execute("SELECT post_id, run_id FROM curated_set ORDER BY 1").fetchall() == [
        ("twitter:0", "curate-1"), ("twitter:2", "curate-1")]
    assert con.execute("SELECT post_id, curate_run_id FROM curated_posts").fetchall() == [("twitter:0", "curate-1")]
    con.close()
