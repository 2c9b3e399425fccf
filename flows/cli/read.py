"""The reading commands: `sql`, `runs`, `models`. They answer at once from a read-only connection.

The warehouse modules are imported by the handlers, so that parsing any command line stays fast.
"""

from __future__ import annotations

import argparse

from flows.cli.common import EXIT_OK, Subcommands, user_errors
from storage.home import Home


def register(commands: Subcommands) -> None:
    """Add `sql`, `runs`, `models`."""
    sql = commands.add_parser("sql", help="read-only SQL over the warehouse")
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("--wait", type=float, default=None, help="seconds to wait while a writer holds the warehouse")
    sql.set_defaults(handler=cmd_sql)

    runs = commands.add_parser("runs", help="recent runs with their counts and failure reasons")
    runs.add_argument("--limit", type=int, default=20)
    runs.set_defaults(handler=cmd_runs)

    models = commands.add_parser("models", help="the model registry with validation and test scores")
    models.add_argument("--task", help="only models of this label task")
    models.add_argument("--tasks", action="store_true", help="list the label tasks and their labelled posts")
    models.set_defaults(handler=cmd_models)


def cmd_sql(args: argparse.Namespace, home: Home) -> int:
    """Print an analyst's query as a table, CSV or JSON."""
    from storage import queries, warehouse
    from tasks.report import print_table

    with user_errors(FileNotFoundError, warehouse.WarehouseError, queries.QueryError), \
            warehouse.reader(home.warehouse, wait_seconds=args.wait) as con:
        table = queries.user_query(con, args.query)
    print_table(table, args.format)
    return EXIT_OK


def cmd_runs(args: argparse.Namespace, home: Home) -> int:
    """Print the newest runs of the ledger."""
    from storage import queries, warehouse
    from tasks.report import print_table

    with user_errors(FileNotFoundError, warehouse.WarehouseError), warehouse.reader(home.warehouse) as con:
        table = queries.recent_runs(con, args.limit)
    print_table(table, "table")
    return EXIT_OK


def cmd_models(args: argparse.Namespace, home: Home) -> int:
    """Print the model registry (or the label tasks with --tasks)."""
    from storage import queries, warehouse
    from tasks.report import print_rows

    with user_errors(FileNotFoundError, warehouse.WarehouseError), warehouse.reader(home.warehouse) as con:
        if args.tasks:
            print_rows(("task", "labelled posts", "labels"), queries.label_tasks(con), "Label tasks")
            return EXIT_OK
        rows = queries.model_scores(con, args.task)
    print_rows(("model_id", "kind", "task", "variant", "train posts", "val acc %", "test acc %", "test macro-F1 %",
                "created"), rows, "Models")
    return EXIT_OK
