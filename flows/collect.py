"""The collect flow: one platform's live API, as its spec file says, into the warehouse."""

from __future__ import annotations

from prefect import flow, task

from storage.home import Home
from tasks.collect.run import CollectTotals, run_collect
from tasks.ledger import tracked_run
from tasks.locks import WRITE_RETRY
from tasks.report import publish_collect_artifacts

collect_pages = task(name="collect-pages", timeout_seconds=12 * 3600, **WRITE_RETRY)(run_collect)


@flow(name="collect")
def collect_flow(platform: str, spec: str, home: str | None = None) -> CollectTotals:
    """Collect from ``platform`` (twitter, reddit, instagram) with the spec file at ``spec``.

    Credentials come from environment variables or Prefect Secret blocks, never from parameters.
    """
    store = Home.at(home)
    with tracked_run(store, "collect", {"platform": platform, "spec": spec}) as run:
        totals = collect_pages(platform, spec, store, run.run_id)
        run.counts = totals.counts()
        run.breakdown = totals.breakdown()
        run.stop_reason = totals.stop_reason
        run.message = totals.stop_detail or None
        publish_collect_artifacts(platform, totals)
    return totals
