"""Clustering runs on a model's embeddings (a Recipe whose registry is `cluster_runs`), and assigning new posts to
an existing run's clusters between refits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from models.cluster_summary import (
    ClusterCounts,
    ClusterSummary,
    centroid_of,
    count_clusters,
    covering_longitude_range,
    summarise_clusters,
    unit_vectors,
)
from models.clustering import (
    METHODS,
    MIN_POSTS,
    DefaultSettings,
    PaperClustering,
    PaperSettings,
    ScalableClustering,
    label_agreement,
    make_clusterer,
    silhouette,
)
from models.encoder_registry import spec
from models.feature_embedding import (
    balanced_features,
    feature_embedding_name,
    is_feature_embedding,
    parse_feature_embedding,
)
from storage import clusters as cluster_store
from storage import features, learning, warehouse
from storage.home import Home
from tasks.featurize import featurize_posts, refresh_feature_view
from tasks.learn.errors import LearningInputError
from tasks.learn.registry import Checkpoint, Evaluation, Fitted, Recipe, Snapshot, Trained, digest, train_and_register
from tasks.locks import warehouse_writer

Clusterer = PaperClustering | ScalableClustering


@dataclass(frozen=True)
class ClusteringRun:
    """A fitted clustering run: its row of `cluster_runs`, the clusterer's parameters and its clusters (id, name,
    size); `report_path` once its report is written."""

    run: str
    method: str
    model_id: str
    data_snapshot: str
    posts: int
    n_clusters: int
    silhouette: float | None
    label_task: str | None
    labelled_posts: int
    ari: float | None
    nmi: float | None
    posts_with_image: int
    posts_with_coordinates: int
    assigned_since_fit: int
    seconds: float
    run_id: str
    clusterer_path: str
    parameters: dict[str, Any]
    clusters: list[dict[str, Any]]
    report_path: str | None = None


@dataclass(frozen=True)
class Assignment:
    """New posts placed in the clusters of an existing run (no refit); `report_path` once its report is written."""

    run: str
    assigned: int
    method: str
    report_path: str | None = None


@dataclass(frozen=True)
class ClusterRunSummary:
    """What the terminal shows of a run: its scores and sizes, and every cluster's row."""

    run: str
    method: str
    model_id: str
    posts: int
    assigned_since_fit: int
    n_clusters: int
    silhouette: float | None
    ari: float | None
    nmi: float | None
    label_task: str | None
    labelled_posts: int
    posts_with_image: int
    posts_with_coordinates: int
    clusters: list[dict[str, Any]]


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


def feature_vectors(home: Home, posts: pa.Table, encoders: tuple[str, ...], run_id: str, device: str = "auto"
                    ) -> pa.Table:
    """The posts with a `vector` column of the encoders' features, each block balanced (models/feature_embedding.py)
    then concatenated; posts none of the encoders has a vector for are left out.

    What the feature store lacks is encoded first (tasks.featurize.featurize_posts, each post and encoder once).
    """
    encoded = 0
    for name in encoders:
        encoded += featurize_posts(home, posts.select(["post_id", "text", "image_path"]), name, run_id,
                                   device).encoded
    if encoded:
        refresh_feature_view(home, run_id)
    post_ids = posts.column("post_id").to_pylist()
    blocks, present = [], []
    for name in encoders:
        vectors, found = features.read_features(home, name, post_ids, int(spec(name).dimension or 0))
        blocks.append(vectors)
        present.append(found)
    keep = np.logical_or.reduce(present) if post_ids else np.zeros(0, bool)
    vectors = balanced_features([block[keep] for block in blocks], [found[keep] for found in present])
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), vectors.shape[1])
    return posts.filter(pa.array(keep)).append_column("vector", column)


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
        sums = s.coordinate_sums or (None, None, None)
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
            "coordinate_sum_x": sums[0], "coordinate_sum_y": sums[1], "coordinate_sum_z": sums[2],
        })
    return pa.Table.from_pylist(rows, schema=CLUSTERS_SCHEMA)


HASHTAGS_KEPT = 10  # top hashtags a cluster's row keeps (summarise_clusters' default)


