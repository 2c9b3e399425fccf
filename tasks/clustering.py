"""Glue between the warehouse and models/clustering: fit a clustering run, assign new posts between refits."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from models.cluster_summary import ClusterSummary, summarise_clusters
from models.clustering import label_agreement, make_clusterer, silhouette
from storage import clusters as cluster_store
from storage import learning, warehouse
from storage.home import Home
from tasks.fusion import LearningInputError
from tasks.locks import warehouse_writer

METHODS = ("paper", "default")
MIN_POSTS = 10


def _digest(*parts: Any) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=6).hexdigest()


def vectors_of(table: pa.Table) -> np.ndarray:
    """The `vector` list column as an n x d float32 array."""
    column = table.column("vector").combine_chunks()
    if len(column) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return flat.reshape(len(column), -1)


def coordinates_of(table: pa.Table) -> np.ndarray:
    """lat, lon as an n x 2 float64 array, NaN where a post has no coordinates."""
    lat = table.column("lat").to_numpy(zero_copy_only=False).astype(np.float64)
    lon = table.column("lon").to_numpy(zero_copy_only=False).astype(np.float64)
    return np.column_stack([lat, lon])


def _timestamps(table: pa.Table) -> np.ndarray:
    column = table.column("created_at").cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
    return column.to_numpy(zero_copy_only=False).astype("datetime64[us]")


def choose_model(con: duckdb.DuckDBPyConnection, model_id: str | None) -> str:
    """The asked-for embedding model, else the newest model with embeddings."""
    models = cluster_store.embedding_models(con)
    if model_id is not None:
        if model_id not in {name for name, _ in models}:
            known = ", ".join(name for name, _ in models) or "none"
            raise LearningInputError(f"model {model_id!r} has no embeddings (models with some: {known}); "
                                     f"run `postatlas embed --model {model_id}` first")
        return model_id
    if not models:
        raise LearningInputError("no embeddings yet: run `postatlas train autoencoder` then `postatlas embed`")
    return models[0][0]


def choose_label_task(sizes: list[tuple[str, int, int]], asked: str | None) -> str | None:
    """The label task ARI / NMI compare with: the asked one, else the largest one that is not a split or a language.

    `sizes` holds (task, labelled posts, distinct labels). "none" switches the comparison off.
    """
    if asked == "none":
        return None
    if asked is not None:
        if asked not in {task for task, _, _ in sizes}:
            raise LearningInputError(f"no clustered post carries a label of task {asked!r}; "
                                     f"tasks: {', '.join(t for t, _, _ in sizes) or 'none'}")
        return asked
    candidates = [task for task, _, distinct in sizes if distinct >= 2 and task not in ("split", "lang")]
    return candidates[0] if candidates else None


def clusters_table(summaries: list[ClusterSummary], post_ids: np.ndarray, has_image: np.ndarray,
                   labels: np.ndarray) -> pa.Table:
    """The `clusters` rows (without `run`) from the summaries."""
    image_counts = np.bincount(labels, weights=has_image.astype(float), minlength=max(labels.max() + 1, 1))
    rows = []
    for s in summaries:
        centroid = s.geo_centroid or (None, None)
        bbox = s.bbox or (None, None, None, None)
        terms = [term for term, _ in s.top_terms]
        rows.append({
            "cluster_id": int(s.cluster_id), "name": " · ".join(terms[:3]) or f"cluster {s.cluster_id}",
            "size": int(s.size), "top_terms": terms, "term_scores": [float(v) for _, v in s.top_terms],
            "top_hashtags": [tag for tag, _ in s.top_hashtags], "hashtag_counts": [int(n) for _, n in s.top_hashtags],
            "languages": [lang for lang, _ in s.languages], "language_counts": [int(n) for _, n in s.languages],
            "centroid_lat": centroid[0], "centroid_lon": centroid[1],
            "min_lat": bbox[0], "min_lon": bbox[1], "max_lat": bbox[2], "max_lon": bbox[3],
            "posts_with_coordinates": int(s.posts_with_coordinates),
            "posts_with_image": int(image_counts[s.cluster_id]),
            "first_post_at": _aware(s.first_post_at), "last_post_at": _aware(s.last_post_at),
            "representative_post_ids": [str(post_ids[i]) for i in s.representatives],
        })
    return pa.Table.from_pylist(rows, schema=CLUSTERS_SCHEMA)


def _aware(value: Any) -> datetime | None:
    if value is None or (isinstance(value, np.datetime64) and np.isnat(value)):
        return None
    stamp = value.astype("datetime64[us]").item() if isinstance(value, np.datetime64) else value
    return stamp.replace(tzinfo=UTC)


CLUSTERS_SCHEMA = pa.schema([
    ("cluster_id", pa.int32()), ("name", pa.string()), ("size", pa.int64()),
    ("top_terms", pa.list_(pa.string())), ("term_scores", pa.list_(pa.float64())),
    ("top_hashtags", pa.list_(pa.string())), ("hashtag_counts", pa.list_(pa.int64())),
    ("languages", pa.list_(pa.string())), ("language_counts", pa.list_(pa.int64())),
    ("centroid_lat", pa.float64()), ("centroid_lon", pa.float64()), ("min_lat", pa.float64()),
    ("min_lon", pa.float64()), ("max_lat", pa.float64()), ("max_lon", pa.float64()),
    ("posts_with_coordinates", pa.int64()), ("posts_with_image", pa.int64()),
    ("first_post_at", pa.timestamp("us", tz="UTC")), ("last_post_at", pa.timestamp("us", tz="UTC")),
    ("representative_post_ids", pa.list_(pa.string())),
])


def assignments_table(post_ids: list[str], labels: np.ndarray, xy: np.ndarray, assigned_by: str) -> pa.Table:
    now = datetime.now(UTC)
    return pa.table({
        "post_id": pa.array(post_ids, pa.string()),
        "cluster_id": pa.array(labels.astype(np.int32)),
        "x": pa.array(xy[:, 0].astype(np.float32)),
        "y": pa.array(xy[:, 1].astype(np.float32)),
        "assigned_by": pa.array([assigned_by] * len(post_ids), pa.string()),
        "assigned_at": pa.array([now] * len(post_ids), pa.timestamp("us", tz="UTC")),
    })


def summarise(table: pa.Table, vectors: np.ndarray, labels: np.ndarray) -> list[ClusterSummary]:
    coordinates = coordinates_of(table)
    return summarise_clusters(
        labels, vectors, table.column("text").to_pylist(), table.column("hashtags").to_pylist(),
        table.column("lang").to_pylist(), coordinates[:, 0], coordinates[:, 1], _timestamps(table),
    )


def cluster_posts(
    home: str, run_id: str, method: str = "default", model_id: str | None = None,
    settings: dict[str, Any] | None = None, label_task: str | None = None, curated_only: bool | None = None,
) -> dict[str, Any]:
    """Fit a clustering run on a model's embeddings and write it back; returns the run's summary.

    The run id hashes the model, the clustered posts and the settings: rerunning unchanged replaces the same rows.
    """
    if method not in METHODS:
        raise LearningInputError(f"unknown clustering method {method!r}; choose from {', '.join(METHODS)}")
    store = Home.at(home)
    with warehouse.reader(store.warehouse) as con:
        chosen = choose_model(con, model_id)
        if curated_only is None:
            curated_only = learning.has_curation(con)
        posts = cluster_store.embedded_posts(con, chosen, curated_only)
        task = choose_label_task(cluster_store.label_task_sizes(con, posts.select(["post_id"])), label_task)
        gold = cluster_store.gold_labels(con, task) if task else {}
    if posts.num_rows < MIN_POSTS:
        raise LearningInputError(
            f"only {posts.num_rows} {'curated ' if curated_only else ''}posts are embedded by {chosen}: "
            f"clustering needs at least {MIN_POSTS} (run `postatlas embed`)")
    try:
        clusterer = make_clusterer(method, **(settings or {}))
    except (TypeError, ValueError) as error:
        raise LearningInputError(f"bad clustering settings: {error}") from error
    post_ids = posts.column("post_id").to_pylist()
    vectors, coordinates = vectors_of(posts), coordinates_of(posts)
    started = time.perf_counter()
    try:
        clusterer.fit(vectors, coordinates)
    except ValueError as error:
        raise LearningInputError(str(error)) from error
    labels = np.asarray(clusterer.labels_)
    summaries = summarise(posts, vectors, labels)
    seconds = time.perf_counter() - started
    true_labels = [gold.get(post_id) for post_id in post_ids]
    labelled = sum(label is not None for label in true_labels)
    ari, nmi = label_agreement(true_labels, labels) if labelled else (None, None)
    has_image = np.array([path is not None for path in posts.column("image_path").to_pylist()])
    parameters = {**clusterer.parameters_, "curated_only": curated_only}
    resolved = asdict(clusterer.settings)
    run = f"cluster-{method}-{_digest(chosen, post_ids, resolved)}"
    run_row = {
        "run": run, "method": method, "parameters": parameters, "data_snapshot": _digest(post_ids),
        "model_id": chosen, "posts": len(post_ids), "n_clusters": int(clusterer.n_clusters_),
        "silhouette": _finite(silhouette(vectors, labels)), "label_task": task, "labelled_posts": labelled,
        "ari": _finite(ari), "nmi": _finite(nmi), "posts_with_image": int(has_image.sum()),
        "posts_with_coordinates": int(np.isfinite(coordinates).all(1).sum()), "assigned_since_fit": 0,
        "seconds": seconds, "run_id": run_id,
    }
    path = cluster_store.save_clusterer(store.root, run, clusterer)
    run_row["clusterer_path"] = str(path.relative_to(store.root))
    clusters = clusters_table(summaries, np.asarray(post_ids, dtype=object), has_image, labels)
    assignments = assignments_table(post_ids, labels, np.asarray(clusterer.xy_), "fit")
    with warehouse_writer(store.warehouse, run_id) as con:
        cluster_store.write_cluster_run(con, run_row, clusters, assignments)
    return {**{k: v for k, v in run_row.items() if k != "parameters"}, "parameters": parameters,
            "clusters": clusters.select(["cluster_id", "name", "size"]).to_pylist()}


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def assign_new_posts(home: str, run_id: str, run: str | None = None, method: str | None = None) -> dict[str, Any]:
    """Place the model's newly embedded posts in the clusters of an existing run (no refit); returns counts."""
    store = Home.at(home)
    with warehouse.reader(store.warehouse) as con:
        chosen_run = run or cluster_store.latest_run(con, method)
        if chosen_run is None:
            raise LearningInputError("no clustering run to assign posts to: run `postatlas cluster` first")
        row = cluster_store.cluster_run(con, chosen_run)
        if row is None:
            raise LearningInputError(f"no clustering run {chosen_run!r}: see `postatlas cluster --list`")
        curated_only = bool(row["parameters"].get("curated_only", False))
        everything = cluster_store.embedded_posts(con, row["model_id"], curated_only)
        previous = cluster_store.assignment_labels(con, chosen_run)
        newest = cluster_store.embedding_models(con)[0][0]
    if newest != row["model_id"]:
        raise LearningInputError(
            f"{chosen_run} clusters embeddings of {row['model_id']}, but the newest embeddings are {newest}'s: "
            "refit with `postatlas cluster` (new posts are only embedded with the newest model)")
    known = dict(zip(previous.column("post_id").to_pylist(), previous.column("cluster_id").to_pylist(),
                     strict=True))
    post_ids = everything.column("post_id").to_pylist()
    is_new = np.array([post_id not in known for post_id in post_ids], dtype=bool)
    if not is_new.any():
        return {"run": chosen_run, "assigned": 0, "method": row["method"]}
    clusterer = cluster_store.load_clusterer(store.root, row["clusterer_path"])
    new = everything.filter(pa.array(is_new))
    labels, xy = (np.asarray(values) for values in clusterer.place(vectors_of(new), coordinates_of(new)))
    known.update(zip(new.column("post_id").to_pylist(), labels.tolist(), strict=True))
    # summaries over the run's posts still embedded and not deleted: the fitted ones and the new ones
    all_labels = np.array([known[post_id] for post_id in post_ids], dtype=np.int64)
    has_image = np.array([path is not None for path in everything.column("image_path").to_pylist()])
    clusters = clusters_table(summarise(everything, vectors_of(everything), all_labels),
                              np.asarray(post_ids, dtype=object), has_image, all_labels)
    assignments = assignments_table(new.column("post_id").to_pylist(), labels, xy, "assign")
    with warehouse_writer(store.warehouse, run_id) as con:
        added = cluster_store.add_assignments(con, chosen_run, assignments, clusters)
    return {"run": chosen_run, "assigned": added, "method": row["method"]}


