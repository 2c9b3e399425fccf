"""The ingest flow: files people already have -> raw zone -> warehouse, one task per path."""

from __future__ import annotations

from dataclasses import asdict, replace

from prefect import flow, task

from storage.home import Home
from tasks.ingest import BATCH_RECORDS, IngestOptions, IngestTotals, merge_totals, run_ingest
from tasks.ledger import tracked_run
from tasks.locks import WRITE_RETRY
from tasks.report import publish_ingest_artifacts

# Results are persisted and the inputs (options of plain strings, the home, the run id) hash, so a retry of a
# failed run finds the paths already ingested Cached and ingests only the rest.
ingest_files = task(name="ingest-files", timeout_seconds=6 * 3600, persist_result=True, **WRITE_RETRY)(
    run_ingest)


@flow(name="ingest")
def ingest_flow(
    fmt: str,
    paths: list[str],
    platform: str | None = None,
    labels_csv: str | None = None,
    label_task: str | None = None,
    field_map: list[str] | None = None,
    label_map: list[str] | None = None,
    columns: list[str] | None = None,
    media_dirs: list[str] | None = None,
    batch_records: int = BATCH_RECORDS,
    home: str | None = None,
) -> IngestTotals:
    """Read ``paths`` as ``fmt`` and upsert the posts; the counts land in the run ledger and an artifact."""
    options = IngestOptions(
        fmt=fmt,
        paths=tuple(paths),
        platform=platform,
        labels_csv=labels_csv,
        label_task=label_task,
        field_map=tuple(field_map or ()),
        label_map=tuple(label_map or ()),
        columns=tuple(columns or ()),
        media_dirs=tuple(media_dirs or ()),
        batch_records=batch_records,
    )
    store = Home.at(home)
    with tracked_run(store, "ingest", asdict(options)) as run:
        run.counted_by_batches = True  # each committed batch adds its counters to the ledger row
        totals = IngestTotals()
        for path in paths:
            part = ingest_files(replace(options, paths=(path,)), store, run.run_id)
            totals = merge_totals(totals, part)
            run.counts = totals.counts()
            run.breakdown = totals.breakdown()
        publish_ingest_artifacts(totals)
    return totals
