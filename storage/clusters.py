"""Warehouse reads and writes of the clustering flows (cluster_runs, clusters, cluster_assignments) and the
fitted clusterers kept under POSTATLAS_HOME/clusters/<run>/ so that new posts can be assigned between refits."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from storage.home import Home
from storage.learning import FIRST_IMAGE
from storage.reports import save_html
from storage.warehouse import transaction

CLUSTERER_FILE = "clusterer.pkl"

POST_COLUMNS = "p.post_id, p.text, p.hashtags, p.lang, p.lat, p.lon, p.created_at, i.image_path, p.platform"


def _scope(curated_only: bool) -> str:
    return "AND p.post_id IN (SELECT post_id FROM curated_set)" if curated_only else ""


def embedded_posts(con: duckdb.DuckDBPyConnection, model_id: str, curated_only: bool,
                   unassigned_in: str | None = None) -> pa.Table:
    """The model's embedded (curated, not deleted) posts with what clustering and summaries need, by post_id; with
    ``unassigned_in``, only those that run has not assigned yet (what assigning reads, however large the run).

    Columns: post_id, vector, text, hashtags, lang, lat, lon, created_at, image_path.
    """
    unassigned = ("AND post_id NOT IN (SELECT post_id FROM cluster_assignments WHERE run = $run)"
                  if unassigned_in is not None else "")
    return con.sql(
        f"""
        WITH {FIRST_IMAGE},
        vectors AS (SELECT post_id, arg_min(vector, run_id) AS vector FROM embeddings
                    WHERE model_id = $model_id {unassigned} GROUP BY post_id)
        SELECT {POST_COLUMNS.replace('p.text', 'v.vector, p.text')}
        FROM vectors v JOIN posts p USING (post_id) LEFT JOIN first_image i USING (post_id)
        WHERE NOT p.deleted {_scope(curated_only)}
        ORDER BY p.post_id
        """,
        params={"model_id": model_id, **({"run": unassigned_in} if unassigned_in is not None else {})},
    ).to_arrow_table()


def unassigned_count(con: duckdb.DuckDBPyConnection, model_id: str, curated_only: bool, run: str) -> int:
    """How many of the model's embedded (curated, not deleted) posts the run has not assigned: counted in SQL."""
    return int(con.execute(
        f"""
        SELECT count(DISTINCT e.post_id) FROM embeddings e JOIN posts p USING (post_id)
        WHERE e.model_id = ? AND NOT p.deleted {_scope(curated_only)}
          AND p.post_id NOT IN (SELECT post_id FROM cluster_assignments WHERE run = ?)
        """,
        [model_id, run],
    ).fetchone()[0])


def content_posts(con: duckdb.DuckDBPyConnection, curated_only: bool) -> pa.Table:
    """The (curated, not deleted) posts with a text or a stored image, with the columns of `embedded_posts` but
    `vector`, by post_id: what clustering on the feature store's vectors starts from."""
    return con.sql(
        f"""
        WITH {FIRST_IMAGE}
        SELECT {POST_COLUMNS}
        FROM posts p LEFT JOIN first_image i USING (post_id)
        WHERE NOT p.deleted AND (trim(coalesce(p.text, '')) <> '' OR i.image_path IS NOT NULL) {_scope(curated_only)}
        ORDER BY p.post_id
        """
    ).to_arrow_table()


