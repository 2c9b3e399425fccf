"""Credentials: environment variables first, then Prefect Secret blocks; never parameters, never written anywhere.

Every secret value this module resolves is also kept in one registry, with the values of the environment
variables named like credentials (``POSTATLAS_*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*API_KEY*``,
``*SESSION*``, ``*CLIENT_ID*``; read again at most once a second). ``redact(text)`` masks them as ``***``, and
the credentials after ``Bearer`` / ``Basic`` whatever they are (a proxy or an error page may echo the header).
It is applied where the project writes a message: log records (``install_log_redaction``: every record, at its
creation), the CLI's error line and uncaught tracebacks, the runs ledger, artifacts, quarantine rows, collected
pages, and the exceptions the collectors raise (``CollectorError`` / ``CollectionStopped`` redact their own
message, ``scrubbed_errors`` re-raises anything else without the secret and without its chain).
See docs/RELIABILITY.md ("Secrets").
"""

from __future__ import annotations

import base64
import logging
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, quote_plus

MASK = "***"
# Environment variables whose values are secrets even when no collector asked for them yet.
SECRET_ENV = re.compile(r"^POSTATLAS_\w*(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|SESSION|CLIENT_ID)\w*$")
# Shorter values are not masked as substrings: masking every "abc" in every message would make them unreadable.
MIN_SECRET_LENGTH = 4
# The credentials of an Authorization header (or of a quoted one), whatever the value: echoed headers.
# (a credential has a digit, '=', '%', '_' or '-' somewhere, so prose like "Basic information" is left alone)
AUTH_HEADER = re.compile(r"\b([Bb]earer|[Bb]asic)(\s+|%20|\+)(?=[^\s\"',;]*[0-9=%_-])[A-Za-z0-9._~+/=%:-]{8,}")
LOGGERS = ("", "prefect", "tweepy", "praw", "prawcore", "urllib3", "requests", "instaloader", "httpx")

ENV_RESCAN_SECONDS = 1.0  # credential-named environment variables are read again at most this often

_lock = threading.Lock()
_registered: set[str] = set()
_ordered: list[str] = []  # _registered, longest first
_env_scanned_at = float("-inf")


def register_secret(value: str | None) -> None:
    """Add ``value`` (and its URL-quoted forms) to the values ``redact`` masks."""
    global _ordered
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, quote(value, safe=""), quote_plus(value), repr(value)[1:-1]}
    new = {form for form in forms if len(form) >= MIN_SECRET_LENGTH} - _registered
    if new:
        with _lock:
            _registered.update(new)
            _ordered = sorted(_registered, key=len, reverse=True)


def register_basic_auth(user: str, password: str) -> None:
    """Register the HTTP Basic credentials of ``user:password`` (base64), as a server may echo them."""
    register_secret(base64.b64encode(f"{user}:{password}".encode()).decode())


def refresh_env_secrets() -> None:
    """Register the values of the credential-named environment variables (done when redaction is installed, when
    a secret is resolved, and by ``redact`` at most every ENV_RESCAN_SECONDS: reading the environment costs)."""
    global _env_scanned_at
    _env_scanned_at = time.monotonic()
    for name, value in list(os.environ.items()):
        if value and name.startswith("POSTATLAS_") and SECRET_ENV.match(name):
            register_secret(value)


def secret_values() -> list[str]:
    """Every value masked now, longest first (so that a value containing another is masked whole)."""
    if time.monotonic() - _env_scanned_at >= ENV_RESCAN_SECONDS:
        refresh_env_secrets()
    return _ordered


def redact(text: str) -> str:
    """``text`` with every secret value and every Authorization credential replaced by ``***``."""
    if not text:
        return text
    for value in secret_values():
        if value in text:
            text = text.replace(value, MASK)
    return AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


def redact_bytes(data: bytes) -> bytes:
    """``data`` with every secret value (UTF-8) replaced by ``***``; the same object when none occurs."""
    for value in secret_values():
        encoded = value.encode("utf-8", "surrogatepass")
        if encoded in data:
            data = data.replace(encoded, MASK.encode())
    return data


def contains_secret(text: str) -> bool:
    """Whether ``redact`` would change ``text``."""
    return redact(text) != text


# --------------------------------------------------------------------------- exceptions


