"""Warehouse reads and writes of the learning flows: training sets, the model registry, evaluations, predictions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from storage.warehouse import transaction

# The first stored image of every post (a WITH clause), shared by the reads that pair posts with their image.
FIRST_IMAGE = """
    first_image AS (
        SELECT post_id, arg_min(path, position) AS image_path
        FROM media WHERE status = 'stored' AND path IS NOT NULL GROUP BY post_id)
"""


def has_curation(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether `postatlas curate` has run on this warehouse (its curated set may still be empty)."""
    return bool(con.execute("SELECT count(*) FROM filter_summary").fetchall()[0][0])


def label_tasks(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    """Every label task with its number of labelled posts."""
    return con.execute(
        "SELECT task, count(DISTINCT post_id) FROM post_labels GROUP BY task ORDER BY task"
    ).fetchall()


def labelled_posts(
    con: duckdb.DuckDBPyConnection, task: str, curated_only: bool, split_task: str | None = None
) -> pa.Table:
    """post_id, text, lang, label, image_path (relative to home, NULL without a stored image), given_split.

    A post labelled by several sources takes the label of the first source by name. given_split is the post's
    label in `split_task` (a predefined train / val / test split), NULL without one.
    """
    curated = "AND p.post_id IN (SELECT post_id FROM curated_set)" if curated_only else ""
    return con.sql(
        f"""
        WITH {FIRST_IMAGE},
        gold AS (SELECT post_id, arg_min(label, source) AS label FROM post_labels WHERE task = ? GROUP BY post_id),
        given AS (SELECT post_id, arg_min(label, source) AS split FROM post_labels WHERE task = ? GROUP BY post_id)
        SELECT p.post_id, p.text, p.lang, g.label, i.image_path, s.split AS given_split
        FROM posts p JOIN gold g USING (post_id) LEFT JOIN first_image i USING (post_id)
        LEFT JOIN given s USING (post_id)
        WHERE NOT p.deleted {curated}
        ORDER BY p.post_id
        """,
        params=[task, split_task],
    ).to_arrow_table()


def posts_to_predict(con: duckdb.DuckDBPyConnection, task: str, curated_only: bool) -> pa.Table:
    """post_id, text, image_path of the (curated) posts with no gold label for the task."""
    source = "curated_posts" if curated_only else "(SELECT * FROM posts WHERE NOT deleted)"
    return con.sql(
        f"""
        WITH {FIRST_IMAGE}
        SELECT p.post_id, p.text, i.image_path
        FROM {source} p LEFT JOIN first_image i USING (post_id)
        WHERE p.post_id NOT IN (SELECT post_id FROM post_labels WHERE task = ?)
        ORDER BY p.post_id
        """,
        params=[task],
    ).to_arrow_table()


def register_model(
    con: duckdb.DuckDBPyConnection,
    *,
    model_id: str,
    kind: str,
    task: str | None,
    variant: str | None,
    config: dict[str, Any],
    data_snapshot: str,
    split_sizes: dict[str, int],
    metrics: dict[str, Any],
    checkpoint_path: str,
    run_id: str,
    evaluations: list[dict[str, Any]] = (),
) -> None:
    """Add (or replace, on a retried run) one model and its evaluation rows, in one transaction."""
    with transaction(con):
        con.execute("DELETE FROM model_evaluations WHERE model_id = ?", [model_id])
        con.execute("DELETE FROM models WHERE model_id = ?", [model_id])
        con.execute(
            "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [model_id, kind, task, variant, json.dumps(config, sort_keys=True), data_snapshot,
             split_sizes.get("train"), split_sizes.get("val"), split_sizes.get("test"),
             json.dumps(metrics, sort_keys=True, default=float), checkpoint_path, datetime.now(UTC), run_id],
        )
        for row in evaluations:
            con.execute(
                "INSERT INTO model_evaluations (model_id, task, variant, split, condition, accuracy, macro_f1, "
                "micro_f1, posts, accuracy_sd, macro_f1_sd, confusion) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [model_id, task, variant, row["split"], row["condition"], row["accuracy"], row["macro_f1"],
                 row["micro_f1"], row["n"], row.get("accuracy_sd"), row.get("macro_f1_sd"), _confusion(row)],
            )


