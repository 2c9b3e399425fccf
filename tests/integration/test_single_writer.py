"""One writer at a time: concurrent flows both succeed, readers wait (bounded) or name the writer, busy tasks retry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flows.cli import main
from storage import warehouse
from storage.home import Home
from tasks.ingest import IngestOptions, run_ingest
from tasks.locks import LIMIT_NAME, WRITE_RETRY, warehouse_slot
from tests.helpers import counts_add_up, query

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
WAIT = 120  # bound on every wait below; none is a speed threshold


@pytest.fixture(autouse=True)
def _server(prefect_server):
    yield


def _env(home: Path, api: bool, **extra: str) -> dict[str, str]:
    """The environment of a child process: this home, and the test server's API or none (no writer slot)."""
    import prefect.settings

    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    if api:
        env["PREFECT_API_URL"] = prefect.settings.PREFECT_API_URL.value()
    return {**env, "POSTATLAS_HOME": str(home), **extra}


def _spawn(code: str, home: Path, *args: str) -> subprocess.Popen:
    """Run ``code`` in a child process outside Prefect; it prints a line once it holds what it should."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=_env(home, api=False), cwd=REPO,
                            stdout=subprocess.PIPE, text=True)


def _ready(process: subprocess.Popen) -> None:
    assert process.stdout.readline().strip() == "ready"


HOLD_WRITER = """
    import sys, time
    from pathlib import Path
    from storage import warehouse
    path = Path(sys.argv[1]) / "warehouse.duckdb"
    con = warehouse.open_writer(path, sys.argv[2])
    print("ready", flush=True)
    time.sleep(float(sys.argv[3]))
    warehouse.close_writer(path, con)
"""

HOLD_LOCK_WITHOUT_NOTE = """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1] + "/warehouse.duckdb")
    print("ready", flush=True)
    time.sleep(float(sys.argv[2]))
"""

LONG_WRITE = """
    import sys, time
    from pathlib import Path
    from tasks.ingest import HeldWriter
    home = Path(sys.argv[1])
    writer = HeldWriter(home / "warehouse.duckdb", "long-write", hold_seconds=0.3)
    writer.connection().execute("CREATE TABLE ticks (n INTEGER)")
    print("ready", flush=True)
    deadline = time.monotonic() + float(sys.argv[2])
    n = 0
    while time.monotonic() < deadline and not (home / "stop").exists():
        writer.connection().execute("INSERT INTO ticks VALUES (?)", [n])
        n += 1
        writer.release_if_held_long()
    writer.release()