@contextmanager
def scrubbed_errors() -> Iterator[None]:
    """Re-raise an exception without the secrets it shows or chains: its own message redacted (and its attributes,
    e.g. an HTTP response, dropped) when it shows one, and its chain cut. The same object is re-raised (a new one
    raised here would chain the original as its context), so neither tracebacks nor the result Prefect stores
    for a failed task carry a secret, also where exceptions are pickled with their chain (tblib, loaded by Dask)."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - re-raised, cleaned
        error.__cause__ = error.__context__ = None  # the platform's error (its response, the echoed token) stays
        error.__suppress_context__ = True
        if contains_secret(f"{error!s} {error!r}"):
            error.args = (redact(f"{type(error).__name__}: {error}"),)
            error.__dict__.clear()
        raise


# --------------------------------------------------------------------------- logging and stderr


class RedactingFilter(logging.Filter):
    """Masks secrets in a log record (message, arguments, exception text); never drops the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place."""
        _redact_record(record)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    """The record's message, when it shows a secret, masked and frozen (no more arguments); its traceback text
    masked."""
    if getattr(record, "_postatlas_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: keep what there is
        message = f"{record.msg} {record.args}"
    redacted = redact(str(message))
    if redacted != message:  # only then: handlers that read the arguments keep them otherwise
        record.msg, record.args = redacted, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._postatlas_redacted = True


_installed = False


def install_log_redaction() -> None:
    """Mask secrets in every log record from now on (once per process): a record factory that redacts each
    record as it is created (whichever logger, handler or Prefect API log handler it goes to), the
    ``RedactingFilter`` on the root, prefect, tweepy, praw, urllib3, requests and instaloader loggers, and the
    three places Python prints a traceback on stderr by itself (sys.excepthook, threading.excepthook, a logging
    handler's handleError) masked."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    refresh_env_secrets()
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
    sys.excepthook = _print_redacted
    threading.excepthook = _thread_excepthook
    logging.Handler.handleError = _handle_error_redacted  # type: ignore[method-assign]


def _print_redacted(kind, error, trace, header: str = "") -> None:
    """An uncaught exception's traceback on stderr, masked (sys.excepthook, threading.excepthook)."""
    if sys.stderr is not None:
        sys.stderr.write(redact(header + "".join(traceback.format_exception(kind, error, trace))))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    """An exception ending a thread, printed masked (as threading's own hook: SystemExit is silent)."""
    if args.exc_type is not SystemExit:
        name = args.thread.name if args.thread is not None else "?"
        _print_redacted(args.exc_type, args.exc_value, args.exc_traceback, f"Exception in thread {name}:\n")


def _handle_error_redacted(self: logging.Handler, record: logging.LogRecord) -> None:
    """``logging.Handler.handleError`` masked: a handler that cannot write prints the error's traceback, whose
    chain includes the exception being handled when the record was logged (e.g. an API error echoing a token)."""
    if not (logging.raiseExceptions and sys.stderr):
        return
    kind, error, trace = sys.exc_info()
    try:
        text = "--- Logging error ---\n" + "".join(traceback.format_exception(kind, error, trace))
        sys.stderr.write(redact(f"{text}Message: {record.msg!r}\nArguments: {record.args!r}\n"))
    except Exception:  # noqa: BLE001, S110 - as logging's own handleError: never raise from here
        pass
    finally:
        del kind, error, trace


# --------------------------------------------------------------------------- resolving


def secret(name: str) -> str | None:
    """The secret ``name`` (e.g. "twitter-bearer-token") from $POSTATLAS_<NAME> or the Prefect Secret block
    ``postatlas-<name>``; None when neither exists. A value found is registered for ``redact``."""
    install_log_redaction()
    refresh_env_secrets()
    env_name = "POSTATLAS_" + name.upper().replace("-", "_")
    if os.environ.get(env_name):
        register_secret(os.environ[env_name])
        return os.environ[env_name]
    if not _prefect_api_available():
        return None
    try:
        from prefect.blocks.system import Secret

        value = Secret.load(f"postatlas-{name}").get()
    except Exception:  # noqa: BLE001 - no block, or no access: treated as missing
        return None
    register_secret(value if isinstance(value, str) else None)
    return value


def _prefect_api_available() -> bool:
    """A configured Prefect server, or a running flow / task (whose API is up): only then are blocks looked up,
    so that a missing optional secret never starts a temporary Prefect server."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def require_secret(name: str, what: str) -> str:
    """The secret, or an error telling the operator how to provide it."""
    value = secret(name)
    if not value:
        env_name = "POSTATLAS_" + name.upper().replace("-", "_")
        raise_missing(name, env_name, what)
    return value  # type: ignore[return-value]


def raise_missing(name: str, env_name: str, what: str) -> None:
    """Fail with what to set when a credential is missing."""
    from tasks.collect.base import CollectorError

    raise CollectorError(
        f"missing credential {what}: set ${env_name} or create the Prefect Secret block 'postatlas-{name}'"
    )
