"""A run killed with SIGKILL mid-ingest leaves whole batches only; running it again completes without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest

from tests.helpers import counts_add_up, query

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration
ROWS, BATCH = 60_000, 2_000


def _table(path: Path) -> Path:
    lines = ["id,user,text"] + [f"{i},user{i % 500},post number {i} about the city at night" for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _ingest_command(table: Path) -> list[str]:
    return [sys.executable, "-m", "flows.cli", "ingest", "table", str(table), "--platform", "bulk",
            "--map", "id=id", "--map", "author=user", "--map", "text=text", "--batch-records", str(BATCH)]


def _started(command: list[str], home: Path, batches: int = 4) -> subprocess.Popen:
    """``command`` (an ingest) running in its own session, once ``batches`` raw batches have landed."""
    env = {**os.environ, "POSTATLAS_HOME": str(home)}
    process = subprocess.Popen(command, env=env, cwd=REPO, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if len(list((home / "raw").rglob("batch-*.parquet"))) >= batches:  # several batches in: stop it mid-stream
            break
        time.sleep(0.02)
    assert process.poll() is None, f"ingest ended before it could be stopped: {process.stderr.read().decode()[-2000:]}"
    return process


def test_sigkill_mid_ingest_leaves_whole_batches_and_rerun_completes(home: Path, tmp_path: Path) -> None:
    table = _table(tmp_path / "posts.csv")
    process = _started(_ingest_command(table), home)
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(0.5)  # its parsing workers die with it (PR_SET_PDEATHSIG); give the kernel a moment
    survivors = subprocess.run(["pgrep", "-f", str(table)], capture_output=True, text=True).stdout.split()
    assert survivors == [], f"worker processes outlived the killed ingest: {survivors}"
    os.killpg(process.pid, signal.SIGKILL)  # the killed CLI's ephemeral Prefect server is left: stop it too

    posts, batches = query(home, "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM raw_batches)")[0]
    assert 0 < posts < ROWS
    assert posts == batches * BATCH  # only whole batches are visible
    orphans = query(home, "SELECT count(*) FROM posts WHERE raw_batch_id NOT IN (SELECT batch_id FROM raw_batches)")
    assert orphans == [(0,)]

    env = {**os.environ, "POSTATLAS_HOME": str(home)}
    rerun = subprocess.run(_ingest_command(table), env=env, cwd=REPO, capture_output=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    assert query(home, "SELECT count(*), count(DISTINCT post_id) FROM posts") == [(ROWS, ROWS)]
    statuses = dict(query(home, "SELECT status, count(*) FROM runs GROUP BY 1"))
    assert statuses == {"crashed": 1, "completed": 1}
    last = query(home, "SELECT written, duplicates FROM runs WHERE status = 'completed'")[0]
    assert last == (ROWS - posts, posts)


def _start_and_kill(command: list[str], home: Path, batches: int = 4) -> None:
    """Start ``command`` (an ingest), SIGKILL it once ``batches`` raw batches landed."""
    process = _started(command, home, batches)
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)  # its ephemeral Prefect server


def test_killed_run_counts_the_posts_it_committed(home: Path, tmp_path: Path) -> None:
    table = _table(tmp_path / "posts.csv")
    _start_and_kill(_ingest_command(table), home)
    [(run_id, status, read, written, duplicates, quarantined)] = query(
        home, "SELECT run_id, status, read, written, duplicates, quarantined FROM runs")
    assert status == "running"  # nobody closed it yet
    [(landed,)] = query(home, "SELECT count(*) FROM posts WHERE run_id = ?", [run_id])
    assert 0 < landed < ROWS
    assert (read, written, duplicates, quarantined) == (landed, landed, 0, 0)

    # the next writing run marks it crashed and keeps its counts
    env = {**os.environ, "POSTATLAS_HOME": str(home)}
    repo = Path(__file__).resolve().parents[2]
    small = tmp_path / "one.csv"
    small.write_text("id,user,text\nx1,someone,one more post\n")
    command = _ingest_command(small)
    rerun = subprocess.run(command, env=env, cwd=repo, capture_output=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    crashed = query(home, "SELECT status, read, written, duplicates, quarantined, message FROM runs "
                          "WHERE run_id = ?", [run_id])[0]
    assert crashed[:5] == ("crashed", landed, landed, 0, 0)
    assert "committed batches" in crashed[5]
    assert counts_add_up(home) == []


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_next_run_sweeps_leftovers_of_dead_processes_only(home: Path, tmp_path: Path) -> None:
    import socket

    dead = _dead_pid()
    alive = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        day = home / "raw" / "platform=bulk" / "date=2026-01-01"
        leftovers = [
            day / f".batch-0a1b.parquet.{dead}.tmp",
            home / "media" / "ab" / f".ab12.jpg.{dead}.tmp",
            home / "embeddings" / "m1" / f".part-9f.{dead}.partial",
            home / "models" / "m1" / f"checkpoint.pt.partial-{dead}",
            home / "datasets" / "snap" / f"text.partial-{dead}.npy",
            home / "reports" / f".figure.png.{dead}.tmp",
            home / f".download.{dead}.x7y.jpg",
            home / f"warehouse.duckdb.waiting.{dead}.140001",
            home / f"warehouse.writer.{dead}",
        ]
        staging = home / "demo-data" / f".twitter.{dead}.tmp"  # a half-written demo folder
        live = [day / f".batch-77ff.parquet.{alive.pid}.tmp", home / f"warehouse.duckdb.waiting.{alive.pid}.1"]
        for path in [*leftovers, *live, staging / "sub" / "page.jsonl"]:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"half")
        (home / "warehouse.writer").write_text(f"run r-killed, pid {dead} on {socket.gethostname()}")
        retired = home / "models" / "words" / f".space.{dead}.old"  # killed mid-replace: the old one comes back
        (retired / "vectors.kv").parent.mkdir(parents=True)
        (retired / "vectors.kv").write_bytes(b"old vectors")
        kept = home / "reports" / "figure.png"
        kept.write_bytes(b"a finished file")

        small = tmp_path / "one.csv"
        small.write_text("id,user,text\nx1,someone,one post\n")
        env = {**os.environ, "POSTATLAS_HOME": str(home)}
        repo = Path(__file__).resolve().parents[2]
        run = subprocess.run(_ingest_command(small), env=env, cwd=repo, capture_output=True, timeout=600)
        assert run.returncode == 0, run.stderr.decode()[-2000:]

        assert [path for path in leftovers if path.exists()] == []
        assert not staging.exists() and not (home / "warehouse.writer").exists()
        assert all(path.exists() for path in live)  # another live process's files are never touched
        assert (home / "models" / "words" / "space" / "vectors.kv").read_bytes() == b"old vectors"
        assert not retired.exists() and kept.exists()
    finally:
        alive.kill()
        alive.wait()


def test_interrupted_run_is_failed_with_the_posts_it_committed(home: Path, tmp_path: Path) -> None:
    table = _table(tmp_path / "posts.csv")
    process = _started(_ingest_command(table), home)
    process.send_signal(signal.SIGINT)  # Ctrl-C
    try:
        process.wait(timeout=120)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its ephemeral Prefect server, if it outlived it
    [(run_id, status, read, written, duplicates, message)] = query(
        home, "SELECT run_id, status, read, written, duplicates, message FROM runs")
    [(landed,)] = query(home, "SELECT count(*) FROM posts WHERE run_id = ?", [run_id])
    assert 0 < landed < ROWS
    assert (status, read, written, duplicates) == ("failed", landed, landed, 0), message
    assert "interrupt" in message.lower()  # KeyboardInterrupt, or DuckDB's "Query interrupted" mid-query