def _confusion(row: dict[str, Any]) -> str | None:
    """An evaluation row's confusion matrix with its class names as JSON (None when the row has none)."""
    if row.get("confusion") is None:
        return None
    return json.dumps({"classes": row.get("classes"), "matrix": row["confusion"]})


def trained_model_exists(con: duckdb.DuckDBPyConnection, model_id: str) -> bool:
    """Whether the registry holds this model id."""
    return bool(con.execute("SELECT count(*) FROM models WHERE model_id = ?", [model_id]).fetchall()[0][0])


def model_row(con: duckdb.DuckDBPyConnection, model_id: str) -> dict[str, Any] | None:
    """A model's registry row (config and metrics parsed), or None."""
    rows = con.execute("SELECT * FROM models WHERE model_id = ?", [model_id]).fetchall()
    if not rows:
        return None
    names = [column[0] for column in con.description]
    row = dict(zip(names, rows[0], strict=True))
    row["config"], row["metrics"] = json.loads(row["config"]), json.loads(row["metrics"] or "{}")
    return row


def newest_model_id(con: duckdb.DuckDBPyConnection, kind: str, variant_suffix: str = "",
                    excluded_suffix: str | None = None) -> str | None:
    """The most recently registered model of a kind (whose variant ends with ``variant_suffix`` and not with
    ``excluded_suffix``), or None."""
    rows = con.execute(
        "SELECT model_id FROM models WHERE kind = ? AND coalesce(variant, '') LIKE '%' || ? "
        "AND (CAST(? AS VARCHAR) IS NULL OR coalesce(variant, '') NOT LIKE '%' || ?) "
        "ORDER BY created_at DESC, model_id DESC LIMIT 1", [kind, variant_suffix, excluded_suffix, excluded_suffix]
    ).fetchall()
    return rows[0][0] if rows else None


def best_model_id(con: duckdb.DuckDBPyConnection, kind: str, task: str | None) -> str | None:
    """The model of that kind (and task) with the best validation accuracy, newest first on ties."""
    rows = con.execute(
        """
        SELECT m.model_id FROM models m
        LEFT JOIN model_evaluations e ON e.model_id = m.model_id AND e.split = 'val' AND e.condition = 'both'
        WHERE m.kind = ? AND (m.task = ? OR ? IS NULL)
        ORDER BY e.accuracy DESC NULLS LAST, e.macro_f1 DESC NULLS LAST, m.created_at DESC
        LIMIT 1
        """,
        [kind, task, task],
    ).fetchall()
    return rows[0][0] if rows else None


def evaluation_table(con: duckdb.DuckDBPyConnection, model_ids: list[str]) -> list[dict[str, Any]]:
    """Evaluation rows of these models (test and validation, every condition)."""
    if not model_ids:
        return []
    cursor = con.execute(
        "SELECT * FROM model_evaluations WHERE list_contains(?, model_id) ORDER BY model_id, split, condition",
        [model_ids],
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def write_predictions(con: duckdb.DuckDBPyConnection, predictions: pa.Table, task: str, model_id: str) -> int:
    """Replace the task's predictions for these posts (every rank) in one transaction; returns rows written.

    `predictions` has post_id, label, score, modalities, run_id, created_at and optionally rank (default 1), lat,
    lon.
    """
    optional = [name for name in ("rank", "lat", "lon") if name in predictions.column_names]
    columns = ["post_id", "label", "score", "modalities", "run_id", "created_at", *optional]
    con.register("incoming_predictions", predictions)
    try:
        with transaction(con):
            con.execute(
                "DELETE FROM predictions WHERE task = ? AND post_id IN (SELECT post_id FROM incoming_predictions)",
                [task],
            )
            con.execute(
                f"INSERT INTO predictions (task, model_id, {', '.join(columns)}) "
                f"SELECT ?, ?, {', '.join(columns)} FROM incoming_predictions",
                [task, model_id],
            )
    finally:
        con.unregister("incoming_predictions")
    return predictions.num_rows


def write_application_evaluations(con: duckdb.DuckDBPyConnection, model_id: str, application: str, run_id: str,
                                  rows: list[dict[str, Any]]) -> None:
    """Replace a model's scores of one application (rows: method, split, metric, value, posts)."""
    with transaction(con):
        con.execute("DELETE FROM application_evaluations WHERE model_id = ? AND application = ?",
                    [model_id, application])
        if rows:
            con.executemany(
                "INSERT INTO application_evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [[model_id, application, r["method"], r["split"], r["metric"], r["value"], r["posts"], run_id]
                 for r in rows])