def updated_clusters(stored: list[dict[str, Any]], counts: list[ClusterCounts], images: dict[int, int]) -> pa.Table:
    """A fitted run's `clusters` rows with newly assigned posts added, from the new posts' counts alone.

    Sizes, languages, coordinates (count, centroid, box), posts with an image and the time range come out as a
    summary of all the posts would give them; the box is widened to hold the new posts, so it can be wider than a
    refit's smallest one. Hashtag counts add the new posts' to the kept top ones, so a hashtag below a cluster's
    top ten at the fit counts only its new posts until the next refit. Name, terms and representatives stay the
    fit's: what a cluster is about changes with a refit (weekly, or when many posts are new, in the nightly flow).
    """
    by_cluster = {c.cluster_id: c for c in counts}
    unknown = set(by_cluster) - {row["cluster_id"] for row in stored}
    if unknown:
        raise ValueError(f"posts placed in clusters the run does not have: {sorted(unknown)}")
    return pa.Table.from_pylist([_updated_row(row, by_cluster.get(row["cluster_id"]), images.get(row["cluster_id"], 0))
                                 for row in stored], schema=CLUSTERS_SCHEMA)


def _updated_row(row: dict[str, Any], new: ClusterCounts | None, images: int) -> dict[str, Any]:
    row = {name: row.get(name) for name in CLUSTERS_SCHEMA.names}
    if new is None:
        return row
    row["size"] += new.size
    row["posts_with_image"] = (row["posts_with_image"] or 0) + images
    tags = _added(zip(row["top_hashtags"] or [], row["hashtag_counts"] or [], strict=True), new.hashtags)
    kept_tags = tags[:HASHTAGS_KEPT]
    row["top_hashtags"], row["hashtag_counts"] = [tag for tag, _ in kept_tags], [n for _, n in kept_tags]
    languages = _added(zip(row["languages"] or [], row["language_counts"] or [], strict=True), new.languages)
    row["languages"], row["language_counts"] = [lang for lang, _ in languages], [n for _, n in languages]
    times = [t for t in (row["first_post_at"], row["last_post_at"], _aware(new.first_post_at),
                         _aware(new.last_post_at)) if t is not None]
    row["first_post_at"], row["last_post_at"] = (min(times), max(times)) if times else (None, None)
    if new.posts_with_coordinates:
        _add_coordinates(row, new)
    return row


