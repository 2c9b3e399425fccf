"""The DuckDB warehouse: connections, migrations, idempotent writes and the run ledger.

DuckDB lets one process hold the file read-write, or any number read-only, never both. Writers hold the
database briefly and wait (bounded) for the lock instead of failing; readers open read-only.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

LOCK_WAIT_SECONDS = float(os.environ.get("POSTATLAS_LOCK_WAIT", "120"))
# Waiters ask for the lock (and the writer slot) at least every POLL_SECONDS, so a writer letting go that
# waits up to TURN_SECONDS for them lets them in: readers and other runs interleave with a long write.
POLL_SECONDS = 1.0
TURN_SECONDS = 2.0
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock")
_LOCK_PID = re.compile(r"\(PID (\d+)\)")  # DuckDB names the process holding the lock
_WRITER_NOTE = re.compile(r"run (?P<run>.+), pid (?P<pid>\d+) on (?P<host>.+)")


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse for writing and did not let go in time."""


def _is_lock_error(error: Exception) -> bool:
    return any(marker in str(error) for marker in _LOCK_MARKERS)


def connect(path: Path, *, read_only: bool = False, wait_seconds: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting up to ``wait_seconds`` for another process's lock (with a note that it waits)."""
    deadline = time.monotonic() + (LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds)
    delay = 0.05
    note = _waiting_note(path)
    try:
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                con.execute("SET enable_progress_bar = false")
                return con
            except duckdb.IOException as error:
                if not _is_lock_error(error) or time.monotonic() >= deadline:
                    if _is_lock_error(error):
                        raise WarehouseBusy(_busy_message(path, error)) from error
                    raise
                note.touch()
                time.sleep(delay)
                delay = min(delay * 2, POLL_SECONDS)
    finally:
        note.unlink(missing_ok=True)


def _waiting_note(path: Path) -> Path:
    return path.with_name(f"{path.name}.waiting.{os.getpid()}.{threading.get_ident()}")


@contextmanager
def waiting(path: Path) -> Iterator[None]:
    """Leave a note that this thread waits for the warehouse, so that a writer letting go gives it a turn."""
    note = _waiting_note(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    note.touch()
    try:
        yield
    finally:
        note.unlink(missing_ok=True)


def give_turn(path: Path) -> None:
    """After letting go, wait (at most TURN_SECONDS) until the others waiting for the warehouse got in."""
    deadline = time.monotonic() + TURN_SECONDS
    while time.monotonic() < deadline and _others_waiting(path):
        time.sleep(0.05)


def _others_waiting(path: Path) -> bool:
    mine = _waiting_note(path)
    for note in path.parent.glob(f"{path.name}.waiting.*"):
        if note == mine:
            continue
        if _process_alive(int(note.name.split(".")[-2])):
            return True
        note.unlink(missing_ok=True)  # left by a waiter that was killed
    return False


def _busy_message(path: Path, error: Exception) -> str:
    """Who holds the warehouse (the note its writer left, unless that process is gone) and what to do."""
    try:
        note = _WRITER_NOTE.fullmatch(path.with_suffix(".writer").read_text())
    except OSError:
        note = None
    if note and (note["host"] != socket.gethostname() or _process_alive(int(note["pid"]))):
        holder = f"a writer: run {note['run']} (pid {note['pid']} on {note['host']})"
    else:
        locker = _LOCK_PID.search(str(error))
        holder = (f"a process that is no postatlas writer{f' (pid {locker[1]})' if locker else ''}: a reader, "
                  "or a DuckDB client outside postatlas")
    return (
        f"the warehouse {path} is held by {holder}; wait for it to finish (`postatlas runs` lists runs) "
        "or let this command wait longer: `postatlas sql --wait SECONDS`, POSTATLAS_LOCK_WAIT=SECONDS for the others"
    )


@contextmanager
def writer(path: Path, run_id: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection with migrations applied; leaves a note naming the writing run."""
    con = open_writer(path, run_id)
    try:
        yield con
    finally:
        close_writer(path, con)


def open_writer(path: Path, run_id: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse for writing (waiting, bounded, for the lock); pair with :func:`close_writer`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(path)
    try:
        # Checkpoint when the writer lets go rather than after every commit of a bulk load.
        con.execute("SET checkpoint_threshold = '1GB'")
        note = path.with_suffix(f".writer.{os.getpid()}")  # renamed into place: readers never see half a note
        note.write_text(f"run {run_id or 'unknown'}, pid {os.getpid()} on {socket.gethostname()}")
        note.replace(path.with_suffix(".writer"))
        migrate(con)
    except BaseException:
        close_writer(path, con)
        raise
    return con


def close_writer(path: Path, con: duckdb.DuckDBPyConnection) -> None:
    """Checkpoint while the note still names this run, remove the note, then close and let other processes in."""
    with suppress(duckdb.Error):  # close() checkpoints again and reports what is wrong
        con.execute("CHECKPOINT")
    try:
        path.with_suffix(".writer").unlink(missing_ok=True)
    finally:
        con.close()


@contextmanager
def reader(path: Path, wait_seconds: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection (waits, bounded, while a writer holds the file)."""
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `postatlas demo` or `postatlas ingest` first")
    con = connect(path, read_only=True, wait_seconds=wait_seconds)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, rolled back on any error or interruption: the whole write or nothing."""
    con.execute("BEGIN")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


# --------------------------------------------------------------------------- migrations

_MIGRATION_NAME = re.compile(r"^(\d{3})_(\w+)\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every numbered file in storage/migrations, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text()))
    return sorted(found)


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations, each in its own transaction; returns the schema version."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)"
    )
    applied = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    version = max(applied, default=0)
    for number, name, sql in migrations():
        if number in applied:
            continue
        with transaction(con):
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [number, name, _now()])
        version = number
    return version


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- run ledger


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, flow: str, parameters: dict) -> None:
    """Record a run as running (a retry of the same run id starts it again)."""
    mark_crashed_runs(con)
    con.execute(
        "INSERT INTO runs (run_id, flow, started_at, status, parameters, pid, host) "
        "VALUES (?, ?, ?, 'running', ?, ?, ?) "
        "ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL, message = NULL",
        [run_id, flow, _now(), orjson.dumps(parameters, default=str).decode(), os.getpid(), socket.gethostname()],
    )


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    status: str,
    counts: dict[str, int],
    breakdown: dict | None = None,
    message: str | None = None,
    stop_reason: str | None = None,
) -> None:
    """Close a run with its status, counters, a breakdown (per platform / rule / reason) and why it stopped."""
    columns = ("read", "written", "duplicates", "filtered", "quarantined", "kept", "deletions", "pages", "images")
    values = [int(counts.get(column, 0)) for column in columns]
    assignments = ", ".join(f"{column} = ?" for column in columns)
    con.execute(
        f"UPDATE runs SET status = ?, finished_at = ?, message = ?, stop_reason = ?, counts = ?, {assignments} "
        "WHERE run_id = ?",
        [status, _now(), message, stop_reason, orjson.dumps(breakdown or {}, default=str).decode(), *values, run_id],
    )


def mark_crashed_runs(con: duckdb.DuckDBPyConnection) -> None:
    """Runs of this host still 'running' whose process is gone were killed: mark them crashed."""
    host = socket.gethostname()
    rows = con.execute("SELECT run_id, pid FROM runs WHERE status = 'running' AND host = ?", [host]).fetchall()
    for run_id, pid in rows:
        if pid != os.getpid() and not _process_alive(pid):
            con.execute(
                "UPDATE runs SET status = 'crashed', message = 'process ended without closing the run "
                "(killed?); its unfinished batch was rolled back, run the command again' WHERE run_id = ?",
                [run_id],
            )


def _process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- idempotent writes


def landed_batch_path(con: duckdb.DuckDBPyConnection, batch_id: str) -> str | None:
    """Where a raw batch committed earlier lives (relative to the home), or None."""
    rows = con.execute("SELECT path FROM raw_batches WHERE batch_id = ?", [batch_id]).fetchall()
    return rows[0][0] if rows else None


_IGNORE_DUPLICATES = ("users", "media", "mentions", "quarantine", "deletions")


def write_batch(
    con: duckdb.DuckDBPyConnection,
    raw_batch: dict,
    tables: dict[str, pa.Table],
    also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> dict[str, int]:
    """Upsert one batch in a single transaction; returns the number of new posts per platform.

    Natural keys make every insert idempotent: committing the same batch twice changes nothing. ``also`` runs
    inside the same transaction (a collector's cursor and read budget).
    """
    with transaction(con):
        new_by_platform: dict[str, int] = {}
        posts = tables["posts"]
        if posts.num_rows:
            con.register("incoming", posts)
            con.execute("CREATE OR REPLACE TEMP TABLE new_posts AS SELECT * FROM incoming ANTI JOIN posts USING (post_id)")
            con.unregister("incoming")
            new_by_platform = dict(con.execute("SELECT platform, count(*) FROM new_posts GROUP BY 1").fetchall())
            con.execute("INSERT INTO posts BY NAME SELECT * FROM new_posts")
            con.execute("DROP TABLE new_posts")
        for table in _IGNORE_DUPLICATES:
            if tables[table].num_rows:
                con.register("incoming", tables[table])
                con.execute(f"INSERT OR IGNORE INTO {table} BY NAME SELECT * FROM incoming")
                con.unregister("incoming")
        if tables["labels"].num_rows:
            con.register("incoming", tables["labels"])
            con.execute(
                "INSERT INTO post_labels BY NAME SELECT * FROM incoming "
                "ON CONFLICT (post_id, task, source) DO UPDATE SET label = excluded.label, run_id = excluded.run_id "
                "WHERE post_labels.label <> excluded.label"
            )
            con.unregister("incoming")
        if tables["deletions"].num_rows or new_by_platform:
            apply_deletions(con)
        con.execute(
            "INSERT OR IGNORE INTO raw_batches VALUES (?, ?, ?, ?, ?, ?)",
            [raw_batch["batch_id"], raw_batch["platform"], raw_batch["path"], raw_batch["records"], _now(),
             raw_batch["run_id"]],
        )
        if also is not None:
            also(con)
    return new_by_platform


def apply_deletions(con: duckdb.DuckDBPyConnection) -> None:
    """Mark posts deleted by a compliance event on the post or on its author."""
    con.execute(
        "UPDATE posts SET deleted = true, deleted_reason = d.reason FROM deletions d "
        "WHERE NOT posts.deleted AND ("
        "(d.target_kind = 'post' AND d.target_id = posts.post_id) OR "
        "(d.target_kind = 'user' AND d.target_id = posts.author_id))"
    )


def refresh_raw_view(con: duckdb.DuckDBPyConnection, raw_root: Path) -> None:
    """Expose the raw zone's Parquet files as the view ``raw_records``."""
    if any(raw_root.rglob("*.parquet")):
        pattern = str(raw_root / "**" / "*.parquet").replace("'", "''")
        con.execute(
            f"CREATE OR REPLACE VIEW raw_records AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)"
        )
