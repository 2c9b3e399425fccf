"""The curate flow: the filters of papers 000 and 001, one decision per post and rule; incremental by default
(only what changed since the last run, with a full run's decisions: tasks/filters/incremental.py).

With ``partitions > 1`` language detection runs first as one task per hash partition of the posts, which a
DaskTaskRunner spreads over a cluster (``postatlas curate --dask local:2`` or ``--dask tcp://scheduler:8786``).
"""

from __future__ import annotations

from dataclasses import asdict

from prefect import Flow, flow, task

from storage.home import Home
from tasks.curate_run import CurateResult, cache_staged_languages, detect_partition, run_curate
from tasks.filters import CurateConfig
from tasks.ledger import tracked_run
from tasks.locks import WRITE_RETRY
from tasks.report import publish_curate_artifacts

curate_posts = task(name="curate-posts", timeout_seconds=6 * 3600, persist_result=True, **WRITE_RETRY)(
    run_curate)
detect_languages = task(name="detect-languages", timeout_seconds=6 * 3600, persist_result=True, **WRITE_RETRY)(
    detect_partition)
cache_languages = task(name="cache-languages", timeout_seconds=3600, persist_result=True, **WRITE_RETRY)(
    cache_staged_languages)


@flow(name="curate")
def curate_flow(
    options: dict | None = None, home: str | None = None, partitions: int = 0, full: bool = False
) -> CurateResult:
    """Filter the posts new or changed since the last run (every post with ``full``, on a first run or with other
    options) with ``options`` (CurateConfig fields; defaults = paper 001's filters)."""
    store = Home.at(home)
    options = options or {}
    with tracked_run(store, "curate", {**options, "partitions": partitions, "full": full}) as run:
        staged: list[str] = []
        if partitions > 1:
            detector = options.get("detector", CurateConfig.detector)
            futures = [detect_languages.submit(store, detector, k, partitions, run.run_id, options.get("language_model"))
                       for k in range(partitions)]
            staged = [future.result() for future in futures]
            cache_languages(store, staged, run.run_id)
        result = curate_posts(options, store, run.run_id, staged, full)
        run.counts = {"read": result.read, "kept": result.kept, "filtered": result.filtered}
        run.breakdown = {"rules": [asdict(rule) for rule in result.rules], "full_reason": result.full_reason,
                         "reopened": result.reopened, "removed": result.removed, "curated": result.curated}
        publish_curate_artifacts(result)
    return result


def on_dask(address: str) -> Flow:
    """``curate_flow`` with its tasks on Dask: ``local:N`` starts a local cluster of N workers, else an address."""
    from prefect_dask import DaskTaskRunner

    if address.startswith("local:"):
        runner = DaskTaskRunner(cluster_kwargs={"n_workers": int(address.split(":", 1)[1]), "threads_per_worker": 1})
    else:
        runner = DaskTaskRunner(address=address)
    return curate_flow.with_options(task_runner=runner)
