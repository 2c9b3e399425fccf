"""The nightly flow: collect every spec, then curate (deployment `nightly-collect-curate/nightly`, 02:00 UTC)."""

from __future__ import annotations

from prefect import flow

from flows.collect import collect_flow
from flows.curate import curate_flow


@flow(name="nightly-collect-curate")
def nightly_flow(specs: list[str], curate_options: dict | None = None, home: str | None = None) -> dict:
    """Run ``collect`` for each spec file (its platform read from the spec), then ``curate`` once."""
    from tasks.collect.spec import spec_platform

    collected = {spec: collect_flow(platform=spec_platform(spec), spec=spec, home=home).stop_reason
                 for spec in specs}
    curated = curate_flow(options=curate_options or {}, home=home)
    return {"collected": collected, "kept": curated.kept, "in": curated.read}