def posts_with_content(con: duckdb.DuckDBPyConnection, curated_only: bool, skip: Sequence[Path] = ()) -> pa.Table:
    """post_id, text, image_path, text_hash of the (curated, not deleted) posts with a text or a stored image,
    leaving out the posts that the Parquet files ``skip`` hold (the vectors stored already): the anti-join runs in
    DuckDB on the post_id column, so a nightly run reads the texts of its new posts only."""
    source = "curated_posts" if curated_only else "(SELECT * FROM posts WHERE NOT deleted)"
    skipped = "AND p.post_id NOT IN (SELECT post_id FROM read_parquet($skip))" if skip else ""
    return con.sql(
        f"""
        WITH {FIRST_IMAGE}
        SELECT p.post_id, p.text, i.image_path, md5(coalesce(p.text, '')) AS text_hash
        FROM {source} p LEFT JOIN first_image i USING (post_id)
        WHERE ((p.text IS NOT NULL AND trim(p.text) <> '') OR i.image_path IS NOT NULL) {skipped}
        ORDER BY p.post_id
        """,
        params={"skip": [str(path) for path in skip]} if skip else None,
    ).to_arrow_table()


def content_counts(con: duckdb.DuckDBPyConnection, curated_only: bool) -> tuple[int, int]:
    """(with, without) a text or a stored image among the (curated, not deleted) posts: counted, not read."""
    source = "curated_posts" if curated_only else "(SELECT * FROM posts WHERE NOT deleted)"
    with_content, without = con.execute(
        f"""
        WITH {FIRST_IMAGE}
        SELECT count(*) FILTER (WHERE has), count(*) FILTER (WHERE NOT has) FROM (
            SELECT (p.text IS NOT NULL AND trim(p.text) <> '') OR i.image_path IS NOT NULL AS has
            FROM {source} p LEFT JOIN first_image i USING (post_id))
        """
    ).fetchone()
    return int(with_content), int(without)


def account_documents(con: duckdb.DuckDBPyConnection, task: str, labelled: bool) -> pa.Table:
    """(user_id, label, document) per account with posts: its posts' texts joined by newlines, oldest first;
    ``labelled``: the accounts with a gold label of ``task`` (else those without one, label NULL)."""
    return con.sql(
        f"""
        WITH gold AS (SELECT user_id, arg_min(label, source) AS label FROM user_labels WHERE task = $task
                      GROUP BY user_id)
        SELECT p.author_id AS user_id, any_value(g.label) AS label,
               string_agg(coalesce(p.text, ''), chr(10) ORDER BY p.created_at NULLS LAST, p.post_id) AS document
        FROM posts p {'JOIN' if labelled else 'LEFT JOIN'} gold g ON g.user_id = p.author_id
        WHERE NOT p.deleted AND p.author_id IS NOT NULL {'' if labelled else 'AND g.user_id IS NULL'}
        GROUP BY p.author_id ORDER BY p.author_id
        """,
        params={"task": task},
    ).to_arrow_table()


def write_user_predictions(con: duckdb.DuckDBPyConnection, predictions: pa.Table, task: str, model_id: str) -> int:
    """Replace this model's predictions of ``task`` for these accounts in one transaction; rows written."""
    with transaction(con):
        con.register("incoming", predictions)
        con.execute("DELETE FROM user_predictions WHERE task = ? AND model_id = ? "
                    "AND user_id IN (SELECT user_id FROM incoming)", [task, model_id])
        con.execute("INSERT INTO user_predictions BY NAME SELECT * FROM incoming")
        con.unregister("incoming")
    return predictions.num_rows


