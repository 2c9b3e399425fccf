"""No user error prints a traceback: each exits 2 with one line saying what to do, before any work starts.

Every command runs as a real subprocess (`python -m flows.cli ...`) on real files: a missing path, a home that is
a file or not writable, a warehouse that is no DuckDB file or comes from a newer postatlas, bad numbers and
options. Ctrl-C exits 130 and leaves whole batches only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from storage import warehouse
from tests.helpers import query

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
QUICK_SECONDS = 30  # a check before any flow: the imports only (generous for a loaded 2-core machine)


def _cli(args: list[str], home: Path, prefect_home: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "POSTATLAS_HOME": str(home), "PREFECT_HOME": str(prefect_home), **kwargs.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=kwargs.pop("timeout", 300), **kwargs)


def _one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """The single error line of a run that exited 2 (argparse's usage lines aside), checked for ``fragments``."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith(("usage:", " "))]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def prefect_home(tmp_path: Path) -> Path:
    folder = tmp_path / "prefect-home"
    folder.mkdir()
    return folder


@pytest.fixture
def posts_csv(tmp_path: Path) -> Path:
    path = tmp_path / "posts.csv"
    path.write_text("id,user,text\n1,ana,hello from the harbour\n2,joan,bon dia a tothom\n")
    return path


def _warehouse(home: Path) -> Path:
    """A migrated warehouse with one finished run, made without the CLI."""
    home.mkdir(parents=True, exist_ok=True)
    with warehouse.writer(home / "warehouse.duckdb") as con:
        warehouse.start_run(con, "run-1", "ingest", {})
        warehouse.finish_run(con, "run-1", "completed", {"read": 2, "written": 2})
    return home / "warehouse.duckdb"


TABLE = ["--platform", "csv", "--map", "id=id", "--map", "text=text", "--map", "author=user"]


def test_a_missing_path_is_refused_before_any_flow_runs(home: Path, prefect_home: Path) -> None:
    started = time.monotonic()
    result = _cli(["ingest", "table", "/no/such/posts.csv", *TABLE], home, prefect_home)
    _one_line_error(result, "/no/such/posts.csv: no such file or folder")
    assert time.monotonic() - started < QUICK_SECONDS
    assert not home.exists()  # no warehouse, no runs row
    assert list(prefect_home.iterdir()) == []  # no ephemeral Prefect server started (it creates prefect.db)


@pytest.mark.parametrize("args, message", [
    (["ingest", "twitter-v2", "{csv}", "--platform", "x"], "--platform: only the table format takes"),
    (["ingest", "table", "{csv}", "--platform", "csv"], "--map id=COLUMN is required"),
    (["ingest", "table", "{csv}", *TABLE, "--labels", "/no/labels.csv", "--task", "t"], "--labels /no/labels.csv"),
    (["ingest", "table", "{csv}", *TABLE, "--media-dir", "/no/images"], "--media-dir /no/images"),
    (["curate", "--only", "language,nonsense"], "unknown rule(s) nonsense"),
    (["curate", "--require", "image,sunshine"], "require: unknown ['sunshine']"),
    (["curate", "--dask", "local:none"], "--dask local:N"),
])
def test_bad_options_fail_at_once_without_a_server(args: list[str], message: str, home: Path, prefect_home: Path,
                                                   posts_csv: Path) -> None:
    _warehouse(home)
    before = query(home, "SELECT count(*) FROM runs")
    started = time.monotonic()
    result = _cli([arg.format(csv=posts_csv) for arg in args], home, prefect_home)
    _one_line_error(result, message)
    assert time.monotonic() - started < QUICK_SECONDS
    assert query(home, "SELECT count(*) FROM runs") == before  # no flow run
    assert list(prefect_home.iterdir()) == []  # and no ephemeral server


@pytest.mark.parametrize("args", [["ingest", "table", "x", "--batch-records", "0"], ["curate", "--partitions", "-1"],
                                  ["demo", "--posts", "0"], ["curate", "--min-confidence", "7"]])
def test_impossible_numbers_are_argparse_errors(args: list[str], home: Path, prefect_home: Path) -> None:
    _one_line_error(_cli(args, home, prefect_home), "must be ")


def test_a_home_that_is_a_file(tmp_path: Path, prefect_home: Path, posts_csv: Path) -> None:
    not_a_folder = tmp_path / "home-file"
    not_a_folder.write_text("x")
    for args in (["runs"], ["ingest", "table", str(posts_csv), *TABLE]):
        _one_line_error(_cli(["--home", str(not_a_folder), *args], tmp_path, prefect_home), "is a file, not a folder")
    assert not_a_folder.read_text() == "x"


def test_a_file_that_is_no_duckdb_warehouse_is_refused_before_anything_is_created(
        home: Path, prefect_home: Path, posts_csv: Path) -> None:
    home.mkdir()
    (home / "warehouse.duckdb").write_text("these are my notes, not a database\n")
    for args in (["runs"], ["sql", "SELECT 1"], ["ingest", "table", str(posts_csv), *TABLE], ["curate"]):
        _one_line_error(_cli(args, home, prefect_home), "is not a DuckDB warehouse")
    assert [p.name for p in home.iterdir()] == ["warehouse.duckdb"]
    assert (home / "warehouse.duckdb").read_text() == "these are my notes, not a database\n"
    assert list(prefect_home.iterdir()) == []


def test_a_warehouse_of_a_newer_postatlas_is_refused(home: Path, prefect_home: Path, posts_csv: Path) -> None:
    path = _warehouse(home)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_migrations VALUES (999, 'from_the_future', now())")
    con.close()
    for args in (["runs", "--live"], ["ingest", "table", str(posts_csv), *TABLE]):
        _one_line_error(_cli(args, home, prefect_home), "written by a newer postatlas", "schema version 999")
    assert query(home, "SELECT run_id FROM runs") == [("run-1",)]
    assert not (home / "raw").exists()
    with pytest.raises(warehouse.WarehouseError, match="newer postatlas"), warehouse.writer(path):
        pass  # a writer of this version refuses it too, before migrating anything


def _without_root_powers() -> None:
    """preexec_fn: as root, give up the capabilities that ignore file permissions (so a read-only home is one)."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        for capability in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
            if libc.prctl(24, capability) != 0:  # PR_CAPBSET_DROP: gone from the command once it execs
                raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")


@pytest.fixture
def read_only_home(home: Path) -> Iterator[Path]:
    _warehouse(home)
    paths = [home, *home.rglob("*")]
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield home
    finally:
        for path in paths:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_reading_commands_answer_from_a_read_only_home(read_only_home: Path, prefect_home: Path,
                                                       posts_csv: Path) -> None:
    home = read_only_home
    before = sorted(p.name for p in home.iterdir())
    runs = _cli(["runs"], home, prefect_home, preexec_fn=_without_root_powers)
    assert runs.returncode == 0 and "ingest" in runs.stdout, runs.stderr[-3000:]
    sql = _cli(["sql", "SELECT run_id FROM runs", "--format", "csv"], home, prefect_home,
               preexec_fn=_without_root_powers)
    assert sql.returncode == 0 and "run-1" in sql.stdout, sql.stderr[-3000:]

    # a writer holds the live file: `--live` waits without its note, then says who holds it (the copy never waits)
    holder = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        busy = _cli(["sql", "--live", "--wait", "1", "SELECT 1"], home, prefect_home, preexec_fn=_without_root_powers)
    finally:
        holder.close()
    _one_line_error(busy, "is held by")

    ingest = _cli(["ingest", "table", str(posts_csv), *TABLE], home, prefect_home, preexec_fn=_without_root_powers)
    _one_line_error(ingest, "is not writable", "`sql`, `runs`, `models` and `status` still read it")
    assert sorted(p.name for p in home.iterdir()) == before


def test_the_ephemeral_server_gets_a_generous_startup_time_unless_the_user_set_one(
        monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    from flows.cli import main
    from flows.cli.common import EPHEMERAL_STARTUP_SECONDS, STARTUP_TIMEOUT_ENV

    monkeypatch.delenv(STARTUP_TIMEOUT_ENV, raising=False)
    assert main(["runs"]) == 2  # no warehouse yet
    assert os.environ[STARTUP_TIMEOUT_ENV] == str(EPHEMERAL_STARTUP_SECONDS) and EPHEMERAL_STARTUP_SECONDS >= 120
    monkeypatch.setenv(STARTUP_TIMEOUT_ENV, "45")
    main(["runs"])
    assert os.environ[STARTUP_TIMEOUT_ENV] == "45"


def test_a_server_that_does_not_start_in_time_is_one_message(home: Path, prefect_home: Path) -> None:
    _warehouse(home)
    env = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0"}  # "did not answer in time", at once
    env = {**env, "PREFECT_API_URL": ""}
    result = _cli(["curate"], home, prefect_home, env=env)
    _one_line_error(result, "temporary Prefect server did not answer", "PREFECT_API_URL", "make serve")


ROWS, BATCH = 60_000, 2_000


@pytest.mark.parametrize("target", ["process", "group"])  # kill -INT PID; Ctrl-C in a terminal (the whole group)
def test_ctrl_c_mid_ingest_exits_130_with_whole_batches(target: str, home: Path, prefect_home: Path,
                                                        tmp_path: Path) -> None:
    table = tmp_path / "bulk.csv"
    table.write_text("id,user,text\n" + "".join(f"{i},user{i % 500},post number {i} about the city at night\n"
                                                for i in range(ROWS)))
    env = {**os.environ, "POSTATLAS_HOME": str(home), "PREFECT_HOME": str(prefect_home)}
    command = [sys.executable, "-m", "flows.cli", "ingest", "table", str(table), "--platform", "bulk",
               "--map", "id=id", "--map", "author=user", "--map", "text=text", "--batch-records", str(BATCH)]
    process = subprocess.Popen(command, env=env, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if len(list((home / "raw").rglob("batch-*.parquet"))) >= 4:  # several batches in
            break
        time.sleep(0.02)
    assert process.poll() is None, f"ingest ended before Ctrl-C: {process.stderr.read()[-2000:]}"
    if target == "group":
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "leaked" not in stderr, stderr[-3000:]
    assert [line for line in stderr.splitlines() if line.strip()] == [
        "postatlas ingest: interrupted (whole batches committed stay; run the command again to go on)"]
    time.sleep(0.5)
    assert subprocess.run(["pgrep", "-f", str(table)], capture_output=True, text=True).stdout.split() == []
    posts, batches = query(home, "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM raw_batches)")[0]
    assert posts < ROWS
    assert posts == batches * BATCH  # only whole batches are visible
    assert query(home, "SELECT status FROM runs") == [("failed",)]


def test_prefect_logs_no_traceback_for_an_error_the_command_reports(prefect_server: None) -> None:
    """A user error raised inside a flow run (found only once it runs) is the command's one line: Prefect's engine
    logs of it carry no traceback, and its repeated failure lines are left out; other errors keep theirs."""
    import logging

    from prefect import flow

    from flows.cli.common import UserError, prepare_prefect, user_errors
    from tasks.ingest import IngestError

    @flow(name="fails-for-the-user")
    def fails(error: Exception) -> None:
        raise error

    seen: list[logging.LogRecord] = []
    collector = logging.Handler()
    collector.emit = seen.append  # type: ignore[method-assign]
    logger = logging.getLogger("prefect.flow_runs")
    logger.addHandler(collector)
    try:
        prepare_prefect()  # a server is configured (the test server): nothing starts
        with pytest.raises(UserError, match="a file that cannot be read"), user_errors(IngestError):
            fails(IngestError("a file that cannot be read"))
        assert [record for record in seen if record.exc_info] == []
        assert not any("Finished in state Failed" in record.getMessage() for record in seen)
        seen.clear()
        with pytest.raises(KeyError), user_errors(IngestError):
            fails(KeyError("a bug"))
        assert any(record.exc_info for record in seen)  # a bug keeps its traceback
    finally:
        logger.removeHandler(collector)
