"""Named read queries used by summaries and reports (read-only connections)."""

from __future__ import annotations

import duckdb


def posts_per_platform(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int]]:
    """(platform, posts, of which curated) for every platform."""
    return con.execute(
        "SELECT p.platform, count(*), count(c.post_id) FROM posts p LEFT JOIN curated_set c USING (post_id) "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()


def quarantine_by_reason(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(reason, scope, rows) over the whole quarantine."""
    return con.execute("SELECT reason, scope, count(*) FROM quarantine GROUP BY 1, 2 ORDER BY 3 DESC, 1").fetchall()


def rule_summary(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """The per-rule evaluated / kept / dropped counts of one curate run, in rule order."""
    rows = con.execute(
        "SELECT rule, evaluated, kept, dropped FROM filter_summary WHERE run_id = ? ORDER BY position", [run_id]
    ).fetchall()
    return [{"rule": r, "evaluated": e, "kept": k, "dropped": d} for r, e, k, d in rows]
