"""The `postatlas` command line: one module per command group, each adding its parsers with a handler.

Commands that change data run Prefect flows; `sql`, `runs`, `models` and `status` only read. Handlers take the parsed
arguments and the one ``Home`` of the command, and import flows late so that reading commands stay fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from flows.cli import bots, clusters, features, fusion, joint, language, pipeline, read, words
from flows.cli.common import (
    EPHEMERAL_STARTUP_SECONDS,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    STARTUP_TIMEOUT_ENV,
    Interrupted,
    UserError,
    catch_interrupts,
    check_home,
)
from storage.home import HOME_ENV, Home
from tasks.collect.secrets import install_log_redaction, redact

DATA_GROUPS = (pipeline, features, read)  # register(commands)
MODEL_GROUPS = (fusion, words, clusters, language, bots, joint)  # register(commands, train_models, predict_models)
READING_COMMANDS = ("sql", "runs", "models", "status")  # every other command writes to the home


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; every leaf parser sets ``handler``."""
    parser = argparse.ArgumentParser(
        prog="postatlas",
        description="Turn social media posts into an analyst-ready DuckDB warehouse.",
        epilog=f"Data lives under ${HOME_ENV} (default ~/.postatlas): warehouse.duckdb, raw/, media/, reports/.",
    )
    parser.add_argument("--home", help=f"postatlas home folder (overrides ${HOME_ENV})")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in DATA_GROUPS:
        group.register(commands)
    train = commands.add_parser("train", help="train a model (runs on the gpu pool when deployed; CPU fallback)")
    train_models = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    predict = commands.add_parser("predict", help="predict labels of posts with a trained model")
    predict_models = predict.add_subparsers(dest="model", required=True, metavar="MODEL")
    for group in MODEL_GROUPS:
        group.register(commands, train_models, predict_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script: a user error exits 2 with one line, Ctrl-C exits 130."""
    args = build_parser().parse_args(argv)
    install_log_redaction()  # every log record and uncaught traceback masks the configured secrets
    if args.home:
        os.environ[HOME_ENV] = str(Home.at(args.home))  # flows and their subprocesses find the same home
    home = Home.at()
    os.environ.setdefault("DO_NOT_TRACK", "1")  # offline by design: no telemetry attempts in the log
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault(STARTUP_TIMEOUT_ENV, str(EPHEMERAL_STARTUP_SECONDS))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # before Prefect is imported: no per-task INFO lines
    catch_interrupts()
    try:
        writes = args.command not in READING_COMMANDS
        check_home(home, writes=writes)
        if writes:
            check_warehouse(home)
        return args.handler(args, home)
    except UserError as error:
        if Interrupted.seen:
            return interrupted(args.command)
        print(f"postatlas {args.command}: error: {redact(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except BaseException:
        if Interrupted.seen:  # a KeyboardInterrupt, or what DuckDB or Prefect made of it
            code = interrupted(args.command)
            if argv is None:  # the program itself, not a test calling main()
                exit_now(code)
            return code
        raise


def exit_now(code: int) -> None:
    """Exit after the exit handlers (Prefect stops its temporary server) but before the interpreter tears its
    modules down: an interrupted DuckDB query leaves objects behind that would each print a leak warning."""
    import atexit

    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    logging.shutdown()
    os._exit(code)


def interrupted(command: str) -> int:
    """Ctrl-C: what was committed stays (whole batches), the rest was rolled back."""
    print(f"postatlas {command}: interrupted (whole batches committed stay; run the command again to go on)",
          file=sys.stderr)
    return EXIT_INTERRUPTED


def check_warehouse(home: Home) -> None:
    """Before a writing command starts anything: its warehouse, when there is one, is a DuckDB warehouse this
    version can write (not another kind of file, not written by a newer postatlas)."""
    if not home.warehouse.exists():
        return
    from storage.warehouse import WarehouseError, reader

    try:
        with reader(home.warehouse):
            pass
    except WarehouseError as error:
        raise UserError(str(error)) from error
