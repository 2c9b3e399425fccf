"""The curate flow: the filters of papers 000 and 001 over every post, one decision per post and rule."""

from __future__ import annotations

from prefect import flow, task

from storage.settings import home_paths
from tasks.curate_run import run_curate
from tasks.ledger import tracked_run
from tasks.report import publish_curate_artifacts

curate_posts = task(name="curate-posts", timeout_seconds=6 * 3600, persist_result=True)(run_curate)


@flow(name="curate")
def curate_flow(options: dict | None = None, home: str | None = None) -> dict:
    """Filter the warehouse's posts with ``options`` (CurateConfig fields; defaults = paper 001's filters)."""
    store = home_paths(home)
    options = options or {}
    with tracked_run(store, "curate", options) as run:
        result = curate_posts(options, str(store.home), run.run_id)
        run.counts = {"read": result["in"], "kept": result["kept"], "filtered": result["in"] - result["kept"]}
        run.breakdown = {"rules": result["rules"]}
        publish_curate_artifacts(result)
    return result