def refit_due(run_row: dict[str, Any], new_posts: int, refit_days: float, refit_fraction: float,
              now: datetime | None = None) -> tuple[bool, str]:
    """Whether the nightly flow refits (and why) or only assigns the new posts to the existing clusters."""
    age_days = ((now or datetime.now(UTC)) - run_row["created_at"]).total_seconds() / 86400
    if age_days >= refit_days:
        return True, f"the last fit is {age_days:.1f} days old (refit every {refit_days:g})"
    fitted = run_row["posts"] + run_row["assigned_since_fit"]
    if fitted and new_posts / fitted > refit_fraction:
        return True, f"{new_posts} new posts are more than {refit_fraction:.0%} of the {fitted} clustered"
    return False, f"{new_posts} new posts assigned to the clusters of {run_row['run']}"


def cluster_run_summary(home: str | Path, run: str | None = None) -> dict[str, Any]:
    """A run's row and its clusters, for printing."""
    store = Home.at(home)
    with warehouse.reader(store.warehouse) as con:
        chosen = run or cluster_store.latest_run(con)
        row = cluster_store.cluster_run(con, chosen) if chosen else None
        if row is None:
            raise LearningInputError(
                "no clustering run yet: run `postatlas cluster`" if chosen is None else f"no clustering run {chosen!r}")
        return {**row, "clusters": cluster_store.clusters_of(con, chosen)}


