"""The collect flow: one platform's live API, as its spec file says, into the warehouse."""

from __future__ import annotations

from prefect import flow, task

from storage.home import Home
from tasks.collect.run import CollectTotals, check_outage, run_collect
from tasks.collect.secrets import install_log_redaction
from tasks.ledger import tracked_run
from tasks.locks import WRITE_RETRY
from tasks.report import publish_collect_artifacts

collect_pages = task(name="collect-pages", timeout_seconds=12 * 3600, **WRITE_RETRY)(run_collect)


@flow(name="collect")
def collect_flow(platform: str, spec: str, home: str | None = None) -> CollectTotals:
    """Collect from ``platform`` (twitter, reddit, instagram) with the spec file at ``spec``.

    Credentials come from environment variables or Prefect Secret blocks, never from parameters. A run that
    read nothing because the platform did not answer (5xx, no connection, after the retries) fails with
    PlatformUnavailable; its ``runs`` row keeps the counters and ``stop_reason``.
    """
    install_log_redaction()  # a worker's flow run masks the secrets in its logs, not only the CLI
    store = Home.at(home)
    with tracked_run(store, "collect", {"platform": platform, "spec": spec}) as run:
        run.counted_by_batches = True  # each committed page batch adds its counters to the ledger row
        totals = collect_pages(platform, spec, store, run.run_id)
        run.counts = totals.counts()
        run.breakdown = totals.breakdown()
        run.stop_reason = totals.stop_reason
        run.message = totals.stop_detail or None
        publish_collect_artifacts(platform, totals)
        check_outage(platform, totals)  # a platform that answered nothing fails the run (the ledger says why)
    return totals
