"""The run ledger: every flow run is a row of ``runs`` with its counters and, on failure, the reason."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from storage import warehouse
from storage.home import Home
from tasks.locks import warehouse_writer


@dataclass
class RunRecord:
    """What a running flow reports at its end."""

    run_id: str
    counts: dict[str, int] = field(default_factory=dict)
    breakdown: dict = field(default_factory=dict)
    message: str | None = None
    stop_reason: str | None = None


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
    """Open a ``runs`` row, and close it as completed, or failed with the error as its message."""
    record = RunRecord(current_run_id())
    paths.ensure()
    with warehouse_writer(paths.warehouse, record.run_id) as con:
        warehouse.start_run(con, record.run_id, flow, parameters)
    try:
        yield record
    except BaseException as error:
        reason = f"{type(error).__name__}: {error}"
        with warehouse_writer(paths.warehouse, record.run_id) as con:
            warehouse.finish_run(con, record.run_id, "failed", record.counts, record.breakdown, reason[:2000],
                                 record.stop_reason or "failed")
        raise
    with warehouse_writer(paths.warehouse, record.run_id) as con:
        warehouse.finish_run(con, record.run_id, "completed", record.counts, record.breakdown, record.message,
                             record.stop_reason)
