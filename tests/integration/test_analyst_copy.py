"""The analyst copy: readers of `warehouse.published.duckdb` and the flows writing the live file never get in each
other's way, and every read sees a whole, committed state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from flows.cli import main
from storage import analyst_copy, warehouse
from tests.helpers import counts_add_up, query

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
WAIT = 120  # bound on every wait below; none is a speed threshold
CONSISTENT = """
    SELECT (SELECT count(*) FROM posts) AS posts,
           (SELECT coalesce(sum(written), 0) FROM runs WHERE flow = 'ingest') AS written,
           (SELECT count(*) FROM runs WHERE flow = 'curate' AND status = 'completed'
              AND read <> kept + filtered) AS curate_runs_off
"""


@pytest.fixture(autouse=True)
def _server(prefect_server):
    yield


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    return {**env, "POSTATLAS_HOME": str(home), **extra}


HOLD_COPY = """
    import sys, duckdb
    # an analyst's notebook: one read-only connection to the copy, kept open, queried on request
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(con.execute("SELECT count(*) FROM posts").fetchall()[0][0], flush=True)
    for line in sys.stdin:
        if line.strip() == "reopen":
            con.close()
            con = duckdb.connect(sys.argv[1], read_only=True)
        print(con.execute("SELECT count(*) FROM posts").fetchall()[0][0], flush=True)
"""


def test_a_reader_held_open_on_the_copy_never_stops_ingest_curate_and_cluster(home: Path, shared_data: Path,
                                                                             monkeypatch) -> None:
    assert main(["demo", "--posts", "200", "--seed", "3", "--no-learn"]) == 0
    copy = analyst_copy.published_path(home / "warehouse.duckdb")
    before = query(home, "SELECT count(*) FROM posts")[0][0]
    analyst = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD_COPY), str(copy)], cwd=REPO,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert int(analyst.stdout.readline()) == before
        monkeypatch.setenv("POSTATLAS_LOCK_WAIT", "1")  # any wait for a lock would fail these runs at once
        assert main(["ingest", "twitter-v2", str(shared_data / "api-payloads" / "twitter-v2" / "flat.jsonl")]) == 0
        assert main(["curate"]) == 0
        assert main(["cluster", "--embedding", "features:e5-small", "--clusters", "3", "--micro-clusters", "12"]) == 0
        after = query(home, "SELECT count(*) FROM posts")[0][0]
        assert after > before
        analyst.stdin.write("query\n")
        analyst.stdin.flush()
        assert int(analyst.stdout.readline()) == before  # the open connection still reads its whole snapshot
        analyst.stdin.write("reopen\n")
        analyst.stdin.flush()
        assert int(analyst.stdout.readline()) == after  # a new connection reads the last publication
    finally:
        analyst.stdin.close()
        assert analyst.wait(timeout=WAIT) == 0
    with duckdb.connect(str(copy), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM cluster_runs").fetchall() == [(1,)]
        runs = con.execute("SELECT flow, status FROM runs ORDER BY started_at").fetchall()
        (published_by,) = con.execute("SELECT run_id FROM publication").fetchall()[0]
    assert runs[-3:] == [("ingest", "completed"), ("curate", "completed"), ("cluster", "completed")]
    assert published_by == query(home, "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")[0][0]


READ_IN_A_LOOP = f"""
    import json, sys, time, duckdb
    from pathlib import Path
    copy, stop = sys.argv[1], Path(sys.argv[2])
    reads, failures, states, inconsistent = 0, [], set(), []
    while not stop.exists():
        try:
            with duckdb.connect(copy, read_only=True) as con:
                posts, written, off = con.execute({CONSISTENT!r}).fetchall()[0]
        except Exception as error:
            failures.append(repr(error))
            continue
        reads += 1
        states.add(posts)
        if posts != written or off:
            inconsistent.append([posts, written, off])
    print(json.dumps({{"reads": reads, "failures": failures[:5], "failed": len(failures),
                      "states": sorted(states), "inconsistent": inconsistent[:5]}}), flush=True)
