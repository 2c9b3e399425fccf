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


def test_tables_rebuilt_without_their_keys_keep_their_rows_and_views(tmp_path: Path) -> None:
    con = _warehouse_at(tmp_path / "warehouse.duckdb", 12)
    for number in range(3):
        con.execute(
            "INSERT INTO posts (post_id, platform, native_id, text, deleted, run_id, ingested_at) "
            "VALUES (?, 'twitter', ?, 'hola', ?, 'ingest-1', now())", [f"twitter:{number}", str(number), number == 2])
    con.execute("INSERT INTO curated_set VALUES ('twitter:0', 'curate-1'), ('twitter:2', 'curate-1')")
    con.execute("INSERT INTO users (user_id, platform, native_id, username, followers, run_id) "
                "VALUES ('twitter:u1', 'twitter', 'u1', 'ana', 12, 'ingest-1')")
    con.execute("INSERT INTO media (post_id, position, kind, path, status, run_id) "
                "VALUES ('twitter:0', 0, 'photo', 'media/a.jpg', 'stored', 'ingest-1')")
    con.execute("INSERT INTO mentions VALUES ('twitter:0', 'twitter:u1', NULL, 'bob', 'ingest-1')")

    assert warehouse.migrate(con) == max(number for number, _, _ in warehouse.migrations())
    assert con.execute("SELECT post_id, run_id FROM curated_set ORDER BY 1").fetchall() == [
        ("twitter:0", "curate-1"), ("twitter:2", "curate-1")]
    assert con.execute("SELECT post_id, curate_run_id FROM curated_posts").fetchall() == [("twitter:0", "curate-1")]
    assert con.execute("SELECT user_id, username, followers, run_id FROM users").fetchall() == [
        ("twitter:u1", "ana", 12, "ingest-1")]
    assert con.execute("SELECT post_id, position, path, status FROM media").fetchall() == [
        ("twitter:0", 0, "media/a.jpg", "stored")]
    assert con.execute("SELECT post_id, src_user_id, dst_username FROM mentions").fetchall() == [
        ("twitter:0", "twitter:u1", "bob")]
    con.close()
