"""The `postatlas` command line: one module per command group, each adding its parsers with a handler.

Commands that change data run Prefect flows; `sql`, `runs` and `models` only read. Handlers take the parsed
arguments and the one ``Home`` of the command, and import flows late so that reading commands stay fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from flows.cli import clusters, fusion, pipeline, read, words
from flows.cli.common import EXIT_USAGE, UserError
from storage.home import HOME_ENV, Home

DATA_GROUPS = (pipeline, read)  # register(commands)
MODEL_GROUPS = (fusion, words, clusters)  # register(commands, train_models, predict_models)


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
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    if args.home:
        os.environ[HOME_ENV] = str(Home.at(args.home))  # flows and their subprocesses find the same home
    home = Home.at()
    os.environ.setdefault("DO_NOT_TRACK", "1")  # offline by design: no telemetry attempts in the log
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        return args.handler(args, home)
    except UserError as error:
        print(f"postatlas {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"postatlas {args.command}: interrupted", file=sys.stderr)
        return 130