"""


def test_two_flows_writing_at_once_both_succeed(home: Path, shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "api-payloads" / "twitter-v2"
    sources = {"a": [folder / "flat.jsonl"], "b": [folder / "noflat.jsonl", folder / "withheld.jsonl"]}
    missing = [str(p) for paths in sources.values() for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"real payloads not found: {', '.join(missing)}")
    env = _env(home, api=True, POSTATLAS_WRITER_HOLD="0")  # let go after every batch: the runs take turns
    flows = []
    with warehouse_slot("test-holds-the-slot", WAIT):
        for paths in sources.values():
            command = [sys.executable, "-m", "flows.cli", "ingest", "twitter-v2", *map(str, paths),
                       "--batch-records", "2"]
            flows.append(subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE))
        deadline = time.monotonic() + WAIT
        while len(list(home.glob("warehouse.duckdb.waiting.*"))) < 2 and time.monotonic() < deadline:
            assert all(flow.poll() is None for flow in flows), [flow.stderr.read().decode() for flow in flows]
            time.sleep(0.1)
        assert len(list(home.glob("warehouse.duckdb.waiting.*"))) == 2, "both flows should wait for the warehouse"
        assert not (home / "warehouse.duckdb").exists()  # nobody writes while the slot is taken
        # A writer outside Prefect takes the file lock too: the flows get the slot, then wait for DuckDB's lock.
        outsider = _spawn(HOLD_WRITER, home, str(home), "outside-prefect", "2")
        _ready(outsider)
    for flow in flows:
        assert flow.wait(timeout=300) == 0, flow.stderr.read().decode()[-3000:]
    assert outsider.wait(timeout=WAIT) == 0

    reference = tmp_path / "reference"
    for paths in sources.values():
        run_ingest(IngestOptions(fmt="twitter-v2", paths=tuple(map(str, paths))), Home.at(reference), "reference")
    expected = {row[0] for row in query(reference, "SELECT post_id FROM posts")}
    assert query(home, "SELECT count(*), count(DISTINCT post_id) FROM posts") == [(len(expected), len(expected))]
    assert {row[0] for row in query(home, "SELECT post_id FROM posts")} == expected
    assert query(home, "SELECT flow, status, count(*) FROM runs GROUP BY ALL") == [("ingest", "completed", 2)]
    assert counts_add_up(home) == []
    assert list(home.glob("warehouse.*writer*")) == [] and list(home.glob("warehouse.duckdb.waiting.*")) == []
    assert _limit().active_slots == 0  # created on first use, and every slot given back


def _limit():
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(LIMIT_NAME)


def test_sql_waits_for_the_writer_or_names_its_run(home: Path, capsys) -> None:
    holder = _spawn(HOLD_WRITER, home, str(home), "holder-run-1", "3")
    _ready(holder)
    assert main(["sql", "SELECT count(*) AS n FROM posts", "--format", "json", "--live", "--wait", "30"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 0}]  # answered once the writer let go
    assert holder.wait(timeout=WAIT) == 0
    assert not (home / "warehouse.writer").exists()  # the note goes with the writer

    holder = _spawn(HOLD_WRITER, home, str(home), "holder-run-2", str(WAIT))
    _ready(holder)
    assert main(["sql", "SELECT count(*) FROM posts", "--live", "--wait", "1"]) == 2
    error = capsys.readouterr().err
    assert "held by a writer: run holder-run-2 (pid" in error and "--wait SECONDS" in error
    holder.send_signal(signal.SIGKILL)  # a crash leaves its note behind...
    holder.wait()
    assert "holder-run-2" in (home / "warehouse.writer").read_text()

    other = _spawn(HOLD_LOCK_WITHOUT_NOTE, home, str(home), str(WAIT))
    _ready(other)
    try:
        assert main(["sql", "SELECT count(*) FROM posts", "--live", "--wait", "1"]) == 2
    finally:
        other.kill()
        other.wait()
    error = capsys.readouterr().err
    assert "holder-run-2" not in error  # ...which is not believed: its process is gone
    assert f"a process that is no postatlas writer (pid {other.pid})" in error


def test_a_long_write_lets_readers_in(home: Path, capsys) -> None:
    writer = _spawn(LONG_WRITE, home, str(home), str(WAIT))
    _ready(writer)
    try:
        assert main(["sql", "SELECT count(*) > 0 AS wrote FROM ticks", "--format", "json", "--wait", "30"]) == 0
        assert writer.poll() is None  # the reader got its turn while the write went on
    finally:
        (home / "stop").touch()
    assert writer.wait(timeout=WAIT) == 0
    assert json.loads(capsys.readouterr().out) == [{"wrote": True}]


def test_tasks_retry_only_when_the_warehouse_stays_busy() -> None:
    from prefect import flow, task

    attempts: list[str] = []

    @task(**{**WRITE_RETRY, "retry_delay_seconds": 0})  # the flows' write tasks' policy, without the waits
    def write(kind: str) -> str:
        attempts.append(kind)
        if attempts.count(kind) == 1:
            raise warehouse.WarehouseBusy("held by a writer") if kind == "busy" else ValueError("a bug")
        return "written"

    @flow
    def two_writes() -> tuple[str, str]:
        busy = write("busy")
        try:
            write("bug")
        except ValueError:
            return busy, "not retried"
        return busy, "retried"

    assert two_writes() == ("written", "not retried")
    assert attempts == ["busy", "busy", "bug"]


HOLD_ANALYST = """
    import sys, time, duckdb
    # an analyst's own connection, held open (a notebook): read-only or read-write
    con = duckdb.connect(sys.argv[1] + "/warehouse.duckdb", read_only=sys.argv[2] == "read-only")
    con.execute("SELECT count(*) FROM runs").fetchall()
    print("ready", flush=True)
    time.sleep(float(sys.argv[3]))