def report_posts(con: duckdb.DuckDBPyConnection, run: str, sample: int, representatives: Sequence[str],
                 per_cluster_images: int) -> tuple[pa.Table, int]:
    """The posts a run's report shows, with how many posts the run has (not deleted): a seeded sample of ``sample``
    (by a hash of post_id), every representative post, and each cluster's first ``per_cluster_images`` posts with an
    image. Chosen in SQL, so the report reads these posts' columns only; by post_id, with cluster and position."""
    wanted = pa.table({"post_id": pa.array(list(representatives), pa.string())})  # noqa: F841
    params = {"run": run, "sample": sample, "images": per_cluster_images}
    members = (f"WITH {FIRST_IMAGE}, members AS ("
               "SELECT a.post_id, a.cluster_id, i.image_path IS NOT NULL AS has_image FROM cluster_assignments a "
               "JOIN posts p USING (post_id) LEFT JOIN first_image i USING (post_id) WHERE a.run = $run AND NOT p.deleted)")
    [(total,)] = con.execute(f"{members} SELECT count(*) FROM members", {"run": run}).fetchall()
    table = con.sql(
        f"""
        {members}, chosen AS (
            (SELECT post_id FROM members ORDER BY hash(post_id), post_id LIMIT $sample)
            UNION SELECT post_id FROM members SEMI JOIN wanted USING (post_id)
            UNION SELECT post_id FROM (
                SELECT post_id, row_number() OVER (PARTITION BY cluster_id ORDER BY post_id) AS k
                FROM members WHERE has_image) WHERE k <= $images)
        SELECT a.cluster_id, a.x, a.y, a.assigned_by, {POST_COLUMNS}
        FROM chosen c JOIN cluster_assignments a ON a.post_id = c.post_id AND a.run = $run
        JOIN posts p ON p.post_id = c.post_id LEFT JOIN first_image i ON i.post_id = c.post_id
        ORDER BY p.post_id
        """,
        params=params,
    ).to_arrow_table()
    return table, total


