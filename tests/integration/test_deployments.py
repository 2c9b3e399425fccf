"""Deployments against a real local Prefect server (started here, 127.0.0.1 only, its own PREFECT_HOME):
`make deploy` (python -m deployments.ops deploy) creates the pools, the warehouse concurrency limit and the
deployments with their schedules; a failed `ingest` deployment run retried as the UI does keeps its run id,
finds the path it had already ingested Cached and ingests only the rest, without duplicating a post."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import duckdb
import httpx
import pytest

from tests.conftest import REPO, SHARED_DATA

pytestmark = pytest.mark.integration

TWITTER_V2 = SHARED_DATA / "api-payloads" / "twitter-v2"
SERVER_START_SECONDS = 90
WORKER_SECONDS = 150
# flow/deployment -> (entrypoint, pool, cron or None)
EXPECTED = {
    "nightly-collect-curate/nightly": ("flows/nightly.py:nightly_flow", "cpu", "0 2 * * *"),
    "ingest/ingest": ("flows/ingest.py:ingest_flow", "cpu", None),
    "collect/collect": ("flows/collect.py:collect_flow", "cpu", None),
    "curate/curate": ("flows/curate.py:curate_flow", "cpu", None),
    "demo/demo": ("flows/demo.py:demo_flow", "cpu", None),
    "weekly-training/weekly": ("flows/weekly.py:weekly_training_flow", "gpu", "0 3 * * 0"),
    "train-fusion/train-fusion": ("flows/learn.py:train_fusion_flow", "gpu", None),
    "predict-fusion/predict-fusion": ("flows/learn.py:predict_fusion_flow", "gpu", None),
    "featurize/featurize": ("flows/features.py:featurize_flow", "gpu", None),
    "nightly-clusters/nightly": ("flows/clusters.py:nightly_clusters_flow", "cpu", "0 4 * * *"),
    "train-autoencoder/train-autoencoder": ("flows/clusters.py:train_autoencoder_flow", "gpu", None),
    "cluster/cluster": ("flows/clusters.py:cluster_flow", "cpu", None),
    "train-joint/train-joint": ("flows/joint.py:train_joint_flow", "gpu", None),
    "embed-joint/embed-joint": ("flows/joint.py:embed_joint_flow", "gpu", None),
}
SECRET_WORDS = ("token", "secret", "password", "api_key", "session")


@dataclass(frozen=True)
class Server:
    api_url: str
    env: dict[str, str]  # environment of every prefect command / worker of this module
    home: Path  # POSTATLAS_HOME of the deployments
    results: Path  # PREFECT_LOCAL_STORAGE_PATH of the workers
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`prefect server start` on a free 127.0.0.1 port with its own PREFECT_HOME, killed at the end."""
    root = tmp_path_factory.mktemp("prefect-deployments")
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "POSTATLAS_"))}
    env.update(
        PREFECT_HOME=str(root / "prefect-home"),
        PREFECT_API_URL=api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_LOGGING_LEVEL="INFO",
        PREFECT_RESULTS_PERSIST_BY_DEFAULT="true",
        PREFECT_LOCAL_STORAGE_PATH=str(root / "results"),
        POSTATLAS_HOME=str(root / "home"),
        POSTATLAS_WORKERS="1",
    )
    log = root / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=root, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Prefect server did not answer /api/health:\n{_tail(log)}")
            time.sleep(0.5)
        yield Server(api_url, env, root / "home", root / "results", log)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _deploy(server: Server) -> subprocess.CompletedProcess:
    done = _run([sys.executable, "-m", "deployments.ops", "deploy", "--api-url", server.api_url], server.env, 180)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done


@pytest.fixture(scope="module")
def deployed(server: Server) -> subprocess.CompletedProcess:
    """What `make deploy` does, against the module's server."""
    return _deploy(server)


@pytest.fixture
def client(server: Server):
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(server.api_url) as prefect:
        yield prefect


def _deployments(client) -> dict[str, object]:
    found = {}
    for deployment in client.read_deployments():
        flow = client.read_flow(deployment.flow_id)
        found[f"{flow.name}/{deployment.name}"] = deployment
    return found