"""


@pytest.mark.parametrize("mode", ["read-only", "read-write"])
def test_an_analysts_connection_stops_a_run_that_names_its_pid(home: Path, tmp_path: Path, mode: str) -> None:
    Home.at(home).ensure()
    with warehouse.writer(home / "warehouse.duckdb"):
        pass  # an existing warehouse
    table = tmp_path / "one.csv"
    table.write_text("id,text\n1,one post\n")
    analyst = _spawn(HOLD_ANALYST, home, str(home), mode, str(WAIT))
    _ready(analyst)
    try:
        command = [sys.executable, "-m", "flows.cli", "ingest", "table", str(table), "--platform", "p",
                   "--map", "id=id", "--map", "text=text"]
        run = subprocess.run(command, env=_env(home, api=False, POSTATLAS_LOCK_WAIT="1"), cwd=REPO,
                             capture_output=True, text=True, timeout=WAIT)
    finally:
        analyst.kill()
        analyst.wait()
    assert run.returncode == 2, run.stderr[-3000:]  # a user error
    error = run.stderr.strip().splitlines()[-1]
    assert error.startswith("postatlas ingest: error: the warehouse")
    assert f"a process that is no postatlas writer (pid {analyst.pid}) running " in error
    assert "even read-only" in error and f"close that connection (`con.close()` in pid {analyst.pid}" in error
    assert query(home, "SELECT count(*) FROM runs") == [(0,)]  # it never started: nothing to lie about


FAIL_WHILE_HELD = """
    import sys, time
    from pathlib import Path
    from storage.home import Home
    from tasks.ledger import tracked_run
    store = Home.at(sys.argv[1])
    try:
        with tracked_run(store, "train-something", {}) as run:
            run.counts = {"read": 3}
            print("ready", flush=True)
            while not (store.root / "go").exists():
                time.sleep(0.05)
            raise RuntimeError("the model diverged")
    except RuntimeError as error:
        print("failed:", error, flush=True)
"""


def test_a_run_failing_while_an_analyst_holds_the_warehouse_is_failed_not_crashed(home: Path) -> None:
    from tasks.ledger import tracked_run

    flow = subprocess.Popen([sys.executable, "-c", textwrap.dedent(FAIL_WHILE_HELD), str(home)], cwd=REPO,
                            env=_env(home, api=False, POSTATLAS_LOCK_WAIT="1"), stdout=subprocess.PIPE, text=True)
    _ready(flow)
    analyst = _spawn(HOLD_ANALYST, home, str(home), "read-only", str(WAIT))
    try:
        _ready(analyst)
        (home / "go").touch()
        out, _ = flow.communicate(timeout=WAIT)
        assert "failed: the model diverged" in out  # the run's own error, not the ledger's
        [(run_id, status)] = query(home, "SELECT run_id, status FROM runs")
        assert status == "running"  # the analyst still holds the file: its end waits in a note
        assert list(home.glob("warehouse.duckdb.finish.*.json"))
    finally:
        analyst.kill()
        analyst.wait()
    with tracked_run(Home.at(home), "next", {}):  # the next writing run writes it
        pass
    [(status, message, read, finished)] = query(
        home, "SELECT status, message, read, finished_at IS NOT NULL FROM runs WHERE run_id = ?", [run_id])
    assert (status, read, finished) == ("failed", 3, True)
    assert "RuntimeError: the model diverged" in message and f"pid {analyst.pid}" in message
    assert list(home.glob("warehouse.duckdb.finish.*.json")) == []
