"""The run ledger: every flow run is a row of ``runs`` with its counters and, on failure, the reason."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from storage import leftovers, warehouse
from storage.home import Home
from tasks.collect.secrets import redact
from tasks.locks import warehouse_writer

log = logging.getLogger(__name__)


@dataclass
class RunRecord:
    """What a running flow reports at its end."""

    run_id: str
    counts: dict[str, int] = field(default_factory=dict)
    breakdown: dict = field(default_factory=dict)
    message: str | None = None
    stop_reason: str | None = None
    # True when the run's batch commits add read / written / duplicates / quarantined / deletions / pages to the
    # ledger row themselves (warehouse.write_batch with counts): its end leaves those as they are.
    counted_by_batches: bool = False


def current_run_id() -> str:
    """The Prefect flow run id when inside a flow, else a fresh UUID."""
    try:
        from prefect.runtime import flow_run

        run_id = flow_run.id
    except ImportError:  # pragma: no cover - prefect is a dependency
        run_id = None
    return str(run_id) if run_id else str(uuid.uuid4())


@contextmanager
def tracked_run(paths: Home, flow: str, parameters: dict) -> Iterator[RunRecord]:
    """Open a ``runs`` row, and close it as completed, or failed with the error as its message.

    Starting also closes runs whose end could not be written earlier, marks killed runs crashed and sweeps the
    temporary files of dead processes (storage/leftovers.py).
    """
    record = RunRecord(current_run_id())
    paths.ensure()
    with warehouse_writer(paths.warehouse, record.run_id) as con:
        warehouse.apply_deferred_finishes(con, paths.warehouse)
        warehouse.start_run(con, record.run_id, flow, parameters)
        swept = leftovers.sweep(paths)  # temporary files and notes of killed runs (dead pids only)
    if swept.removed or swept.restored:
        log.info("removed %d leftover temporary files of killed runs%s", len(swept.removed),
                 f", put back {len(swept.restored)} replaced folders" if swept.restored else "")
    try:
        yield record
    except BaseException as error:
        reason = redact(f"{type(error).__name__}: {error}")
        _finish(paths, record, "failed", reason[:2000], record.stop_reason or "failed")
        raise
    _finish(paths, record, "completed", record.message and redact(record.message), record.stop_reason)


def _finish(paths: Home, record: RunRecord, status: str, message: str | None, stop_reason: str | None) -> None:
    """Close the run; when another process holds the warehouse past the wait, leave the closing to the next run."""
    try:
        with warehouse_writer(paths.warehouse, record.run_id, publish=True) as con:  # analysts see the run's end
            warehouse.finish_run(con, record.run_id, status, record.counts, record.breakdown, message, stop_reason,
                                 record.counted_by_batches)
    except warehouse.WarehouseBusy as busy:
        late = f"{message + '; ' if message else ''}its end was written by the next writing run: {busy}"
        warehouse.defer_finish(paths.warehouse, record.run_id, status, record.counts, record.breakdown, late[:4000],
                               stop_reason, record.counted_by_batches)
        log.warning("run %s %s, but its ledger row stays 'running' until the next writing run: %s",
                    record.run_id, status, busy)
