"""What every command module shares: the user-facing error, exit codes, argument types and small helpers."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.home import Home

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# The ephemeral Prefect server (no PREFECT_API_URL) gets this long to start; Prefect's 20 s is too short on a
# loaded 2-core machine. PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS in the environment wins.
STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
EPHEMERAL_STARTUP_SECONDS = 180

# argparse's type for the object add_subparsers() returns (its class is private)
Subcommands = Any


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


_EXPECTED: list[type[BaseException]] = []  # the kinds of the user_errors blocks now running


@contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Turn the expected errors ``kinds`` (bad input, a busy warehouse, a missing file) into UserError.

    While the block runs, Prefect's logs of a flow or task failing with one of them carry no traceback (the
    command ends with the one message instead)."""
    _EXPECTED.extend(kinds)
    try:
        yield
    except kinds as error:
        raise UserError(str(error)) from error
    finally:
        del _EXPECTED[len(_EXPECTED) - len(kinds):]


# --------------------------------------------------------------------------- Ctrl-C


class Interrupted:
    """Whether the user pressed Ctrl-C. DuckDB turns the KeyboardInterrupt of a running query into its own
    ``RuntimeError('Query interrupted')``, so the command asks this flag rather than the exception's type."""

    seen = False

    @classmethod
    def handler(cls, signum: int, frame: FrameType | None) -> None:
        """SIGINT: note it, then interrupt as Python does."""
        cls.seen = True
        raise KeyboardInterrupt


def catch_interrupts() -> None:
    """Install the SIGINT handler of the command (when it runs in the main thread)."""
    Interrupted.seen = False
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, Interrupted.handler)


class _QuietFailures(logging.Filter):
    """Prefect's engine logs: no tracebacks (and no repeated failure lines) for the errors the command reports
    itself in one line: an expected user error, or an interruption."""

    def filter(self, record: logging.LogRecord) -> bool:
        expected = Interrupted.seen or _is_expected(record.exc_info[1] if record.exc_info else None)
        message = record.getMessage()
        if not expected and record.levelno >= logging.ERROR and message.startswith("Finished in state "):
            expected = any(name in message for name in _expected_names())
        if not expected:
            return True
        if message.startswith(("Encountered exception during execution", "Finished in state ", "Crash detected")):
            return False  # the command's own message says it
        record.exc_info, record.exc_text = None, None
        return True


def _is_expected(error: BaseException | None) -> bool:
    return error is not None and isinstance(error, (KeyboardInterrupt, *_EXPECTED))


def _expected_names() -> set[str]:
    names: set[str] = set()
    kinds = list(_EXPECTED)
    while kinds:
        kind = kinds.pop()
        names.add(f"{kind.__name__}:")
        kinds.extend(kind.__subclasses__())
    return names


# --------------------------------------------------------------------------- Prefect


def prepare_prefect() -> None:
    """Ready Prefect for the command's flow runs; handlers call it after checking their arguments.

    Prefect's per-task INFO lines stay out of the terminal unless asked for, and failures the command reports
    itself carry no traceback. Without PREFECT_API_URL the temporary (ephemeral) Prefect server starts here, in
    the main thread, as a child that the kernel kills with this process (a CLI killed with SIGKILL leaves no
    server behind) in its own process group (Ctrl-C in the terminal reaches the command, which reports the
    interruption to the server, not the server itself).
    """
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.settings import get_current_settings

    quiet = _QuietFailures()
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _QuietFailures) for existing in logger.filters):
            logger.addFilter(quiet)
    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        return
    _start_ephemeral_server(settings.server.ephemeral.startup_timeout_seconds)


def _start_ephemeral_server(timeout: int) -> None:
    import subprocess
    from functools import partial
    from unittest import mock

    from prefect.server.api import server as prefect_server

    from tasks.processes import die_with_parent

    server = prefect_server.SubprocessASGIServer()
    if server.running:
        return

    parent = os.getpid()

    def own_group_and_die_with_parent() -> None:
        die_with_parent(parent)
        os.setpgid(0, 0)

    # Prefect starts uvicorn with subprocess.Popen and offers no hook: give its Popen our preexec_fn.
    popen = partial(subprocess.Popen, preexec_fn=own_group_and_die_with_parent)
    try:
        with mock.patch.object(prefect_server.subprocess, "Popen", popen):
            server.start(timeout=timeout)
    except RuntimeError as error:  # "Timed out while attempting to connect to ephemeral Prefect API server"
        server.stop()
        raise UserError(
            f"the temporary Prefect server did not answer within {timeout} s (a busy machine?): raise "
            f"{STARTUP_TIMEOUT_ENV}, or start a server once (`make serve`) and point the command at it with "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        ) from error


# --------------------------------------------------------------------------- checks before any work


def check_home(home: Home, *, writes: bool) -> None:
    """UserError unless ``home`` can serve the command: a folder (or one that can be created), writable when the
    command writes. Reading commands answer from a read-only home."""
    root = home.root
    if root.exists() and not root.is_dir():
        raise UserError(f"the home {root} is a file, not a folder: give --home (or POSTATLAS_HOME) a folder")
    if not writes:
        return
    existing = next(folder for folder in (root, *root.parents) if folder.exists())
    if not existing.is_dir():
        raise UserError(f"the home {root} cannot be created: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK) or (home.warehouse.exists()
                                                       and not os.access(home.warehouse, os.W_OK)):
        raise UserError(
            f"the home {root} is not writable (this command writes to it): fix its permissions or give --home "
            "(or POSTATLAS_HOME) a writable folder; `sql`, `runs`, `models` and `status` still read it"
        )


def existing_paths(paths: list[str], what: str = "") -> None:
    """UserError naming the first of ``paths`` that does not exist or cannot be read."""
    for path in paths:
        if not os.path.exists(path):
            raise UserError(f"{what}{path}: no such file or folder")
        if not os.access(path, os.R_OK):
            raise UserError(f"{what}{path}: not readable (check its permissions)")


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


def non_negative_int(value: str) -> int:
    """An argparse type: an integer of at least 0."""
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {number}")
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
