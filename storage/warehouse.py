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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TypeVar

import duckdb
import orjson
import pyarrow as pa

from storage import analyst_copy
from storage.leftovers import process_alive

T = TypeVar("T")

LOCK_WAIT_SECONDS = float(os.environ.get("POSTATLAS_LOCK_WAIT", "120"))
# Waiters ask for the lock (and the writer slot) at least every POLL_SECONDS, so a writer letting go that
# waits up to TURN_SECONDS for them lets them in: readers and other runs interleave with a long write.
POLL_SECONDS = 1.0
TURN_SECONDS = 2.0
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock")
_LOCK_PID = re.compile(r"\(PID (\d+)\)")  # DuckDB names the process holding the lock
_LOCK_PROGRAM = re.compile(r"lock is held in (.+?) \(PID \d+\)")  # ... and its executable
_WRITER_NOTE = re.compile(r"run (?P<run>.+), pid (?P<pid>\d+) on (?P<host>.+)")


class WarehouseError(RuntimeError):
    """A warehouse this command cannot use; the message says why and what to do."""


class WarehouseBusy(WarehouseError):
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
                if not _is_lock_error(error):
                    raise WarehouseError(_unusable_message(path, error)) from error
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(_busy_message(path, error)) from error
                with suppress(OSError):  # a read-only home: wait without the note
                    note.touch()
                time.sleep(delay)
                delay = min(delay * 2, POLL_SECONDS)
            except duckdb.Error as error:  # e.g. a file of a newer DuckDB storage format
                raise WarehouseError(_unusable_message(path, error)) from error
    finally:
        with suppress(OSError):
            note.unlink(missing_ok=True)


def _unusable_message(path: Path, error: Exception) -> str:
    """Why DuckDB cannot open ``path`` (not a DuckDB file, no permission, ...) and what to do."""
    detail = str(error).removeprefix("IO Error: ")
    if "not a valid DuckDB database file" in detail:
        return (f"{path} is not a DuckDB warehouse: move it away (or point --home / POSTATLAS_HOME at another "
                "folder), then run the command again")
    return f"cannot open the warehouse {path}: {detail}"


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
        if process_alive(int(note.name.split(".")[-2])):
            return True
        note.unlink(missing_ok=True)  # left by a waiter that was killed
    return False


def _busy_message(path: Path, error: Exception) -> str:
    """Who holds the warehouse (the note its writer left, unless that process is gone) and what to do."""
    try:
        note = _WRITER_NOTE.fullmatch(path.with_suffix(".writer").read_text())
    except OSError:
        note = None
    if note and (note["host"] != socket.gethostname() or process_alive(int(note["pid"]))):
        holder = f"a writer: run {note['run']} (pid {note['pid']} on {note['host']})"
        advice = "wait for it to finish (`postatlas runs` lists runs)"
    else:
        locker = _LOCK_PID.search(str(error))
        program = _LOCK_PROGRAM.search(str(error))
        named = f" (pid {locker[1]}){f' running {program[1]}' if program else ''}" if locker else ""
        holder = (f"a process that is no postatlas writer{named}: a reader, or a DuckDB client outside postatlas "
                  "such as an analyst's notebook (DuckDB lets nobody write while another process has the file open, "
                  "even read-only)")
        advice = (f"close that connection (`con.close()`{f' in pid {locker[1]}' if locker else ''}; analysts: "
                  f"read the analyst copy {analyst_copy.published_path(path).name} beside it, as `postatlas sql` "
                  "does), or wait for it")
    return (
        f"the warehouse {path} is held by {holder}; {advice}, or let this command wait longer: "
        "`postatlas sql --wait SECONDS`, POSTATLAS_LOCK_WAIT=SECONDS for the others"
    )


