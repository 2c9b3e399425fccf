"""What each CLI command does: run a flow (demo, ingest, curate) or read the warehouse (sql, runs)."""

from __future__ import annotations

import argparse
import io
import os
import sys

import duckdb
import orjson
import pyarrow.csv as pacsv

from flows.errors import UserError
from storage import warehouse
from storage.readers import ReaderError
from storage.home import Home

EXIT_OK = 0

from flows.commands_clusters import cmd_cluster, cmd_embed, cmd_report, cmd_train_autoencoder  # paper 000's
from flows.commands_words import (  # paper 001's commands
    WORD_SPACE_MODELS,
    cmd_image_map,
    cmd_languages,
    cmd_retrieve,
    cmd_top_words,
    cmd_train_word_space,
    cmd_words,
)

__all__ = ["cmd_cluster", "cmd_embed", "cmd_image_map", "cmd_languages", "cmd_report", "cmd_retrieve",
           "cmd_top_words", "cmd_words"]


def _quiet_prefect() -> None:
    """Keep Prefect's per-task INFO lines out of the terminal unless asked for."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def cmd_ingest(args: argparse.Namespace, home: str) -> int:
    _quiet_prefect()
    from flows.ingest import ingest_flow
    from tasks.ingest import IngestError
    from tasks.report import print_ingest_summary

    try:
        totals = ingest_flow(
            fmt=args.format, paths=args.paths, platform=args.platform, labels_csv=args.labels_csv,
            label_task=args.label_task, field_map=args.field_map, label_map=args.label_map, columns=args.columns,
            media_dirs=args.media_dirs, batch_records=args.batch_records, home=home,
        )
    except (ReaderError, IngestError, warehouse.WarehouseBusy) as error:
        raise UserError(str(error)) from error
    print_ingest_summary(totals, str(Home.at(home).warehouse))
    return EXIT_OK


def cmd_collect(args: argparse.Namespace, home: str) -> int:
    _quiet_prefect()
    from flows.collect import collect_flow
    from tasks.collect.base import CollectorError
    from tasks.report import print_collect_summary

    try:
        totals = collect_flow(platform=args.platform, spec=args.spec, home=home)
    except (CollectorError, warehouse.WarehouseBusy) as error:
        raise UserError(str(error)) from error
    print_collect_summary(args.platform, totals, str(Home.at(home).warehouse))
    return EXIT_OK


def cmd_curate(args: argparse.Namespace, home: str) -> int:
    _quiet_prefect()
    from flows.curate import curate_flow, on_dask
    from tasks.curate_run import CurateError, options_from_cli
    from tasks.report import print_rule_summary

    flow_to_run = on_dask(args.dask) if args.dask else curate_flow
    partitions = args.partitions or (2 if args.dask else 0)
    try:
        result = flow_to_run(options=options_from_cli(vars(args)), home=home, partitions=partitions)
    except (CurateError, warehouse.WarehouseBusy, FileNotFoundError) as error:
        raise UserError(str(error)) from error
    print_rule_summary(result["rules"], result["in"], result["kept"])
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, home: str) -> int:
    _quiet_prefect()
    from flows.demo import demo_flow
    from tasks.report import print_demo_summary

    summary = demo_flow(posts=args.posts, seed=args.seed, home=home, learn=not args.no_learn)
    print_demo_summary(summary)
    return EXIT_OK


def cmd_sql(args: argparse.Namespace, home: str) -> int:
    path = Home.at(home).warehouse
    try:
        with warehouse.reader(path, wait_seconds=args.wait) as con:
            result = con.sql(args.query)
            if result is None:
                raise UserError("the query returned no result set (the warehouse is read-only here)")
            table = result.to_arrow_table()
    except (FileNotFoundError, warehouse.WarehouseBusy) as error:
        raise UserError(str(error)) from error
    except duckdb.Error as error:
        raise UserError(str(error).strip()) from error
    write_result(table, args.format)
    return EXIT_OK


def write_result(table, fmt: str) -> None:
    """Print an Arrow table as a table, CSV (with a header row) or JSON (a list of objects)."""
    if fmt == "csv":
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer)
        sys.stdout.write(buffer.getvalue().decode())
    elif fmt == "json":
        sys.stdout.write(orjson.dumps(table.to_pylist(), default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        from tasks.report import print_rows

        print_rows(table.column_names, [list(row.values()) for row in table.to_pylist()])


def cmd_runs(args: argparse.Namespace, home: str) -> int:
    query = (
        "SELECT left(run_id, 8) AS run, flow, status, strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started, "
        "round(epoch(finished_at) - epoch(started_at), 1) AS seconds, "
        "read, written, duplicates, filtered, quarantined, kept, message "
        f"FROM runs ORDER BY started_at DESC LIMIT {int(args.limit)}"
    )
    return cmd_sql(argparse.Namespace(query=query, format="table", wait=None), home)


def _fusion_settings(args: argparse.Namespace) -> dict:
    """Only the options given on the command line; the rest keep FusionSettings' defaults."""
    settings: dict = {}
    train: dict = {}
    image_train: dict = {}
    for name in ("text_encoder", "image_size", "negatives", "main_task_weight", "ngrams", "image_backbone"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    if args.balanced:
        settings["balanced_classes"] = True
    if args.grey:
        settings["channels"] = 1
    if args.end_to_end:
        settings["share_image_encoder"] = False
    for name in ("batch_size", "device", "seed", "patience"):
        if getattr(args, name) is not None:
            train[name] = image_train[name] = getattr(args, name)
    if args.learning_rate is not None:
        train["learning_rate"] = args.learning_rate
    if args.image_learning_rate is not None:
        image_train["learning_rate"] = args.image_learning_rate
    if args.epochs is not None:
        train["epochs"] = args.epochs
    if args.image_epochs is not None:
        image_train["epochs"] = args.image_epochs
    from models.fusion_training import FusionSettings

    defaults = FusionSettings()
    settings["train"] = {**defaults.train.__dict__, **train}
    settings["image_train"] = {**defaults.image_train.__dict__, **image_train}
    return settings


def cmd_train(args: argparse.Namespace, home: str) -> int:
    _quiet_prefect()
    from tasks.learn.errors import LearningInputError

    if args.model in WORD_SPACE_MODELS:
        return cmd_train_word_space(args, home)
    if args.model == "autoencoder":
        return cmd_train_autoencoder(args, home)
    try:
        if args.model == "fusion":
            from flows.learn import train_fusion_flow
            from tasks.report import print_fusion_summary

            result = train_fusion_flow(task_name=args.task, variants=args.variant, home=home,
                                       settings=_fusion_settings(args), curated_only=False if args.all_posts else None,
                                       retrain=args.retrain, split_task=args.split_task)
            print_fusion_summary(result)
            return EXIT_OK
    except (LearningInputError, FileNotFoundError, ImportError, ValueError, warehouse.WarehouseBusy) as error:
        raise UserError(str(error)) from error
    raise UserError(f"unknown model {args.model!r}")


def cmd_predict(args: argparse.Namespace, home: str) -> int:
    _quiet_prefect()
    from flows.learn import predict_fusion_flow
    from tasks.learn.errors import LearningInputError
    from tasks.report import print_prediction_summary

    try:
        result = predict_fusion_flow(task_name=args.task, model_id=args.model_id, home=home)
    except (LearningInputError, FileNotFoundError, ImportError, ValueError, warehouse.WarehouseBusy) as error:
        raise UserError(str(error)) from error
    print_prediction_summary(result, str(Home.at(home).warehouse))
    return EXIT_OK


def cmd_models(args: argparse.Namespace, home: str) -> int:
    from tasks.report import print_rows

    with warehouse.reader(Home.at(home).warehouse) as con:
        if args.tasks:
            rows = con.execute(
                "SELECT task, count(DISTINCT post_id), count(DISTINCT label) FROM post_labels GROUP BY task "
                "ORDER BY task").fetchall()
            print_rows(("task", "labelled posts", "labels"), rows, "Label tasks")
            return EXIT_OK
        rows = con.execute(
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
            [args.task, args.task],
        ).fetchall()
    print_rows(("model_id", "kind", "task", "variant", "train posts", "val acc %", "test acc %", "test macro-F1 %",
                "created"), rows, "Models")
    return EXIT_OK