RETRIEVAL_COLUMNS = ("split", "query_part", "target_part", "r1", "r5", "r10", "median_rank", "queries", "fold_size")


def write_retrieval_evaluations(con: duckdb.DuckDBPyConnection, model_id: str, run_id: str,
                                rows: list[dict[str, Any]]) -> None:
    """Replace a model's retrieval scores (paper 002's R@K and median rank) by ``rows``."""
    with transaction(con):
        con.execute("DELETE FROM retrieval_evaluations WHERE model_id = ?", [model_id])
        if rows:
            con.executemany(
                f"INSERT INTO retrieval_evaluations (model_id, {', '.join(RETRIEVAL_COLUMNS)}, run_id) "
                f"VALUES (?, {', '.join('?' for _ in RETRIEVAL_COLUMNS)}, ?)",
                [[model_id, *(row[c] for c in RETRIEVAL_COLUMNS), run_id] for row in rows])


def delete_retrieval_evaluations(con: duckdb.DuckDBPyConnection, model_id: str) -> None:
    """Drop a model's retrieval scores (it is being retrained)."""
    con.execute("DELETE FROM retrieval_evaluations WHERE model_id = ?", [model_id])


def retrieval_evaluations(con: duckdb.DuckDBPyConnection, model_ids: list[str], split: str) -> list[dict[str, Any]]:
    """The models' retrieval scores on a split, with each model's variant (parts:objective)."""
    rows = con.execute(
        f"""
        SELECT e.model_id, m.variant, {', '.join('e.' + c for c in RETRIEVAL_COLUMNS)}
        FROM retrieval_evaluations e JOIN models m USING (model_id)
        WHERE e.split = ? AND list_contains(?, e.model_id)
        ORDER BY e.model_id, e.query_part, e.target_part
        """, [split, model_ids]).fetchall()
    names = ("model_id", "variant", *RETRIEVAL_COLUMNS)
    return [dict(zip(names, row, strict=True)) for row in rows]


def post_summaries(con: duckdb.DuckDBPyConnection, post_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """post_id -> (text, first stored image path) of the posts."""
    rows = con.execute(
        f"""
        WITH {FIRST_IMAGE}
        SELECT p.post_id, p.text, i.image_path FROM posts p LEFT JOIN first_image i USING (post_id)
        WHERE list_contains(?, p.post_id)
        """, [post_ids]).fetchall()
    return {post_id: (text, image) for post_id, text, image in rows}


def stored_part_vectors(con: duckdb.DuckDBPyConnection, model_id: str, post_id: str) -> dict[str, list[float]]:
    """A post's stored vectors of a joint model: part -> vector, and "post" -> the mean of its parts."""
    rows = con.execute(
        """
        SELECT part, vector FROM embedding_parts WHERE model_id = $model AND post_id = $post
        UNION ALL
        SELECT 'post', vector FROM embeddings WHERE model_id = $model AND post_id = $post
        """, {"model": model_id, "post": post_id}).fetchall()
    return dict(rows)


def report_models(con: duckdb.DuckDBPyConnection, kind: str, task: str, model_ids: list[str] | None = None
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Registry rows (config and metrics parsed) of these models, or of the newest model per variant of the kind and
    task, and their evaluation rows (confusion parsed), for the training report."""
    if model_ids is None:
        model_ids = [row[0] for row in con.execute(
            "SELECT arg_max(model_id, created_at) FROM models WHERE kind = ? AND task = ? GROUP BY variant",
            [kind, task]).fetchall()]
    models = [row for row in (model_row(con, model_id) for model_id in model_ids) if row is not None]
    evaluations = evaluation_table(con, [row["model_id"] for row in models])
    for row in evaluations:
        row["confusion"] = json.loads(row["confusion"]) if row.get("confusion") else None
    return models, evaluations