@contextmanager
def writer(path: Path, run_id: str | None = None, publish: bool | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection with migrations applied; leaves a note naming the writing run. On the way out it
    publishes the analyst copy (storage/analyst_copy.py): always with ``publish=True``, never with False, and when the
    copy is due (older than POSTATLAS_PUBLISH_EVERY) by default."""
    con = open_writer(path, run_id)
    try:
        yield con
    except BaseException:
        close_writer(path, con)
        raise
    close_writer(path, con, run_id, publish)


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
        migrate(con, path)
    except BaseException:
        close_writer(path, con)
        raise
    return con


def close_writer(path: Path, con: duckdb.DuckDBPyConnection, run_id: str | None = None,
                 publish: bool | None = False) -> None:
    """Checkpoint (and publish the analyst copy: see :func:`writer`) while the note still names this run, remove
    the note, then close and let other processes in."""
    with suppress(duckdb.Error):  # close() checkpoints again and reports what is wrong
        con.execute("CHECKPOINT")
        if publish or (publish is None and analyst_copy.is_due(path)):
            analyst_copy.publish_quietly(con, path, run_id)
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
        check_version(con, path)
        yield con
    finally:
        con.close()


@contextmanager
def analyst_reader(path: Path, live: bool = False, wait_seconds: float | None = None
                   ) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the analyst copy of the warehouse ``path`` (storage/analyst_copy.py), which no
    writer ever locks; the live file (waiting for a writer, as :func:`reader`) with ``live`` or before the first
    publication."""
    copy = analyst_copy.published_path(path)
    if live or not copy.exists():
        with reader(path, wait_seconds) as con:
            yield con
        return
    con = duckdb.connect(str(copy), read_only=True)
    try:
        check_version(con, copy)
        yield con
    finally:
        con.close()


def read_published(path: Path, read: Callable[[duckdb.DuckDBPyConnection], T | None]) -> T | None:
    """``read`` on the analyst copy (what reports read); on the live file when the copy does not have it yet (None),
    e.g. a run the writer has not published."""
    with analyst_reader(path) as con:
        found = read(con)
    if found is not None:
        return found
    with reader(path) as con:
        return read(con)


@dataclass(frozen=True)
class WarehouseStatus:
    """What `postatlas status` shows: the live file and its writer, the analyst copy and the runs it shows going."""

    live: Path
    live_bytes: int
    writer: str | None
    copy: Path
    copy_bytes: int | None
    published_at: datetime | None
    published_by: str | None
    posts: int | None
    running: list[tuple[str, str, datetime]]


def status(path: Path) -> WarehouseStatus:
    """The live warehouse ``path`` and its analyst copy, read without waiting for any writer."""
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `postatlas demo` or `postatlas ingest` first")
    try:
        note = _WRITER_NOTE.fullmatch(path.with_suffix(".writer").read_text())
    except OSError:
        note = None
    alive = note and (note["host"] != socket.gethostname() or process_alive(int(note["pid"])))
    writer_text = f"run {note['run']} (pid {note['pid']} on {note['host']})" if alive else None
    copy = analyst_copy.published_path(path)
    if not copy.exists():
        return WarehouseStatus(path, path.stat().st_size, writer_text, copy, None, None, None, None, [])
    with analyst_reader(path) as con:
        publication = analyst_copy.last_publication(con)
        posts = con.execute("SELECT count(*) FROM posts WHERE NOT deleted").fetchall()[0][0]
        running = con.execute("SELECT run_id, flow, started_at FROM runs WHERE status = 'running' "
                              "ORDER BY started_at").fetchall()
    published_at, published_by = publication or (None, None)
    return WarehouseStatus(path, path.stat().st_size, writer_text, copy, copy.stat().st_size, published_at,
                           published_by, int(posts), [tuple(row) for row in running])


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, rolled back on any error or interruption: the whole write or nothing."""
    con.execute("BEGIN")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        with suppress(duckdb.Error):  # an interrupted query has already aborted it: keep the first error
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


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration applied to the warehouse (0 for an empty one)."""
    [(found,)] = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations' AND schema_name = 'main'"
    ).fetchall()
    if not found:
        return 0
    [(version,)] = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    return version