def new_post_count(home: str, run: str) -> int:
    """Embedded posts of the run's model that the run has not assigned yet."""
    store = Home.at(home)
    with warehouse.reader(store.warehouse) as con:
        row = cluster_store.cluster_run(con, run)
        if row is None:
            return 0
        curated_only = bool(row["parameters"].get("curated_only", False))
        return cluster_store.embedded_posts(con, row["model_id"], curated_only, exclude_run=run).num_rows


def latest_run_id(home: str, method: str | None = None) -> str | None:
    """The newest clustering run (of that method), or None."""
    with warehouse.reader(Home.at(home).warehouse) as con:
        return cluster_store.latest_run(con, method)


def nightly_plan(home: str, method: str, model_id: str, refit_days: float, refit_fraction: float
                 ) -> tuple[bool, str, str | None]:
    """(refit?, why, the newest run of the method) for the nightly flow."""
    latest = latest_run_id(home, method)
    if latest is None:
        return True, "no clustering run yet", None
    store = Home.at(home)
    with warehouse.reader(store.warehouse) as con:
        row = cluster_store.cluster_run(con, latest)
        model = learning.model_row(con, model_id)
    if row["model_id"] != model_id:
        return True, f"a newer embedding model ({model_id}) than the last fit's", latest
    if model is not None and model["created_at"].replace(tzinfo=UTC) > row["created_at"]:
        return True, f"{model_id} was retrained after the last fit", latest
    if not cluster_store.clusterer_exists(store.root, row["clusterer_path"]):
        return True, f"the fitted clusterer of {latest} is missing", latest
    due, reason = refit_due(row, new_post_count(home, latest), refit_days, refit_fraction)
    return due, reason, latest
