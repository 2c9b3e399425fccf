"""Handlers of paper 000's commands: `train autoencoder`, `embed`, `cluster`, `report`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

from flows.errors import UserError
from storage import warehouse

EXIT_OK = 0
CLUSTER_OPTIONS = ("n_clusters", "distance_threshold", "geo_weight", "variance", "micro_clusters", "perplexity",
                   "seed")


@contextmanager
def _user_errors() -> Iterator[None]:
    """Problems the user can fix become UserError (exit 2 with the message)."""
    from tasks.learn.errors import LearningInputError

    try:
        yield
    except (LearningInputError, FileNotFoundError, ImportError, ValueError, warehouse.WarehouseBusy) as error:
        raise UserError(str(error)) from error


def _quiet_prefect() -> None:
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def autoencoder_settings(args: argparse.Namespace) -> dict:
    """The AutoencoderSettings given on the command line, as a dict the flow accepts."""
    from models.corrnet import AutoencoderSettings

    overrides = _given(args, ("epochs", "batch_size", "learning_rate", "patience", "image_size", "code_size",
                              "correlation_weight", "content_words", "word_dimensions", "word_vectors", "device",
                              "threads", "seed"))
    if args.colour:
        overrides["channels"] = 3
    return AutoencoderSettings().with_overrides(overrides).as_dict()


def cmd_train_autoencoder(args: argparse.Namespace, home: str) -> int:
    from flows.clusters import train_autoencoder_flow
    from storage.home import Home
    from tasks.learn.autoencoder import model_summary
    from tasks.report import print_rows

    _quiet_prefect()
    with _user_errors():
        result = train_autoencoder_flow(home=home, settings=autoencoder_settings(args),
                                        curated_only=False if args.all_posts else None, retrain=args.retrain)
        print_rows(("", "value"), model_summary(Home.at(home), result.model_id), "Autoencoder (paper 000) trained")
    return EXIT_OK


def cmd_embed(args: argparse.Namespace, home: str) -> int:
    from flows.clusters import embed_flow
    from tasks.report import print_rows

    _quiet_prefect()
    with _user_errors():
        result = embed_flow(home=home, model_id=args.model_id, device=args.device)
    print_rows(("", "value"), [
        ("model_id", result.model_id),
        ("embedded now", result.embedded),
        ("embedded before", result.already_embedded),
        ("posts", f"{result.posts} {'curated ' if result.curated_only else ''}posts with a text or an image"),
        ("not embedded", f"{result.without_content} posts without text or stored image"),
        ("nothing known", f"{result.unusable} embedded posts had no word the model knows and no readable "
                          "image (they share one code: they cluster together, or by place)"),
        ("dimensions", result.dimensions),
    ], "Embeddings (view `embeddings`: post_id, model_id, vector)")
    return EXIT_OK


DEFAULT_ONLY = {"geo_weight": "--geo-weight", "micro_clusters": "--micro-clusters"}


def cluster_settings(args: argparse.Namespace) -> dict:
    settings = _given(args, CLUSTER_OPTIONS)
    misplaced = [flag for name, flag in DEFAULT_ONLY.items() if name in settings and args.method == "paper"]
    if misplaced:
        raise UserError(f"{' and '.join(misplaced)} {'is' if len(misplaced) == 1 else 'are'} for --method default "
                        "only (the paper method weighs geography by kernel CCA and clusters every post)")
    if args.distance_threshold is not None:
        if args.n_clusters is not None:
            raise UserError("give --clusters or --distance-threshold, not both")
        settings["n_clusters"] = None
    return settings


def _print_runs(home: str) -> None:
    from storage import clusters as cluster_store
    from storage.home import Home
    from tasks.report import print_rows

    with warehouse.reader(Home.at(home).warehouse) as con:
        rows = cluster_store.cluster_runs(con)
    print_rows(("run", "method", "posts", "clusters", "silhouette", "ARI", "NMI", "labels", "assigned since", "fitted"),
               [(r["run"], r["method"], r["posts"], r["n_clusters"], _round(r["silhouette"]), _round(r["ari"]),
                 _round(r["nmi"]), r["label_task"], r["assigned_since_fit"], f"{r['created_at']:%Y-%m-%d %H:%M}")
                for r in rows], "Clustering runs")


def _round(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def print_cluster_run(home: str, run: str, report_path: str | None) -> None:
    from storage.home import Home
    from tasks.learn.cluster_report import cluster_rows
    from tasks.learn.clustering import cluster_run_summary
    from tasks.report import print_rows

    summary = cluster_run_summary(Home.at(home), run)
    rows = cluster_rows(summary.clusters)
    if rows:
        print_rows(tuple(rows[0]), [tuple(r.values()) for r in rows[:20]],
                   f"Clusters of {run} (largest 20 of {len(rows)})")
    print_rows(("", "value"), [
        ("run", run), ("method", summary.method), ("embedding model", summary.model_id),
        ("posts", f"{summary.posts} fitted + {summary.assigned_since_fit} assigned since"),
        ("clusters", summary.n_clusters), ("silhouette", _round(summary.silhouette)),
        ("ARI / NMI", f"{_round(summary.ari)} / {_round(summary.nmi)}"
                      + (f" against labels of '{summary.label_task}' ({summary.labelled_posts} posts)"
                         if summary.label_task else " (no label task)")),
        ("with image / coordinates", f"{summary.posts_with_image} / {summary.posts_with_coordinates}"),
        ("report", report_path or "not written (--no-report)"),
    ], "Clustering run")


def cmd_cluster(args: argparse.Namespace, home: str) -> int:
    from flows.clusters import assign_flow, cluster_flow
    from models.clustering import make_clusterer

    _quiet_prefect()
    with _user_errors():
        if args.list:
            _print_runs(home)
            return EXIT_OK
        if args.assign:
            result = assign_flow(home=home, method=args.method, report=not args.no_report)
            print(f"{result.assigned} new posts assigned to the clusters of {result.run}")
            print_cluster_run(home, result.run, result.report_path)
            return EXIT_OK
        settings = cluster_settings(args)
        make_clusterer(args.method, **settings)  # bad settings fail here, before any flow run starts
        result = cluster_flow(home=home, method=args.method, model_id=args.model_id, settings=settings,
                              label_task=args.label_task, report=not args.no_report)
        print_cluster_run(home, result.run, result.report_path)
    return EXIT_OK


def cmd_report(args: argparse.Namespace, home: str) -> int:
    from flows.clusters import report_flow

    _quiet_prefect()
    with _user_errors():
        result = report_flow(home=home, run=args.run)
    print(f"report of {result.run}: {result.report_path}")
    return EXIT_OK
