"""Named read queries used by summaries and reports (read-only connections)."""

from __future__ import annotations

import duckdb
import pyarrow as pa


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


class QueryError(ValueError):
    """A query DuckDB refused (syntax, unknown table, a write on a read-only connection); the message says why."""


def user_query(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The result of an analyst's SQL as an Arrow table."""
    try:
        result = con.sql(sql)
    except duckdb.Error as error:
        raise QueryError(str(error).strip()) from error
    if result is None:
        raise QueryError("the query returned no result set (the warehouse is read-only here)")
    return result.to_arrow_table()


def recent_runs(con: duckdb.DuckDBPyConnection, limit: int) -> pa.Table:
    """The newest ``limit`` runs of the ledger with their counters and failure messages."""
    return con.sql(
        "SELECT left(run_id, 8) AS run, flow, status, strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started, "
        "round(epoch(finished_at) - epoch(started_at), 1) AS seconds, "
        "read, written, duplicates, filtered, quarantined, kept, message "
        "FROM runs ORDER BY started_at DESC LIMIT ?", params=[int(limit)]
    ).to_arrow_table()


def label_tasks(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int]]:
    """(task, labelled posts, distinct labels) for every label task."""
    return con.execute(
        "SELECT task, count(DISTINCT post_id), count(DISTINCT label) FROM post_labels GROUP BY task ORDER BY task"
    ).fetchall()


def model_scores(con: duckdb.DuckDBPyConnection, task: str | None = None) -> list[tuple]:
    """The registry, newest first: model, kind, task, variant, train posts, val / test accuracy %, test macro-F1 %,
    created."""
    return con.execute(
        """
        SELECT m.model_id, m.kind, m.task, m.variant, m.train_posts,
               round(100 * v.accuracy, 1), round(100 * t.accuracy, 1), round(100 * t.macro_f1, 1),
               strftime(m.created_at, '%Y-%m-%d %H:%M')
        FROM models m
        LEFT JOIN model_evaluations v ON v.model_id = m.model_id AND v.split = 'val' AND v.condition = 'both'
        LEFT JOIN model_evaluations t ON t.model_id = m.model_id AND t.split = 'test' AND t.condition = 'both'
        WHERE ? IS NULL OR m.task = ?
        ORDER BY m.created_at DESC, m.model_id
        """,
        [task, task],
    ).fetchall()


def clustering_runs(con: duckdb.DuckDBPyConnection, limit: int = 20) -> list[tuple]:
    """The newest clustering runs: run, method, posts, clusters, silhouette, ARI, NMI (3 decimals), label task,
    posts assigned since the fit, when fitted."""
    return con.execute(
        "SELECT run, method, posts, n_clusters, round(silhouette, 3), round(ari, 3), round(nmi, 3), label_task, "
        "assigned_since_fit, strftime(created_at, '%Y-%m-%d %H:%M') FROM cluster_runs "
        "ORDER BY created_at DESC, run LIMIT ?", [limit]).fetchall()
