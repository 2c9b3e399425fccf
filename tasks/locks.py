"""One writer at a time: every warehouse write holds the Prefect global concurrency limit ``postatlas-warehouse``.

The limit (1 slot; created on first use when missing, as `prefect gcl create postatlas-warehouse --limit 1` would)
serializes writers across flow runs, workers and machines that share a Prefect API; DuckDB's file lock, waited
for in ``warehouse.connect``, still guards against writers outside Prefect. With no API configured (the CLI's
ephemeral API) the slot is skipped: an ephemeral server keeps leases in memory and runs no lease repossessor,
so the slot of a killed writer would stay taken in the shared database for good.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from storage import warehouse

if TYPE_CHECKING:
    from prefect import Task
    from prefect.client.schemas.objects import State, TaskRun

LIMIT_NAME = "postatlas-warehouse"
# The server's shortest lease: a writer killed while holding the slot gives it back about a minute later.
LEASE_SECONDS = 60
WRITE_RETRIES = 2
WRITE_RETRY_DELAYS = [10, 60]


@contextmanager
def warehouse_slot(run_id: str, timeout_seconds: float) -> Iterator[None]:
    """Hold the writer slot while a Prefect API is configured (a no-op without one); WarehouseBusy on timeout."""
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        yield
        return
    deadline = time.monotonic() + timeout_seconds
    delay = 0.05
    while (slot := _try_slot()) is None:
        if time.monotonic() >= deadline:
            raise warehouse.WarehouseBusy(
                f"run {run_id} waited {timeout_seconds:g} s for the warehouse's writer slot (Prefect global "
                f"concurrency limit {LIMIT_NAME!r}): another run is writing (`postatlas runs` shows it); "
                "run this one again later, or raise POSTATLAS_LOCK_WAIT"
            )
        time.sleep(delay)
        delay = min(delay * 2, warehouse.POLL_SECONDS)
    with slot:
        yield


def _try_slot() -> ExitStack | None:
    """The slot, taken (closing the stack gives it back), or None while another run holds it."""
    # One attempt per call, polled like warehouse.connect: Prefect's own wait sleeps the server's Retry-After
    # (up to 30 s), too long to catch a writer's turn (warehouse.give_turn), and logs an error per refusal.
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
    from prefect.concurrency.sync import concurrency
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(LIMIT_NAME)
            if limit.active_slots >= limit.limit:
                return None
        except ObjectNotFound:  # a fresh server: do what `prefect gcl create postatlas-warehouse --limit 1` does
            with suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=LIMIT_NAME, limit=1))
    slot = ExitStack()
    try:
        slot.enter_context(concurrency(
            LIMIT_NAME, occupy=1, max_retries=0, lease_duration=LEASE_SECONDS, raise_on_lease_renewal_failure=False,
        ))
    except ConcurrencySlotAcquisitionError as error:
        cause = error.__cause__
        if isinstance(cause, httpx.HTTPStatusError) and cause.response.status_code == 423:
            return None  # another run took it first
        raise
    return slot


@contextmanager
def warehouse_writer(path: Path, run_id: str, publish: bool | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """``warehouse.writer`` inside the writer slot: how tasks open the warehouse for writing (``publish``: the
    analyst copy, see ``warehouse.writer``)."""
    with ExitStack() as stack:
        with warehouse.waiting(path):  # a writer letting go gives waiters a turn
            stack.enter_context(warehouse_slot(run_id, warehouse.LOCK_WAIT_SECONDS))
            con = stack.enter_context(warehouse.writer(path, run_id, publish))
        yield con


def retry_on_busy(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: retry a write task only when the warehouse stayed busy."""
    return isinstance(state.result(raise_on_failure=False), warehouse.WarehouseBusy)


# The retry policy of tasks that write: ``task(..., **WRITE_RETRY)``.
WRITE_RETRY: dict[str, Any] = {
    "retries": WRITE_RETRIES, "retry_delay_seconds": WRITE_RETRY_DELAYS, "retry_condition_fn": retry_on_busy,
}
