"""What each CLI command does: run a flow (demo, ingest, curate) or read the warehouse (sql, runs)."""

from __future__ import annotations

import argparse
import io
import os
import sys

import duckdb
import orjson
import pyarrow.csv as pacsv

from storage import warehouse
from storage.readers import ReaderError
from storage.settings import home_paths

EXIT_OK = 0


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


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
    print_ingest_summary(totals, str(home_paths(home).warehouse))
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
    print_collect_summary(args.platform, totals, str(home_paths(home).warehouse))
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

    summary = demo_flow(posts=args.posts, seed=args.seed, home=home)
    print_demo_summary(summary)
    return EXIT_OK


def cmd_sql(args: argparse.Namespace, home: str) -> int:
    path = home_paths(home).warehouse
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