def embedding_models(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    """(model_id, embedded posts) of every model with embeddings, newest model first."""
    return con.execute(
        """
        SELECT e.model_id, count(DISTINCT e.post_id) FROM embeddings e LEFT JOIN models m USING (model_id)
        GROUP BY e.model_id ORDER BY max(m.created_at) DESC NULLS LAST, e.model_id
        """
    ).fetchall()


def newest_embedding_model(con: duckdb.DuckDBPyConnection) -> str | None:
    """The newest model with embeddings (by its registration), without counting its posts."""
    rows = con.execute(
        """
        SELECT e.model_id FROM (SELECT DISTINCT model_id FROM embeddings) e LEFT JOIN models m USING (model_id)
        ORDER BY m.created_at DESC NULLS LAST, e.model_id LIMIT 1
        """
    ).fetchall()
    return rows[0][0] if rows else None


def gold_labels(con: duckdb.DuckDBPyConnection, task: str) -> dict[str, str]:
    """post_id -> label of a label task (the first source by name when several label a post)."""
    rows = con.execute(
        "SELECT post_id, arg_min(label, source) FROM post_labels WHERE task = ? GROUP BY post_id", [task]
    ).fetchall()
    return dict(rows)


def label_task_sizes(con: duckdb.DuckDBPyConnection, post_ids_table: pa.Table) -> list[tuple[str, int, int]]:
    """(task, labelled posts among these post_ids, distinct labels) for every label task, largest first."""
    con.register("clustered_ids", post_ids_table)
    try:
        return con.execute(
            """
            SELECT task, count(DISTINCT post_id), count(DISTINCT label) FROM post_labels
            WHERE post_id IN (SELECT post_id FROM clustered_ids) GROUP BY task ORDER BY 2 DESC, 1
            """
        ).fetchall()
    finally:
        con.unregister("clustered_ids")


def _now() -> datetime:
    return datetime.now(UTC)


def write_cluster_run(
    con: duckdb.DuckDBPyConnection, run_row: dict[str, Any], clusters: pa.Table, assignments: pa.Table
) -> None:
    """Replace the run's three parts in one transaction: a rerun of the same run never doubles a row."""
    run = run_row["run"]
    row = {**run_row, "parameters": json.dumps(run_row["parameters"], sort_keys=True, default=str)}
    now = _now()
    row.setdefault("created_at", now)
    row["updated_at"] = now
    con.register("incoming_clusters", clusters)
    con.register("incoming_assignments", assignments)
    try:
        with transaction(con):
            earlier = con.execute("SELECT report_path FROM cluster_runs WHERE run = ?", [run]).fetchall()
            if earlier and earlier[0][0] and not row.get("report_path"):
                row["report_path"] = earlier[0][0]  # the same run's report stays listed until it is rewritten
            for table in ("cluster_assignments", "clusters", "cluster_runs"):
                con.execute(f"DELETE FROM {table} WHERE run = ?", [run])
            names = list(row)
            con.execute(
                f"INSERT INTO cluster_runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [row[name] for name in names],
            )
            con.execute(f"INSERT INTO clusters BY NAME SELECT '{_quote(run)}' AS run, * FROM incoming_clusters")
            con.execute(
                f"INSERT INTO cluster_assignments BY NAME SELECT '{_quote(run)}' AS run, * FROM incoming_assignments")
    finally:
        con.unregister("incoming_clusters")
        con.unregister("incoming_assignments")


class AssignmentConflict(RuntimeError):
    """Some of the posts being assigned were assigned meanwhile, by another run: nothing was written."""


def add_assignments(con: duckdb.DuckDBPyConnection, run: str, assignments: pa.Table, clusters: pa.Table) -> int:
    """Add new posts to a fitted run and replace its cluster rows (updated with those posts), in one transaction;
    returns rows added.

    The clusters' counts include exactly these posts, so when any of them is already in the run (another assignment
    wrote them since they were read) nothing is written and AssignmentConflict says to rerun.
    """
    con.register("incoming_assignments", assignments)
    con.register("incoming_clusters", clusters)
    try:
        with transaction(con):
            [(already,)] = con.execute(
                "SELECT count(*) FROM incoming_assignments WHERE post_id IN "
                "(SELECT post_id FROM cluster_assignments WHERE run = ?)", [run]).fetchall()
            if already:
                raise AssignmentConflict(
                    f"{already} of these posts were assigned to {run} by another run meanwhile: nothing was written, "
                    "rerun the assignment (it reads the posts still unassigned)")
            added = con.execute(
                f"INSERT INTO cluster_assignments BY NAME SELECT '{_quote(run)}' AS run, * FROM incoming_assignments"
            ).fetchall()[0][0]
            con.execute("DELETE FROM clusters WHERE run = ?", [run])
            con.execute(f"INSERT INTO clusters BY NAME SELECT '{_quote(run)}' AS run, * FROM incoming_clusters")
            con.execute(
                "UPDATE cluster_runs SET assigned_since_fit = assigned_since_fit + ?, updated_at = ? WHERE run = ?",
                [added, _now(), run],
            )
    finally:
        con.unregister("incoming_assignments")
        con.unregister("incoming_clusters")
    return int(added)


def set_report_path(con: duckdb.DuckDBPyConnection, run: str, report_path: str) -> None:
    """Record where the run's report was written (relative to the home)."""
    con.execute("UPDATE cluster_runs SET report_path = ? WHERE run = ?", [report_path, run])


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def cluster_run(con: duckdb.DuckDBPyConnection, run: str) -> dict[str, Any] | None:
    """A run's row (parameters parsed), or None."""
    rows = _rows(con.execute("SELECT * FROM cluster_runs WHERE run = ?", [run]))
    if not rows:
        return None
    rows[0]["parameters"] = json.loads(rows[0]["parameters"])
    return rows[0]


def latest_run(con: duckdb.DuckDBPyConnection, method: str | None = None) -> str | None:
    """The most recently fitted run (of that method)."""
    rows = con.execute(
        "SELECT run FROM cluster_runs WHERE method = ? OR ? IS NULL ORDER BY created_at DESC, run LIMIT 1",
        [method, method],
    ).fetchall()
    return rows[0][0] if rows else None


def clusters_of(con: duckdb.DuckDBPyConnection, run: str) -> list[dict[str, Any]]:
    """A run's clusters, largest first."""
    return _rows(con.execute("SELECT * FROM clusters WHERE run = ? ORDER BY size DESC, cluster_id", [run]))


def save_clusterer(home: Home, run: str, clusterer: object) -> Path:
    """Pickle the fitted clusterer (written whole or not at all); returns its path."""
    path = home.clusterers / run / CLUSTERER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{CLUSTERER_FILE}.{os.getpid()}.partial")
    with partial.open("wb") as handle:
        pickle.dump(clusterer, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)
    return path


def clusterer_exists(home: Home, relative_path: str | None) -> bool:
    """Whether the fitted clusterer a run names is still on disk."""
    return relative_path is not None and home.path(relative_path).is_file()


def load_clusterer(home: Home, relative_path: str) -> Any:
    """The fitted clusterer saved by this postatlas home (pickle: load only files postatlas wrote)."""
    path = home.path(relative_path)
    if not path.exists():
        raise FileNotFoundError(f"the fitted clusterer {path} is missing: refit with `postatlas cluster`")
    with path.open("rb") as handle:
        return pickle.load(handle)


def save_report(home: Home, run: str, html: str) -> Path:
    """Write a run's HTML report atomically as reports/clusters/<run>.html; returns its path."""
    return save_html(home, "clusters", run, html)