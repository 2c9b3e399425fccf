"""The analyst copy: a consistent, read-only copy of the warehouse for analysts, `postatlas sql` and the reports.

DuckDB lets one process write a file or many processes read it, never both at once. So the writer publishes:
with the warehouse still locked, it checkpoints (the file then holds every committed transaction and the WAL is
empty), copies the file to a temporary name beside the copy, fsyncs it, and renames it over the copy. The copy is
never written in place: a reader that opened the previous copy keeps reading that one (the rename leaves its
inode alone) and the next connection sees the new one, so no reader ever waits for the writer, sees half a batch
or holds up the nightly flows.

The writer publishes when it lets go of the warehouse at the end of every run, and mid-run whenever the copy is
older than POSTATLAS_PUBLISH_EVERY seconds (default 120). The table `publication` (one row) says when and by
which run the copy was made; the live file carries the same row.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

PUBLISH_EVERY_ENV = "POSTATLAS_PUBLISH_EVERY"
DEFAULT_PUBLISH_EVERY = 120.0
FICLONE = 0x40049409  # Linux ioctl: share the blocks (btrfs, XFS, bcachefs); the copy is then instant
NO_CLONE = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS}


def published_path(live: Path) -> Path:
    """The analyst copy of the warehouse file ``live``: ``warehouse.duckdb`` -> ``warehouse.published.duckdb``."""
    return live.with_name(f"{live.stem}.published{live.suffix}")


def publish_every() -> float:
    """Seconds between mid-run publications (POSTATLAS_PUBLISH_EVERY; 0 publishes at every write)."""
    value = os.environ.get(PUBLISH_EVERY_ENV)
    try:
        return max(float(value), 0.0) if value else DEFAULT_PUBLISH_EVERY
    except ValueError:
        raise ValueError(f"{PUBLISH_EVERY_ENV}={value!r} is not a number of seconds") from None


def is_due(live: Path) -> bool:
    """Whether the copy is missing or older than :func:`publish_every`."""
    try:
        age = time.time() - published_path(live).stat().st_mtime
    except FileNotFoundError:
        return True
    return age >= publish_every()


@dataclass(frozen=True)
class Publication:
    """One publication: when, by which run, how long it took and how big the copy is."""

    published_at: datetime
    run_id: str | None
    seconds: float
    bytes: int
    cloned: bool


def publish(con: duckdb.DuckDBPyConnection, live: Path, run_id: str | None) -> Publication:
    """Stamp `publication`, checkpoint and copy the live file (which ``con`` holds for writing) over the analyst
    copy atomically."""
    started = time.perf_counter()
    published_at = datetime.now(UTC)
    con.execute("BEGIN")
    con.execute("DELETE FROM publication")
    con.execute("INSERT INTO publication VALUES (?, ?)", [published_at, run_id])
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    target = published_path(live)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        cloned = _copy(live, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_folder(target.parent)
    return Publication(published_at, run_id, time.perf_counter() - started, target.stat().st_size, cloned)


def _copy(source: Path, target: Path) -> bool:
    """Copy ``source`` to ``target`` and fsync it; True when the filesystem shared the blocks (a reflink)."""
    with open(source, "rb") as reading, open(target, "wb") as writing:
        try:
            fcntl.ioctl(writing.fileno(), FICLONE, reading.fileno())
            cloned = True
        except OSError as error:
            if error.errno not in NO_CLONE:
                raise
            cloned = False
    if not cloned:
        shutil.copyfile(source, target)  # the kernel copies (sendfile), no pass through Python
    with open(target, "rb") as written:
        os.fsync(written.fileno())
    return cloned


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish_quietly(con: duckdb.DuckDBPyConnection, live: Path, run_id: str | None) -> Publication | None:
    """:func:`publish`, logging instead of raising when the copy cannot be written (a full disk must not fail the
    run whose data is already committed; the copy then stays at its previous, consistent state)."""
    try:
        publication = publish(con, live, run_id)
    except (OSError, duckdb.Error) as error:
        log.warning("could not publish the analyst copy %s (analysts keep reading the previous one): %s",
                    published_path(live), error)
        return None
    log.debug("published %s in %.2f s (%d bytes)", published_path(live), publication.seconds, publication.bytes)
    return publication


def last_publication(con: duckdb.DuckDBPyConnection) -> tuple[datetime, str | None] | None:
    """(published_at, run_id) of the copy ``con`` reads, or None before the first publication."""
    rows = con.execute("SELECT published_at, run_id FROM publication").fetchall()
    return (rows[0][0], rows[0][1]) if rows else None