"""


def test_readers_in_other_processes_see_only_whole_batches_while_a_flow_writes(home: Path, shared_data: Path) -> None:
    folder = shared_data / "api-payloads" / "twitter-v2"
    stop = home / "stop-reading"
    env = _env(home, POSTATLAS_WRITER_HOLD="0", POSTATLAS_PUBLISH_EVERY="0")  # a publication after every batch
    first = subprocess.run([sys.executable, "-m", "flows.cli", "ingest", "twitter-v2", str(folder / "flat.jsonl")],
                           env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    copy = analyst_copy.published_path(home / "warehouse.duckdb")
    readers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(READ_IN_A_LOOP), str(copy), str(stop)],
                                cwd=REPO, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        for payloads in (["noflat.jsonl", "withheld.jsonl"], ["flat.jsonl"]):
            write = subprocess.run([sys.executable, "-m", "flows.cli", "ingest", "twitter-v2",
                                    *(str(folder / name) for name in payloads), "--batch-records", "3"],
                                   env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
            assert write.returncode == 0, write.stderr[-3000:]
        curate = subprocess.run([sys.executable, "-m", "flows.cli", "curate"], env=env, cwd=REPO,
                                capture_output=True, text=True, timeout=600)
        assert curate.returncode == 0, curate.stderr[-3000:]
    finally:
        stop.touch()
    results = [json.loads(reader.communicate(timeout=WAIT)[0]) for reader in readers]
    final = query(home, "SELECT count(*) FROM posts")[0][0]
    for result in results:
        assert result["failed"] == 0, result["failures"]
        assert result["inconsistent"] == [] and result["reads"] > 0
        assert set(result["states"]) <= set(range(final + 1)) and max(result["states"]) <= final
    assert len(set().union(*(r["states"] for r in results))) > 1  # they read across several publications
    assert counts_add_up(home) == []


HOLD_WRITER = """
    import sys, time
    from pathlib import Path
    from storage import warehouse
    path = Path(sys.argv[1]) / "warehouse.duckdb"
    con = warehouse.open_writer(path, "holder-run")
    print("ready", flush=True)
    time.sleep(float(sys.argv[2]))
    warehouse.close_writer(path, con)
"""


def test_sql_reads_the_copy_at_once_while_a_writer_holds_the_live_file(home: Path, capsys) -> None:
    with warehouse.writer(home / "warehouse.duckdb", "first-run", publish=True) as con:
        con.execute("CREATE TABLE notes AS SELECT 1 AS n")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD_WRITER), str(home), str(WAIT)], cwd=REPO,
                              env=_env(home), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(["sql", "SELECT count(*) AS n FROM notes", "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out) == [{"n": 1}]
        assert main(["status"]) == 0
        shown = capsys.readouterr().out
        assert "run holder-run (pid" in shown and "first-run" in shown, shown  # who writes now, who published
        assert main(["sql", "SELECT count(*) FROM notes", "--live", "--wait", "1"]) == 2
        assert "held by a writer: run holder-run" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()


def test_publication_is_stamped_and_follows_the_interval(home: Path, monkeypatch) -> None:
    live = home / "warehouse.duckdb"
    monkeypatch.setenv(analyst_copy.PUBLISH_EVERY_ENV, "3600")
    with warehouse.writer(live, "run-a"):
        pass
    assert analyst_copy.published_path(live).exists()  # the first writer publishes: there was no copy
    with warehouse.writer(live, "run-b") as con:
        con.execute("CREATE TABLE notes AS SELECT 1 AS n")
    with warehouse.analyst_reader(live) as con:  # not due yet: the copy is still run-a's
        assert con.execute("SELECT run_id FROM publication").fetchall() == [("run-a",)]
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'notes'").fetchall() == [(0,)]
    with warehouse.writer(live, "run-c", publish=True):
        pass
    with warehouse.analyst_reader(live) as con:
        assert con.execute("SELECT run_id FROM publication").fetchall() == [("run-c",)]
        assert con.execute("SELECT count(*) FROM notes").fetchall() == [(1,)]
    monkeypatch.setenv(analyst_copy.PUBLISH_EVERY_ENV, "soon")
    with pytest.raises(ValueError, match="POSTATLAS_PUBLISH_EVERY='soon' is not a number"):
        analyst_copy.publish_every()
    assert list(home.glob("*.tmp")) == []