def _added(kept: Any, new: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Counts summed by name, most common first, ties by name."""
    total: dict[str, int] = dict(kept)
    for name, count in new:
        total[name] = total.get(name, 0) + count
    return sorted(total.items(), key=lambda item: (-item[1], item[0]))


def _add_coordinates(row: dict[str, Any], new: ClusterCounts) -> None:
    """Fold the new posts' coordinates into the row's count, unit-vector sums, centroid and box."""
    old = row["posts_with_coordinates"] or 0
    if not old:
        sums, lat_range, lon_ranges = np.zeros(3), new.lat_range, [new.lon_range]
    else:
        sums = (np.array([row["coordinate_sum_x"], row["coordinate_sum_y"], row["coordinate_sum_z"]], dtype=float)
                if row["coordinate_sum_x"] is not None  # rows fitted before migration 015: n times the centroid
                else old * unit_vectors(np.float64(row["centroid_lat"]), np.float64(row["centroid_lon"])))
        lat_range = (min(row["min_lat"], new.lat_range[0]), max(row["max_lat"], new.lat_range[1]))
        lon_ranges = [(row["min_lon"], row["max_lon"]), new.lon_range]
    sums = sums + np.asarray(new.coordinate_sums)
    centroid_lat, centroid_lon = centroid_of(sums)
    min_lon, max_lon = covering_longitude_range(lon_ranges)
    row.update(posts_with_coordinates=old + new.posts_with_coordinates, centroid_lat=float(centroid_lat),
               centroid_lon=float(centroid_lon), min_lat=lat_range[0], max_lat=lat_range[1], min_lon=min_lon,
               max_lon=max_lon, coordinate_sum_x=float(sums[0]), coordinate_sum_y=float(sums[1]),
               coordinate_sum_z=float(sums[2]))


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
    ("coordinate_sum_x", pa.float64()), ("coordinate_sum_y", pa.float64()), ("coordinate_sum_z", pa.float64()),
])


def assignments_table(post_ids: list[str], labels: np.ndarray, xy: np.ndarray, assigned_by: str) -> pa.Table:
    """The `cluster_assignments` rows (without `run`) of these posts."""
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
    """The summaries of the clusters `labels` gives these posts."""
    coordinates = coordinates_of(table)
    return summarise_clusters(
        labels, vectors, table.column("text").to_pylist(), table.column("hashtags").to_pylist(),
        table.column("lang").to_pylist(), coordinates[:, 0], coordinates[:, 1], _timestamps(table),
    )


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _has_image(posts: pa.Table) -> np.ndarray:
    return np.array([path is not None for path in posts.column("image_path").to_pylist()])


@dataclass(frozen=True)
class _Inputs:
    """The embedded posts as the clusterer reads them."""

    vectors: np.ndarray
    coordinates: np.ndarray


@dataclass(frozen=True)
class _Clusters:
    """A fitted clusterer with its clusters' rows."""

    clusterer: Clusterer
    clusters: pa.Table


@dataclass(frozen=True)
class ClusterReport:
    """A run's written HTML report."""

    run: str
    report_path: str


@dataclass(frozen=True)
class NightlyClusters:
    """What the nightly run did: refit (and why) or assigned to `run`, posts embedded, the report written."""

    run: str
    refit: bool
    reason: str
    embedded: int
    report_path: str


@dataclass(frozen=True, eq=False)
class ClusteringRecipe(Recipe[_Inputs, _Clusters]):
    """A clustering run of one model's embedded posts, written to `cluster_runs`, `clusters` and
    `cluster_assignments` (its "registry") with the fitted clusterer under POSTATLAS_HOME/clusters/<run>/.

    The run id hashes the model, the clustered posts and the settings: rerunning unchanged replaces the same rows.
    """

    kind = "cluster"
    reuse = False
    settings: PaperSettings | DefaultSettings
    method: str
    embedding_model_id: str
    posts: pa.Table
    curated_only: bool
    gold: dict[str, str]
    label_task: str | None

    @classmethod
    def from_warehouse(cls, home: Home, method: str, model_id: str | None, settings: dict[str, Any] | None,
                       label_task: str | None, curated_only: bool | None, run_id: str = "cluster"
                       ) -> ClusteringRecipe:
        """The recipe over the model's (the newest model's) embedded posts, compared with a label task's labels.

        A `model_id` of `features:ENCODER[+ENCODER...]` clusters the feature store's vectors instead (what is
        missing is encoded first, under `run_id`); the default method then clusters them unstandardised.
        """
        if method not in METHODS:
            raise LearningInputError(f"unknown clustering method {method!r}; choose from {', '.join(METHODS)}")
        encoders: tuple[str, ...] = ()
        if is_feature_embedding(model_id):
            try:
                encoders = parse_feature_embedding(str(model_id))
            except ValueError as error:
                raise LearningInputError(str(error)) from error
            settings = {**(settings or {}), **({"standardise": False} if method == "default" else {})}
        with warehouse.reader(home.warehouse) as con:
            chosen = feature_embedding_name(encoders) if encoders else choose_model(con, model_id)
            if curated_only is None:
                curated_only = learning.has_curation(con)
            posts = (cluster_store.content_posts(con, curated_only) if encoders
                     else cluster_store.embedded_posts(con, chosen, curated_only))
        if encoders:
            posts = feature_vectors(home, posts, encoders, run_id)
        with warehouse.reader(home.warehouse) as con:
            task = choose_label_task(cluster_store.label_task_sizes(con, posts.select(["post_id"])), label_task)
            gold = cluster_store.gold_labels(con, task) if task else {}
        if posts.num_rows < MIN_POSTS:
            hint = "posts with a text or an image" if encoders else "run `postatlas embed`"
            raise LearningInputError(
                f"only {posts.num_rows} {'curated ' if curated_only else ''}posts are embedded by {chosen}: "
                f"clustering needs at least {MIN_POSTS} ({hint})")
        try:
            clusterer = make_clusterer(method, **(settings or {}))
        except (TypeError, ValueError) as error:
            raise LearningInputError(f"bad clustering settings: {error}") from error
        snapshot = Snapshot(digest(posts.column("post_id").to_pylist()), {})
        return cls(clusterer.settings, snapshot, method, chosen, posts, curated_only, gold, task)

    def model_id(self) -> str:
        """The run: `cluster-<method>-<digest of the model, the posts and the resolved settings>`."""
        post_ids = self.posts.column("post_id").to_pylist()
        settings = self.settings.as_dict()
        if settings.get("standardise") is True:
            del settings["standardise"]  # the default, left out so that earlier runs keep their ids
        return f"cluster-{self.method}-{digest(self.embedding_model_id, post_ids, settings)}"

    def inputs(self, home: Home) -> _Inputs:
        """The embeddings and the coordinates (NaN without)."""
        return _Inputs(vectors_of(self.posts), coordinates_of(self.posts))

    def fit(self, inputs: _Inputs, checkpoint: Checkpoint) -> Fitted[_Clusters]:
        """Fit the method's clusterer and summarise its clusters (no checkpoints: the methods fit in one go)."""
        clusterer = METHODS[self.method][1](self.settings)
        try:
            clusterer.fit(inputs.vectors, inputs.coordinates)
        except ValueError as error:
            raise LearningInputError(str(error)) from error
        labels = np.asarray(clusterer.labels_)
        summaries = summarise(self.posts, inputs.vectors, labels)
        post_ids = np.asarray(self.posts.column("post_id").to_pylist(), dtype=object)
        return Fitted(_Clusters(clusterer, clusters_table(summaries, post_ids, _has_image(self.posts), labels)))

    def evaluate(self, fitted: Fitted[_Clusters], inputs: _Inputs) -> Evaluation:
        """Silhouette, and ARI / NMI against the label task where its labels cover clustered posts."""
        labels = np.asarray(fitted.model.clusterer.labels_)
        true_labels = [self.gold.get(post_id) for post_id in self.posts.column("post_id").to_pylist()]
        labelled = sum(label is not None for label in true_labels)
        ari, nmi = label_agreement(true_labels, labels) if labelled else (None, None)
        return Evaluation({"silhouette": _finite(silhouette(inputs.vectors, labels)), "label_task": self.label_task,
                           "labelled_posts": labelled, "ari": _finite(ari), "nmi": _finite(nmi)})

    def save(self, home: Home, model_id: str, fitted: Fitted[_Clusters], inputs: _Inputs) -> Path:
        """Pickle the fitted clusterer (to assign new posts between refits)."""
        return cluster_store.save_clusterer(home, model_id, fitted.model.clusterer)

    def run_row(self, home: Home, run_id: str, trained: Trained[_Clusters]) -> dict[str, Any]:
        """The run's `cluster_runs` row."""
        clusterer = trained.fitted.model.clusterer
        coordinates = coordinates_of(self.posts)
        return {
            "run": trained.model_id, "method": self.method,
            "parameters": {**clusterer.parameters_, "curated_only": self.curated_only},
            "data_snapshot": self.snapshot.digest, "model_id": self.embedding_model_id, "posts": self.posts.num_rows,
            "n_clusters": int(clusterer.n_clusters_), **trained.metrics,
            "posts_with_image": int(_has_image(self.posts).sum()),
            "posts_with_coordinates": int(np.isfinite(coordinates).all(1).sum()), "assigned_since_fit": 0,
            "run_id": run_id, "clusterer_path": str(trained.path.relative_to(home.root)),
        }

    def register(self, con: duckdb.DuckDBPyConnection, home: Home, run_id: str, trained: Trained[_Clusters]) -> None:
        """Replace the run's rows of `cluster_runs`, `clusters` and `cluster_assignments` in one transaction."""
        clusterer = trained.fitted.model.clusterer
        assignments = assignments_table(self.posts.column("post_id").to_pylist(), np.asarray(clusterer.labels_),
                                        np.asarray(clusterer.xy_), "fit")
        cluster_store.write_cluster_run(con, self.run_row(home, run_id, trained), trained.fitted.model.clusters,
                                        assignments)


def cluster_posts(
    home: Home, run_id: str, method: str = "default", model_id: str | None = None,
    settings: dict[str, Any] | None = None, label_task: str | None = None, curated_only: bool | None = None,
) -> ClusteringRun:
    """Fit a clustering run on a model's embeddings and write it back; returns the run's summary."""
    recipe = ClusteringRecipe.from_warehouse(home, method, model_id, settings, label_task, curated_only, run_id)
    trained = train_and_register(recipe, home, run_id)
    clusters = trained.fitted.model.clusters.select(["cluster_id", "name", "size"]).to_pylist()
    return ClusteringRun(**recipe.run_row(home, run_id, trained), clusters=clusters)


def assign_new_posts(home: Home, run_id: str, run: str | None = None, method: str | None = None) -> Assignment:
    """Place the model's newly embedded posts in the clusters of an existing run (no refit); returns counts."""
    with warehouse.reader(home.warehouse) as con:
        chosen_run = run or cluster_store.latest_run(con, method)
        if chosen_run is None:
            raise LearningInputError("no clustering run to assign posts to: run `postatlas cluster` first")
        row = cluster_store.cluster_run(con, chosen_run)
        if row is None:
            raise LearningInputError(f"no clustering run {chosen_run!r}: see `postatlas cluster --list`")
        if is_feature_embedding(row["model_id"]):
            raise LearningInputError(
                f"{chosen_run} clusters the pretrained features {row['model_id']}: new posts are not assigned to "
                f"such a run, refit with `postatlas cluster --embedding {row['model_id']}`")
        curated_only = bool(row["parameters"].get("curated_only", False))
        new = cluster_store.embedded_posts(con, row["model_id"], curated_only, unassigned_in=chosen_run)
        stored = cluster_store.clusters_of(con, chosen_run)
        newest = cluster_store.newest_embedding_model(con)
    if newest != row["model_id"]:
        raise LearningInputError(
            f"{chosen_run} clusters embeddings of {row['model_id']}, but the newest embeddings are {newest}'s: "
            "refit with `postatlas cluster` (new posts are only embedded with the newest model)")
    if new.num_rows == 0:
        return Assignment(chosen_run, 0, row["method"])
    clusterer = cluster_store.load_clusterer(home, row["clusterer_path"])
    coordinates = coordinates_of(new)
    labels, xy = (np.asarray(values) for values in clusterer.place(vectors_of(new), coordinates))
    counts = count_clusters(labels, new.column("hashtags").to_pylist(), new.column("lang").to_pylist(),
                            coordinates[:, 0], coordinates[:, 1], _timestamps(new))
    with_image = labels[_has_image(new)]
    images = dict(zip(*(values.tolist() for values in np.unique(with_image, return_counts=True)), strict=True))
    clusters = updated_clusters(stored, counts, images)
    assignments = assignments_table(new.column("post_id").to_pylist(), labels, xy, "assign")
    with warehouse_writer(home.warehouse, run_id) as con:
        added = cluster_store.add_assignments(con, chosen_run, assignments, clusters)
    return Assignment(chosen_run, added, row["method"])


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


def cluster_run_summary(home: Home, run: str | None = None) -> ClusterRunSummary:
    """A run's scores and clusters (the newest run's by default), for printing."""
    with warehouse.reader(home.warehouse) as con:
        chosen = run or cluster_store.latest_run(con)
        row = cluster_store.cluster_run(con, chosen) if chosen else None
        if row is None:
            raise LearningInputError(
                "no clustering run yet: run `postatlas cluster`" if chosen is None else f"no clustering run {chosen!r}")
        clusters = cluster_store.clusters_of(con, chosen)
    return ClusterRunSummary(
        row["run"], row["method"], row["model_id"], row["posts"], row["assigned_since_fit"], row["n_clusters"],
        row["silhouette"], row["ari"], row["nmi"], row["label_task"], row["labelled_posts"], row["posts_with_image"],
        row["posts_with_coordinates"], clusters)


def new_post_count(home: Home, run: str) -> int:
    """Embedded posts of the run's model that the run has not assigned yet."""
    with warehouse.reader(home.warehouse) as con:
        row = cluster_store.cluster_run(con, run)
        if row is None:
            return 0
        curated_only = bool(row["parameters"].get("curated_only", False))
        return cluster_store.unassigned_count(con, row["model_id"], curated_only, run)


def latest_run_id(home: Home, method: str | None = None) -> str | None:
    """The newest clustering run (of that method), or None."""
    with warehouse.reader(home.warehouse) as con:
        return cluster_store.latest_run(con, method)


def nightly_plan(home: Home, method: str, model_id: str, refit_days: float, refit_fraction: float
                 ) -> tuple[bool, str, str | None]:
    """(refit?, why, the newest run of the method) for the nightly flow."""
    latest = latest_run_id(home, method)
    if latest is None:
        return True, "no clustering run yet", None
    with warehouse.reader(home.warehouse) as con:
        row = cluster_store.cluster_run(con, latest)
        model = learning.model_row(con, model_id)
    if row["model_id"] != model_id:
        return True, f"a newer embedding model ({model_id}) than the last fit's", latest
    if model is not None and model["created_at"].replace(tzinfo=UTC) > row["created_at"]:
        return True, f"{model_id} was retrained after the last fit", latest
    if not cluster_store.clusterer_exists(home, row["clusterer_path"]):
        return True, f"the fitted clusterer of {latest} is missing", latest
    due, reason = refit_due(row, new_post_count(home, latest), refit_days, refit_fraction)
    return due, reason, latest
