"""The nightly flow: collect every spec, then curate (deployment `nightly-collect-curate/nightly`, 02:00 UTC).

A spec whose collect run fails (a platform that did not answer, a refused token, a bad spec) does not stop the
others nor curate: curate filters what the other specs collected, and then the nightly run fails naming every
failed spec, so that a dead API or an expired token shows as a red run the next morning, not weeks later.
"""

from __future__ import annotations

from prefect import flow

from flows.collect import collect_flow
from flows.curate import curate_flow
from tasks.collect.secrets import install_log_redaction, redact


class NightlyFailed(Exception):
    """Some specs' collect runs failed; curate ran on what the others collected."""


@flow(name="nightly-collect-curate")
def nightly_flow(specs: list[str], curate_options: dict | None = None, home: str | None = None) -> dict:
    """Run ``collect`` for each spec file (its platform read from the spec), then ``curate`` once; fail at the
    end (NightlyFailed) when any spec's collect failed."""
    from tasks.collect.spec import spec_platform

    install_log_redaction()
    collected: dict[str, str] = {}
    failed: dict[str, str] = {}
    for spec in specs:
        try:
            collected[spec] = collect_flow(platform=spec_platform(spec), spec=spec, home=home).stop_reason
        except Exception as error:  # noqa: BLE001 - every spec is tried; the failures fail the run at the end
            collected[spec] = "failed"
            failed[spec] = redact(f"{type(error).__name__}: {error}")
    curated = curate_flow(options=curate_options or {}, home=home)
    if failed:
        listed = "; ".join(f"{spec}: {message}" for spec, message in failed.items())
        raise NightlyFailed(f"{len(failed)} of {len(specs)} collect runs failed ({listed}); curate ran on what "
                            f"the others collected (kept {curated.kept} of {curated.read})")
    return {"collected": collected, "kept": curated.kept, "in": curated.read}
