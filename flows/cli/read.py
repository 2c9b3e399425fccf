"""The reading commands: `sql`, `runs`, `models`, `status`. They read the analyst copy that the writer publishes
(storage/analyst_copy.py), so they answer at once even while a flow writes; `--live` reads the live file instead
(waiting for the writer).

The warehouse modules are imported by the handlers, so that parsing any command line stays fast.
"""

from __future__ import annotations

import argparse

from flows.cli.common import EXIT_OK, Subcommands, user_errors
from storage.home import Home


def register(commands: Subcommands) -> None:
    """Add `sql`, `runs`, `models`."""
    sql = commands.add_parser("sql", help="read-only SQL over the warehouse's analyst copy")
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    _live_options(sql)
    sql.set_defaults(handler=cmd_sql)

    runs = commands.add_parser("runs", help="recent runs with their counts and failure reasons")
    runs.add_argument("--limit", type=int, default=20)
    _live_options(runs)
    runs.set_defaults(handler=cmd_runs)

    models = commands.add_parser("models", help="the model registry with validation and test scores")
    models.add_argument("--task", help="only models of this label task")
    models.add_argument("--tasks", action="store_true", help="list the label tasks and their labelled posts")
    _live_options(models)
    models.set_defaults(handler=cmd_models)

    status = commands.add_parser("status", help="the warehouse, its analyst copy's age and the runs in progress")
    status.set_defaults(handler=cmd_status)


def _live_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--live", action="store_true",
                        help="read the live warehouse (waits while a flow writes) instead of the analyst copy")
    parser.add_argument("--wait", type=float, default=None,
                        help="with --live: seconds to wait while a writer holds the warehouse")


def cmd_sql(args: argparse.Namespace, home: Home) -> int:
    """Print an analyst's query as a table, CSV or JSON."""
    from storage import queries, warehouse
    from tasks.report import print_table

    with user_errors(FileNotFoundError, warehouse.WarehouseError, queries.QueryError), \
            warehouse.analyst_reader(home.warehouse, args.live, args.wait) as con:
        table = queries.user_query(con, args.query)
    print_table(table, args.format)
    return EXIT_OK


def cmd_runs(args: argparse.Namespace, home: Home) -> int:
    """Print the newest runs of the ledger."""
    from storage import queries, warehouse
    from tasks.report import print_table

    with user_errors(FileNotFoundError, warehouse.WarehouseError), \
            warehouse.analyst_reader(home.warehouse, args.live, args.wait) as con:
        table = queries.recent_runs(con, args.limit)
    print_table(table, "table")
    return EXIT_OK


def cmd_models(args: argparse.Namespace, home: Home) -> int:
    """Print the model registry (or the label tasks with --tasks)."""
    from storage import queries, warehouse
    from tasks.report import print_rows

    with user_errors(FileNotFoundError, warehouse.WarehouseError), \
            warehouse.analyst_reader(home.warehouse, args.live, args.wait) as con:
        if args.tasks:
            print_rows(("task", "labelled posts", "labels"), queries.label_tasks(con), "Label tasks")
            return EXIT_OK
        rows = queries.model_scores(con, args.task)
    print_rows(("model_id", "kind", "task", "variant", "train posts", "val acc %", "test acc %", "test macro-F1 %",
                "created"), rows, "Models")
    return EXIT_OK


def cmd_status(args: argparse.Namespace, home: Home) -> int:
    """Print the live warehouse, who writes it, the analyst copy's age and the runs still going in the copy."""
    from storage import warehouse
    from tasks.report import print_status

    with user_errors(FileNotFoundError, warehouse.WarehouseError):
        print_status(warehouse.status(home.warehouse))
    return EXIT_OK
