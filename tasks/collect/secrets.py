"""Credentials: environment variables first, then Prefect Secret blocks; never parameters, never logged."""

from __future__ import annotations

import os


def secret(name: str) -> str | None:
    """The secret ``name`` (e.g. "twitter-bearer-token") from $POSTATLAS_<NAME> or the Prefect Secret block
    ``postatlas-<name>``; None when neither exists."""
    env_name = "POSTATLAS_" + name.upper().replace("-", "_")
    if os.environ.get(env_name):
        return os.environ[env_name]
    if not _prefect_api_available():
        return None
    try:
        from prefect.blocks.system import Secret

        return Secret.load(f"postatlas-{name}").get()
    except Exception:  # noqa: BLE001 - no block, or no access: treated as missing
        return None


def _prefect_api_available() -> bool:
    """A configured Prefect server, or a running flow / task (whose API is up): only then are blocks looked up,
    so that a missing optional secret never starts a temporary Prefect server."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def require_secret(name: str, what: str) -> str:
    """The secret, or an error telling the operator how to provide it."""
    value = secret(name)
    if not value:
        env_name = "POSTATLAS_" + name.upper().replace("-", "_")
        raise_missing(name, env_name, what)
    return value  # type: ignore[return-value]


def raise_missing(name: str, env_name: str, what: str) -> None:
    """Fail with what to set when a credential is missing."""
    from tasks.collect.base import CollectorError

    raise CollectorError(
        f"missing credential {what}: set ${env_name} or create the Prefect Secret block 'postatlas-{name}'"
    )