def check_version(con: duckdb.DuckDBPyConnection, path: Path | None = None) -> None:
    """WarehouseError when a newer postatlas wrote the warehouse (a schema this code does not know)."""
    known = max((number for number, _, _ in migrations()), default=0)
    version = schema_version(con)
    if version > known:
        raise WarehouseError(
            f"the warehouse{f' {path}' if path else ''} was written by a newer postatlas (schema version {version}; this one knows up "
            f"to {known}): upgrade postatlas to use it, or point --home / POSTATLAS_HOME at another folder"
        )


def migrate(con: duckdb.DuckDBPyConnection, path: Path | None = None) -> int:
    """Apply pending migrations, each in its own transaction; returns the schema version.

    A warehouse of a newer schema is refused (WarehouseError) before anything is written to it."""
    check_version(con, path)
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


RUN_COUNTERS = ("read", "written", "duplicates", "filtered", "quarantined", "kept", "deletions", "pages", "images")
# The counters a batch commit adds to its run in the same transaction (write_batch with BatchCounts).
BATCH_COUNTERS = ("read", "written", "duplicates", "quarantined", "deletions", "pages")


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    status: str,
    counts: dict[str, int],
    breakdown: dict | None = None,
    message: str | None = None,
    stop_reason: str | None = None,
    counted_by_batches: bool = False,
) -> None:
    """Close a run with its status, counters, a breakdown (per platform / rule / reason) and why it stopped.

    With ``counted_by_batches`` the counters its batch commits added (BATCH_COUNTERS) are left as they are: they
    count exactly what landed, also what an earlier attempt of the same run id committed.
    """
    columns = tuple(c for c in RUN_COUNTERS if not (counted_by_batches and c in BATCH_COUNTERS))
    values = [int(counts.get(column, 0)) for column in columns]
    assignments = ", ".join(f"{column} = ?" for column in columns)
    con.execute(
        f"UPDATE runs SET status = ?, finished_at = ?, message = ?, stop_reason = ?, counts = ?, {assignments} "
        "WHERE run_id = ?",
        [status, _now(), message, stop_reason, orjson.dumps(breakdown or {}, default=str).decode(), *values, run_id],
    )


def defer_finish(path: Path, run_id: str, status: str, counts: dict[str, int], breakdown: dict | None,
                 message: str | None, stop_reason: str | None, counted_by_batches: bool) -> Path:
    """Close a run later: when the warehouse cannot be had (another process holds it), leave a note beside it that
    the next writing run applies (:func:`apply_deferred_finishes`), so that the ledger never calls it killed."""
    safe = re.sub(r"[^\w.-]", "_", run_id)
    note = path.with_name(f"{path.name}.finish.{safe}.json")
    partial = note.with_name(f".{note.name}.{os.getpid()}.tmp")
    partial.write_bytes(orjson.dumps(
        {"run_id": run_id, "status": status, "counts": counts, "breakdown": breakdown or {}, "message": message,
         "stop_reason": stop_reason, "counted_by_batches": counted_by_batches, "finished_at": _now().isoformat()},
        default=str))
    os.replace(partial, note)
    return note


