"""Paper 000's flows: train the correlational autoencoder, embed posts, cluster them, report; and the nightly
flow that embeds the new posts and either refits the clusters or assigns the new posts to the existing ones.

Tasks take the home, training-set snapshots, ids and settings, and persist their results: a retried run redoes
only what failed (an interrupted training resumes from its last epoch's checkpoint; embedding skips posts already
embedded).
"""

from __future__ import annotations

from dataclasses import replace

from prefect import flow, task

from models.corrnet import AutoencoderSettings
from storage.home import Home
from tasks.learn.autoencoder import (
    AutoencoderTraining,
    Embedded,
    embed_posts,
    newest_autoencoder,
    prepare_posts,
    train_autoencoder,
)
from tasks.learn.cluster_report import publish_cluster_artifacts, write_report
from tasks.learn.clustering import (
    Assignment,
    ClusteringRun,
    ClusterReport,
    NightlyClusters,
    assign_new_posts,
    cluster_posts,
    latest_run_id,
    nightly_plan,
)
from tasks.learn.errors import LearningInputError
from tasks.ledger import tracked_run
from tasks.locks import WRITE_RETRY

prepare_autoencoder_posts = task(name="prepare-autoencoder-posts", timeout_seconds=3600, persist_result=True)(
    prepare_posts)
train_autoencoder_task = task(name="train-autoencoder", timeout_seconds=24 * 3600, persist_result=True,
                              **WRITE_RETRY)(train_autoencoder)
embed_posts_task = task(name="embed-posts", timeout_seconds=6 * 3600, persist_result=True, **WRITE_RETRY)(
    embed_posts)
cluster_posts_task = task(name="cluster-posts", timeout_seconds=6 * 3600, persist_result=True, **WRITE_RETRY)(
    cluster_posts)
assign_posts_task = task(name="assign-new-posts", timeout_seconds=3600, persist_result=True, **WRITE_RETRY)(
    assign_new_posts)
report_task = task(name="cluster-report", timeout_seconds=3600, persist_result=True, **WRITE_RETRY)(write_report)
plan_task = task(name="plan-clusters", timeout_seconds=600)(nightly_plan)
newest_autoencoder_task = task(name="newest-autoencoder", timeout_seconds=600)(newest_autoencoder)
latest_run_task = task(name="latest-cluster-run", timeout_seconds=600)(latest_run_id)
publish_task = task(name="publish-cluster-artifacts", timeout_seconds=600)(publish_cluster_artifacts)


def report_and_publish(home: Home, run_id: str, run: str) -> str:
    """The run's HTML report and its Prefect artifacts; returns the report's path."""
    path = report_task(home, run_id, run)
    publish_task(home, run)
    return path

# When no autoencoder is registered the nightly run trains one itself, on the `cpu` pool: 64 px images keep that
# to minutes (the weekly training on the `gpu` pool uses the paper's 158 px).
NIGHTLY_FALLBACK_SETTINGS = AutoencoderSettings().with_overrides({"image_size": 64})


@flow(name="train-autoencoder")
def train_autoencoder_flow(home: str | None = None, settings: dict | None = None, curated_only: bool | None = None,
                           retrain: bool = False) -> AutoencoderTraining:
    """Train paper 000's autoencoder on the (curated) posts and register it; returns its model id."""
    store = Home.at(home)
    config = AutoencoderSettings.from_dict(settings or {})
    with tracked_run(store, "train-autoencoder", {"curated_only": curated_only, "retrain": retrain}) as run:
        dataset = prepare_autoencoder_posts(store, curated_only)
        model_id = train_autoencoder_task(dataset, config, store, run.run_id, retrain)
        run.counts = {"models": 1}
    return AutoencoderTraining(model_id, str(dataset.path))


@flow(name="embed")
def embed_flow(home: str | None = None, model_id: str | None = None, device: str = "auto") -> Embedded:
    """Embed the posts a model has not embedded yet (Parquet under POSTATLAS_HOME/embeddings, view `embeddings`)."""
    store = Home.at(home)
    with tracked_run(store, "embed", {"model_id": model_id}) as run:
        result = embed_posts_task(store, run.run_id, model_id, device)
        run.counts = {"read": result.read, "written": result.embedded}
    return result


@flow(name="cluster")
def cluster_flow(home: str | None = None, method: str = "default", model_id: str | None = None,
                 settings: dict | None = None, label_task: str | None = None, report: bool = True) -> ClusteringRun:
    """Cluster a model's embeddings, write cluster_runs / clusters / cluster_assignments, and the HTML report."""
    store = Home.at(home)
    parameters = {"method": method, "model_id": model_id, "settings": settings, "label_task": label_task}
    with tracked_run(store, "cluster", parameters) as run:
        result = cluster_posts_task(store, run.run_id, method, model_id, settings, label_task)
        run.counts = {"written": result.posts}
        if report:
            result = replace(result, report_path=report_and_publish(store, run.run_id, result.run))
    return result


@flow(name="assign-clusters")
def assign_flow(home: str | None = None, method: str | None = None, run: str | None = None,
                report: bool = True) -> Assignment:
    """Place newly embedded posts in the clusters of an existing run (the newest of `method`) without a refit."""
    store = Home.at(home)
    with tracked_run(store, "assign-clusters", {"method": method, "run": run}) as ledger:
        result = assign_posts_task(store, ledger.run_id, run, method)
        ledger.counts = {"written": result.assigned}
        if report:
            result = replace(result, report_path=report_and_publish(store, ledger.run_id, result.run))
    return result


@flow(name="cluster-report")
def report_flow(home: str | None = None, run: str | None = None) -> ClusterReport:
    """Write the HTML report of a clustering run (the newest by default) and publish it as Prefect artifacts."""
    store = Home.at(home)
    with tracked_run(store, "cluster-report", {"run": run}) as ledger:
        run = run or latest_run_task(store)
        if run is None:
            raise LearningInputError("no clustering run yet: run `postatlas cluster` first")
        path = report_and_publish(store, ledger.run_id, run)
    return ClusterReport(run, path)


@flow(name="nightly-clusters")
def nightly_clusters_flow(home: str | None = None, method: str = "default", refit_days: float = 7.0,
                          refit_fraction: float = 0.2, settings: dict | None = None) -> NightlyClusters:
    """Embed new posts, then refit the clusters (weekly, or when many posts are new) or assign the new posts.

    Trains an autoencoder with the default settings first when none is registered (the weekly training flow
    normally keeps one fresh).
    """
    store = Home.at(home)
    with tracked_run(store, "nightly-clusters", {"method": method, "refit_days": refit_days,
                                                 "refit_fraction": refit_fraction}) as run:
        if newest_autoencoder_task(store) is None:
            dataset = prepare_autoencoder_posts(store, None)
            train_autoencoder_task(dataset, NIGHTLY_FALLBACK_SETTINGS, store, run.run_id)
        embedded = embed_posts_task(store, run.run_id)
        due, reason, latest = plan_task(store, method, embedded.model_id, refit_days, refit_fraction)
        if due:
            fitted = cluster_posts_task(store, run.run_id, method, embedded.model_id, settings)
            chosen, counts = fitted.run, {"written": fitted.posts}
        else:
            assigned = assign_posts_task(store, run.run_id, latest)
            chosen, counts = latest, {"written": assigned.assigned}
        report_path = report_and_publish(store, run.run_id, chosen)
        run.counts = {"read": embedded.read, **counts}
        run.message = f"{'refit' if due else 'assigned'}: {reason}"
    return NightlyClusters(chosen, due, reason, embedded.embedded, report_path)
