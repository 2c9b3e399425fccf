"""Operate postatlas on a local Prefect server: `serve`, `deploy`, `stop`, `status` (what `make serve|deploy|stop`
run). See deployments/README.md.

    python -m deployments.ops serve  [--port 4200]   # server on 127.0.0.1 + one process worker per pool
    python -m deployments.ops deploy [--api-url URL] # pools, the warehouse concurrency limit, the deployments
    python -m deployments.ops stop                   # stops what serve started (pid files)
    python -m deployments.ops status

Everything `serve` starts runs in the background in its own process group; logs go to ``<ops>/logs`` and pids
to ``<ops>/pids`` where ``<ops>`` is $POSTATLAS_OPS or ``$POSTATLAS_HOME/ops`` (default ``~/.postatlas/ops``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from storage.home import DEFAULT_HOME, HOME_ENV, Home
from tasks.locks import LIMIT_NAME

REPO = Path(__file__).resolve().parents[1]
PREFECT_FILE = Path("deployments") / "prefect.yaml"
POOLS = ("cpu", "gpu")
WAREHOUSE_LIMIT = LIMIT_NAME  # the one-writer slot of tasks/locks.py
DEFAULT_PORT = 4200
OFFLINE_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


@dataclass(frozen=True)
class Layout:
    """Where a local installation keeps its data, logs, pids and persisted task results."""

    home: Path
    ops: Path
    results: Path

    @property
    def logs(self) -> Path:
        """Server and worker logs."""
        return self.ops / "logs"

    @property
    def pids(self) -> Path:
        """Pid files of what `make serve` started."""
        return self.ops / "pids"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Layout:
        """The layout the environment ``env`` (default: this process's) asks for."""
        env = dict(os.environ if env is None else env)
        home = Home.at(env.get(HOME_ENV) or DEFAULT_HOME)
        ops = Path(env.get("POSTATLAS_OPS") or home.ops).expanduser().resolve()
        results = Path(env.get("PREFECT_LOCAL_STORAGE_PATH") or home.prefect_results).expanduser().resolve()
        return cls(home.root, ops, results)


def prefect_cli() -> list[str]:
    """The `prefect` command of this interpreter's environment."""
    return [sys.executable, "-m", "prefect"]


def local_api_url(port: int) -> str:
    """The API address of a server on this machine's loopback."""
    return f"http://127.0.0.1:{port}/api"


def run_environment(api_url: str, layout: Layout, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the prefect commands, the workers and (through them) the flow runs."""
    env = dict(os.environ if base is None else base)
    env.update(OFFLINE_ENV)
    env.update(
        PREFECT_API_URL=api_url,
        POSTATLAS_REPO=str(REPO),
        POSTATLAS_HOME=str(layout.home),
        PREFECT_RESULTS_PERSIST_BY_DEFAULT="true",
        PREFECT_LOCAL_STORAGE_PATH=str(layout.results),
    )
    return env


def healthy(api_url: str, timeout: float = 0.0) -> bool:
    """Whether ``GET {api_url}/health`` answers 200 within ``timeout`` seconds (polled)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


# ---------------------------------------------------------------- background processes


def _pid_file(layout: Layout, name: str) -> Path:
    return layout.pids / f"{name}.pid"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs and is one of ours (a prefect command), so a recycled pid is never signalled."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the pid file
    return b"prefect" in cmdline


def running_pid(layout: Layout, name: str) -> int | None:
    """The pid of ``name`` (server, worker-cpu, ...) when it is still running."""
    path = _pid_file(layout, name)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def start_background(layout: Layout, name: str, command: list[str], env: dict[str, str]) -> int:
    """Start ``command`` detached (own session / process group), output to ``logs/<name>.log``; returns its pid."""
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.pids.mkdir(parents=True, exist_ok=True)
    log = open(layout.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
    log.flush()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    _pid_file(layout, name).write_text(f"{process.pid}\n")
    return process.pid


def stop_process(layout: Layout, name: str, grace: float = 15.0) -> bool:
    """SIGTERM the process group started as ``name`` (SIGKILL after ``grace`` s); False if it was not running."""
    pid = running_pid(layout, name)
    _pid_file(layout, name).unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


# ---------------------------------------------------------------- commands


def serve(port: int, layout: Layout, pools: tuple[str, ...] = POOLS, wait: float = 90.0) -> int:
    """Start the server on 127.0.0.1:``port`` (unless one answers there) and one process worker per pool."""
    api_url = local_api_url(port)
    env = run_environment(api_url, layout)
    layout.results.mkdir(parents=True, exist_ok=True)
    if healthy(api_url):
        print(f"a Prefect server already answers at {api_url}: not starting another")
    else:
        pid = start_background(
            layout, "server", prefect_cli() + ["server", "start", "--host", "127.0.0.1", "--port", str(port)], env
        )
        print(f"Prefect server starting (pid {pid}, log {layout.logs / 'server.log'}) ...")
        if not healthy(api_url, timeout=wait):
            print(f"the server did not answer {api_url}/health within {wait:.0f} s; see {layout.logs / 'server.log'}",
                  file=sys.stderr)
            stop_process(layout, "server")
            return 1
    ensure_pools(api_url, env, pools)  # before the workers, which would create them with defaults
    for pool in pools:
        name = f"worker-{pool}"
        if (pid := running_pid(layout, name)) is not None:
            print(f"worker for pool {pool!r} already running (pid {pid})")
            continue
        command = prefect_cli() + ["worker", "start", "--pool", pool, "--type", "process",
                                   "--name", f"postatlas-{pool}"]
        pid = start_background(layout, name, command, env)
        print(f"worker for pool {pool!r} started (pid {pid}, log {layout.logs / (name + '.log')})")
    print(f"UI: {api_url.removesuffix('/api')}   PREFECT_API_URL={api_url}")
    print(f"results: {layout.results}   warehouse home: {layout.home}   stop with: make stop")
    return 0


def stop(layout: Layout) -> int:
    """Stop the workers, then the server (only processes started by serve, found by their pid files)."""
    for name in [f"worker-{pool}" for pool in POOLS] + ["server"]:
        print(f"{name}: {'stopped' if stop_process(layout, name) else 'not running'}")
    return 0


def status(port: int, layout: Layout) -> int:
    """Print whether the server answers and which processes run; 0 when all do."""
    api_url = os.environ.get("PREFECT_API_URL") or local_api_url(port)
    print(f"server {api_url}: {'healthy' if healthy(api_url) else 'not answering'}")
    for name in ["server"] + [f"worker-{pool}" for pool in POOLS]:
        pid = running_pid(layout, name)
        print(f"{name}: {f'running (pid {pid})' if pid else 'not running'}   log {layout.logs / (name + '.log')}")
    return 0


def _prefect(args: list[str], env: dict[str, str], check: bool = True) -> int:
    print("$ prefect " + " ".join(args), flush=True)
    return subprocess.run(prefect_cli() + args, cwd=REPO, env=env, check=check).returncode


def ensure_pools(api_url: str, env: dict[str, str], pools: tuple[str, ...] = POOLS) -> None:
    """`prefect work-pool create NAME --type process` for each pool that does not exist yet."""
    import httpx

    with httpx.Client(base_url=api_url, timeout=30) as api:
        for pool in pools:
            if api.get(f"/work_pools/{pool}").status_code != 404:
                print(f"work pool {pool!r} exists")
                continue
            # a worker starting meanwhile may create it first: then the pool is there all the same
            if _prefect(["work-pool", "create", pool, "--type", "process"], env, check=False) != 0:
                api.get(f"/work_pools/{pool}").raise_for_status()


def ensure_warehouse_limit(api_url: str, env: dict[str, str]) -> None:
    """The global concurrency limit `postatlas-warehouse` with 1 slot (created, or set back to 1)."""
    import httpx

    found = httpx.get(f"{api_url}/v2/concurrency_limits/{WAREHOUSE_LIMIT}", timeout=30)
    if found.status_code == 404:
        _prefect(["global-concurrency-limit", "create", WAREHOUSE_LIMIT, "--limit", "1"], env)
    elif found.json().get("limit") != 1:
        _prefect(["global-concurrency-limit", "update", WAREHOUSE_LIMIT, "--limit", "1"], env)
    else:
        print(f"global concurrency limit {WAREHOUSE_LIMIT!r} exists (limit 1)")


def deploy(api_url: str, layout: Layout, base_env: dict[str, str] | None = None) -> int:
    """Create the work pools and the concurrency limit when missing, then every deployment of prefect.yaml."""
    env = run_environment(api_url, layout, base_env)
    if not healthy(api_url, timeout=10):
        print(f"no Prefect server answers at {api_url}: start one with `make serve`", file=sys.stderr)
        return 1
    ensure_pools(api_url, env)
    ensure_warehouse_limit(api_url, env)
    _prefect(["--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_FILE)], env)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m deployments.ops serve|deploy|status|stop`."""
    parser = argparse.ArgumentParser(prog="python -m deployments.ops", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "deploy", "status"):
        sub = commands.add_parser(name)
        sub.add_argument("--port", type=int, default=int(os.environ.get("PREFECT_PORT", DEFAULT_PORT)))
        if name == "deploy":
            sub.add_argument("--api-url", help="default $PREFECT_API_URL, else the local server on --port")
    commands.add_parser("stop")
    args = parser.parse_args(argv)
    os.environ.update(OFFLINE_ENV)
    layout = Layout.from_env()
    if args.command == "serve":
        return serve(args.port, layout)
    if args.command == "deploy":
        return deploy(args.api_url or os.environ.get("PREFECT_API_URL") or local_api_url(args.port), layout)
    if args.command == "status":
        return status(args.port, layout)
    return stop(layout)


if __name__ == "__main__":
    sys.exit(main())