def test_deploy_creates_pools_limit_and_scheduled_deployments(server: Server, deployed, client) -> None:
    for pool in ("cpu", "gpu"):
        assert client.read_work_pool(pool).type == "process"
    limit = client.read_global_concurrency_limit_by_name("postatlas-warehouse")
    assert limit.limit == 1 and limit.active

    deployments = _deployments(client)
    assert set(deployments) == set(EXPECTED)
    for name, (entrypoint, pool, cron) in EXPECTED.items():
        deployment = deployments[name]
        assert deployment.entrypoint == entrypoint, name
        assert deployment.work_pool_name == pool, name
        crons = [(s.schedule.cron, s.schedule.timezone) for s in deployment.schedules]
        assert crons == ([(cron, "UTC")] if cron else []), name
        # workers import the flows from this checkout and persist results where any worker can read them
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}], name
        env = deployment.job_variables["env"]
        assert env["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] == "true"
        assert env["PREFECT_LOCAL_STORAGE_PATH"] == str(server.results)
        assert env["POSTATLAS_HOME"] == str(server.home)
        # secrets are never parameters: they come from the workers' environment or Secret blocks
        schema_names = set(deployment.parameter_openapi_schema.get("properties", {}))
        assert not [p for p in schema_names | set(deployment.parameters) if any(w in p for w in SECRET_WORDS)]
    assert deployments["nightly-collect-curate/nightly"].parameters == {"specs": [], "curate_options": {}}
    assert deployments["demo/demo"].parameters == {"posts": 3000, "seed": 7}

    # the scheduler gives the cron deployment its runs (a broken SQLAlchemy makes this fail silently)
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    of_nightly = DeploymentFilter(id=DeploymentFilterId(any_=[deployments["nightly-collect-curate/nightly"].id]))
    deadline = time.monotonic() + 30
    while not (runs := client.read_flow_runs(deployment_filter=of_nightly)):
        assert time.monotonic() < deadline, "the scheduler created no run of the 02:00 deployment"
        time.sleep(1)
    for run in runs:
        start = run.expected_start_time.astimezone(UTC)
        assert (start.hour, start.minute, run.state.name) == (2, 0, "Scheduled")
        assert start > datetime.now(UTC)

    # make deploy again: nothing duplicated, the same deployments updated in place
    again = _deploy(server)
    assert "work pool 'cpu' exists" in again.stdout and "limit 'postatlas-warehouse' exists" in again.stdout
    assert {name: d.id for name, d in _deployments(client).items()} == {n: d.id for n, d in deployments.items()}
    assert len([p for p in client.read_work_pools() if p.name in ("cpu", "gpu")]) == 2
    listed = _run([sys.executable, "-m", "prefect", "deployment", "ls"], server.env, 60)
    assert listed.returncode == 0 and "ingest/ingest" in listed.stdout.replace("\n", ""), listed.stdout


def _worker_once(server: Server) -> str:
    """`prefect worker start --pool cpu --run-once`: picks the scheduled run, runs it, exits."""
    done = _run([sys.executable, "-m", "prefect", "worker", "start", "--pool", "cpu", "--run-once"],
                server.env, WORKER_SECONDS)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return output


def _ingest_task_runs(client, flow_run_id: UUID) -> list:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                                 sort=TaskRunSort.EXPECTED_START_TIME_ASC)
    return [run for run in runs if run.name.startswith("ingest-files")]


def _persisted(storage_key: str):
    """The task result persisted at ``storage_key`` (a file under the workers' result storage)."""
    from prefect.filesystems import LocalFileSystem
    from prefect.results import ResultStore

    path = Path(storage_key)
    return ResultStore(result_storage=LocalFileSystem(basepath=str(path.parent))).read(path.name).result