def apply_deferred_finishes(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Close the runs whose end could not be written (notes of :func:`defer_finish`); returns how many."""
    applied = 0
    for note in sorted(path.parent.glob(f"{path.name}.finish.*.json")):
        try:
            closing = orjson.loads(note.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        with transaction(con):
            if con.execute("SELECT 1 FROM runs WHERE run_id = ? AND status = 'running'",
                           [closing["run_id"]]).fetchall():
                finish_run(con, closing["run_id"], closing["status"], closing["counts"], closing["breakdown"],
                           closing["message"], closing["stop_reason"], closing["counted_by_batches"])
                con.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?",
                            [datetime.fromisoformat(closing["finished_at"]), closing["run_id"]])
                applied += 1
        note.unlink(missing_ok=True)
    return applied


def mark_crashed_runs(con: duckdb.DuckDBPyConnection) -> None:
    """Runs of this host still 'running' whose process is gone were killed: mark them crashed."""
    host = socket.gethostname()
    rows = con.execute("SELECT run_id, pid FROM runs WHERE status = 'running' AND host = ?", [host]).fetchall()
    for run_id, pid in rows:
        if pid != os.getpid() and not process_alive(pid or 0):
            con.execute(
                "UPDATE runs SET status = 'crashed', message = 'process ended without closing the run "
                "(killed?); its counters are what its committed batches wrote, its unfinished batch was rolled "
                "back: run the command again' WHERE run_id = ?",
                [run_id],
            )


# --------------------------------------------------------------------------- idempotent writes


def landed_batch_path(con: duckdb.DuckDBPyConnection, batch_id: str) -> str | None:
    """Where a raw batch committed earlier lives (relative to the home), or None."""
    rows = con.execute("SELECT path FROM raw_batches WHERE batch_id = ?", [batch_id]).fetchall()
    return rows[0][0] if rows else None


# Rows already there (by these natural keys) are left as they are. A prepared batch holds one row per key; tables
# with an index insert OR IGNORE, the large ones without one (users, media, mentions) through an anti-join.
_IGNORE_DUPLICATES = {
    "users": ("user_id",), "media": ("post_id", "position"), "mentions": ("post_id", "dst_username"),
    "quarantine": None, "deletions": None,
}


@dataclass(frozen=True)
class BatchCounts:
    """What one batch adds to its run's ledger row, in the transaction that commits it.

    ``read`` = the posts found in the batch (``found``, new or not) + the records and posts quarantined whole
    (``quarantined``); ``written`` and ``duplicates`` are worked out from ``found`` inside the transaction.
    """

    read: int
    found: int
    quarantined: int
    deletions: int = 0


@dataclass(frozen=True)
class BatchWritten:
    """What committing one batch changed: new posts per platform and new (distinct) users."""

    new_by_platform: dict[str, int] = field(default_factory=dict)
    new_users: int = 0

    @property
    def written(self) -> int:
        """New posts in all platforms."""
        return sum(self.new_by_platform.values())


def write_quarantine(con: duckdb.DuckDBPyConnection, rows: pa.Table, run_id: str) -> None:
    """Add quarantine rows of inputs that are no record (a cut or unreadable file) in one transaction, counting each
    as read and quarantined in run ``run_id`` (a row already there, by its natural key, is left as it is)."""
    with transaction(con):
        con.register("incoming", rows)
        con.execute("INSERT OR IGNORE INTO quarantine BY NAME SELECT * FROM incoming")
        con.unregister("incoming")
        add_run_counts(con, run_id, {"read": rows.num_rows, "quarantined": rows.num_rows})


def write_batch(
    con: duckdb.DuckDBPyConnection,
    raw_batch: dict,
    tables: dict[str, pa.Table],
    also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    counts: BatchCounts | None = None,
) -> BatchWritten:
    """Upsert one batch in a single transaction; returns the new posts per platform and the new users.

    Natural keys make every insert idempotent: committing the same batch twice changes nothing. ``also`` runs
    inside the same transaction (a collector's cursor and read budget). With ``counts`` the run
    ``raw_batch["run_id"]`` gets the batch's counters in the same transaction, so the ledger always matches what
    landed, even for a run killed mid-way (read = written + duplicates + quarantined after every commit).
    """
    with transaction(con):
        new_by_platform: dict[str, int] = {}
        new_users = 0
        posts = tables["posts"]
        if posts.num_rows:
            con.register("incoming", posts)
            con.execute("CREATE OR REPLACE TEMP TABLE new_posts AS SELECT * FROM incoming ANTI JOIN posts USING (post_id)")
            con.unregister("incoming")
            new_by_platform = dict(con.execute("SELECT platform, count(*) FROM new_posts GROUP BY 1").fetchall())
            con.execute("INSERT INTO posts BY NAME SELECT * FROM new_posts")
            con.execute("INSERT INTO curate_changes (post_id) SELECT post_id FROM new_posts")
            con.execute("DROP TABLE new_posts")
        for table, keys in _IGNORE_DUPLICATES.items():
            if tables[table].num_rows:
                con.register("incoming", tables[table])
                if table == "users":  # one row per user_id in a prepared batch: the anti-join counts distinct users
                    new_users = con.execute("SELECT count(*) FROM incoming ANTI JOIN users USING (user_id)").fetchone()[0]
                if table == "media":  # an image arriving for a post already there changes what curate reads
                    con.execute("INSERT INTO curate_changes (post_id) SELECT DISTINCT post_id FROM incoming "
                                "ANTI JOIN media USING (post_id, position)")
                if keys is None:
                    con.execute(f"INSERT OR IGNORE INTO {table} BY NAME SELECT * FROM incoming")
                else:
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming "
                                f"ANTI JOIN {table} USING ({', '.join(keys)})")
                con.unregister("incoming")
        if tables["labels"].num_rows:
            con.register("incoming", tables["labels"])
            con.execute(
                "INSERT INTO post_labels BY NAME SELECT * FROM incoming "
                "ON CONFLICT (post_id, task, source) DO UPDATE SET label = excluded.label, run_id = excluded.run_id "
                "WHERE post_labels.label <> excluded.label"
            )
            con.unregister("incoming")
        user_labels = tables.get("user_labels")
        if user_labels is not None and user_labels.num_rows:
            con.register("incoming", user_labels)
            con.execute(
                "INSERT INTO user_labels BY NAME SELECT * FROM incoming "
                "ON CONFLICT (user_id, task, source) DO UPDATE SET label = excluded.label, run_id = excluded.run_id "
                "WHERE user_labels.label <> excluded.label"
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
        written = BatchWritten(new_by_platform, new_users)
        if counts is not None:
            add_run_counts(con, raw_batch["run_id"], {
                "read": counts.read, "written": written.written, "duplicates": counts.found - written.written,
                "quarantined": counts.quarantined, "deletions": counts.deletions})
    return written


def add_run_counts(con: duckdb.DuckDBPyConnection, run_id: str, counts: dict[str, int]) -> None:
    """Add ``counts`` to the counters of run ``run_id`` (inside the caller's transaction)."""
    columns = [column for column in counts if column in RUN_COUNTERS]
    if columns:
        assignments = ", ".join(f"{column} = coalesce({column}, 0) + ?" for column in columns)
        con.execute(f"UPDATE runs SET {assignments} WHERE run_id = ?",
                    [int(counts[column]) for column in columns] + [run_id])


def apply_deletions(con: duckdb.DuckDBPyConnection) -> None:
    """Mark posts deleted by a compliance event on the post or on its author (logged for curate)."""
    hit = ("deletions d WHERE NOT posts.deleted AND ("
           "(d.target_kind = 'post' AND d.target_id = posts.post_id) OR "
           "(d.target_kind = 'user' AND d.target_id = posts.author_id))")
    con.execute(f"INSERT INTO curate_changes (post_id) SELECT DISTINCT posts.post_id FROM posts, {hit}")
    con.execute(f"UPDATE posts SET deleted = true, deleted_reason = d.reason FROM {hit}")


def refresh_raw_view(con: duckdb.DuckDBPyConnection, raw_root: Path) -> None:
    """Expose the raw zone's Parquet files as the view ``raw_records``."""
    if any(raw_root.rglob("*.parquet")):
        pattern = str(raw_root / "**" / "*.parquet").replace("'", "''")
        con.execute(
            f"CREATE OR REPLACE VIEW raw_records AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)"
        )
