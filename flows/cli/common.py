"""What every command module shares: the user-facing error, exit codes, argument types and small helpers."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# argparse's type for the object add_subparsers() returns (its class is private)
Subcommands = Any


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


@contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Turn the expected errors ``kinds`` (bad input, a busy warehouse, a missing file) into UserError."""
    try:
        yield
    except kinds as error:
        raise UserError(str(error)) from error


def quiet_prefect() -> None:
    """Keep Prefect's per-task INFO lines out of the terminal unless asked for."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def note(message: str) -> None:
    """A one-line note on stderr (what the command did on its own initiative)."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def split_list(value: str) -> list[str]:
    """``a, b,c`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in value.split(",") if part.strip()]


def positive_int(value: str) -> int:
    """An argparse type: an integer of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def fraction(value: str) -> float:
    """An argparse type: a number in (0, 1]."""
    number = float(value)
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {number}")
    return number


def add_training_options(parser: argparse.ArgumentParser, *, device: bool = True) -> None:
    """The options every training command shares: where it runs, its seed, and which posts it reads."""
    if device:
        parser.add_argument("--device", help="auto (default: CUDA when present), cpu or cuda")
        parser.add_argument("--threads", type=positive_int, help="CPU threads for training (default: every core)")
    parser.add_argument("--seed", type=int, help="random seed (default 13)")
    parser.add_argument("--all-posts", action="store_true", help="every non-deleted post, not only the curated ones")


def given(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    """The options among ``names`` given on the command line (the rest keep their settings' defaults)."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def round_or_blank(value: float | None) -> str:
    """A score with three decimals, or blank when there is none."""
    return "" if value is None else f"{value:.3f}"