def _warehouse(home: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _tweet_ids(path: Path) -> set[str]:
    ids = set()
    for line in path.read_text().splitlines():
        if line.strip():
            data = json.loads(line)["data"]
            ids.update(f"twitter:{tweet['id']}" for tweet in (data if isinstance(data, list) else [data]))
    return ids


def test_retried_ingest_run_skips_the_path_already_done(server: Server, deployed, client, tmp_path: Path) -> None:
    if not TWITTER_V2.is_dir():
        pytest.skip(f"real data not found at {TWITTER_V2} (clone the project with ../shared beside it)")
    from prefect.states import AwaitingRetry, StateType

    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    first, second = inbox / "first.jsonl", inbox / "second.jsonl"
    first.write_bytes((TWITTER_V2 / "two_tweets.jsonl").read_bytes())
    ingest = client.read_deployment_by_name("ingest/ingest")
    flow_run = client.create_flow_run_from_deployment(
        ingest.id, parameters={"fmt": "twitter-v2", "paths": [str(first), str(second)], "home": str(home)})

    # 1. the second path does not exist yet: the first path is ingested, then the run fails
    output = _worker_once(server)
    failed = client.read_flow_run(flow_run.id)
    assert failed.state.type == StateType.FAILED, f"{failed.state}\n{output[-6000:]}"
    attempt = _ingest_task_runs(client, flow_run.id)
    assert [run.state.type for run in attempt] == [StateType.COMPLETED, StateType.FAILED], attempt
    assert {row[0] for row in _warehouse(home, "SELECT post_id FROM posts")} == _tweet_ids(first)
    assert _warehouse(home, f"SELECT status FROM runs WHERE run_id = '{flow_run.id}'") == [("failed",)]

    # 2. the file arrives (new tweets plus one already ingested); retry the same run as the UI's Retry does
    second.write_bytes((TWITTER_V2 / "geo_tweets.jsonl").read_bytes() + first.read_bytes())
    assert client.set_flow_run_state(flow_run.id, state=AwaitingRetry(), force=True).status.value == "ACCEPT"
    output = _worker_once(server)
    retried = client.read_flow_run(flow_run.id)
    assert retried.id == flow_run.id and retried.state.type == StateType.COMPLETED, f"{retried.state}\n{output[-6000:]}"
    assert retried.run_count == 2

    # the retry's task runs: the first path comes back Cached (not redone), the second path ran
    retry = [run for run in _ingest_task_runs(client, flow_run.id) if run.id not in {r.id for r in attempt}]
    assert [run.state.name for run in retry] == ["Cached", "Completed"], retry
    # the Cached state is the result the first attempt persisted for the first path (read 1, new 1), found
    # under the workers' PREFECT_LOCAL_STORAGE_PATH; the second path's task wrote the new tweets
    cached_key = retry[0].state.data.storage_key
    assert cached_key == attempt[0].state.data.storage_key and Path(cached_key).parent == server.results
    assert _persisted(cached_key).counts() == {"read": 1, "written": 1, "duplicates": 0, "quarantined": 0,
                                               "deletions": 0}
    assert _persisted(retry[1].state.data.storage_key).counts() == {
        "read": 3, "written": 2, "duplicates": 1, "quarantined": 0, "deletions": 0}

    # the warehouse: every post once, one ledger row for the run, counts that add up
    assert _warehouse(home, "SELECT count(*), count(DISTINCT post_id) FROM posts") == [(3, 3)]
    assert {row[0] for row in _warehouse(home, "SELECT post_id FROM posts")} == _tweet_ids(first) | _tweet_ids(second)
    ledger = _warehouse(home, f"SELECT status, read, written, duplicates, quarantined FROM runs "
                              f"WHERE run_id = '{flow_run.id}'")
    assert len(ledger) == 1 and ledger[0][0] == "completed", ledger
    status, read, written, duplicates, quarantined = ledger[0]
    assert read == written + duplicates + quarantined and written == 3 and duplicates == 1, ledger
    assert _warehouse(home, "SELECT count(*) FROM runs") == [(1,)]
    # persisted task results live where the deployment's job variables put them
    assert server.results.is_dir() and any(server.results.iterdir())

    # 3. the runbook's CLI retry (`prefect flow-run retry ID`) of the now completed run: every path Cached
    done = _run([sys.executable, "-m", "prefect", "flow-run", "retry", str(flow_run.id)], server.env, 60)
    assert done.returncode == 0, done.stdout + done.stderr
    _worker_once(server)
    again = client.read_flow_run(flow_run.id)
    assert again.state.type == StateType.COMPLETED and again.run_count == 3
    seen = {r.id for r in attempt} | {r.id for r in retry}
    assert [run.state.name for run in _ingest_task_runs(client, flow_run.id) if run.id not in seen] == [
        "Cached", "Cached"]
    assert _warehouse(home, "SELECT count(*), count(DISTINCT post_id) FROM posts") == [(3, 3)]
    assert _warehouse(home, "SELECT count(*) FROM runs") == [(1,)]
