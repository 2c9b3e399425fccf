"""A run killed with SIGKILL mid-ingest leaves whole batches only; running it again completes without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import query

pytestmark = pytest.mark.integration
ROWS, BATCH = 60_000, 2_000


def _table(path: Path) -> Path:
    lines = ["id,user,text"] + [f"{i},user{i % 500},post number {i} about the city at night" for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _ingest_command(table: Path) -> list[str]:
    return [sys.executable, "-m", "flows.cli", "ingest", "table", str(table), "--platform", "bulk",
            "--map", "id=id", "--map", "author=user", "--map", "text=text", "--batch-records", str(BATCH)]


def test_sigkill_mid_ingest_leaves_whole_batches_and_rerun_completes(home: Path, tmp_path: Path) -> None:
    table = _table(tmp_path / "posts.csv")
    env = {**os.environ, "POSTATLAS_HOME": str(home)}
    repo = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(_ingest_command(table), env=env, cwd=repo, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    raw = home / "raw"
    while time.monotonic() < deadline and process.poll() is None:
        if len(list(raw.rglob("batch-*.parquet"))) >= 4:  # several batches in: kill it mid-stream
            break
        time.sleep(0.02)
    assert process.poll() is None, f"ingest ended before it could be killed: {process.stderr.read().decode()[-2000:]}"
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

    rerun = subprocess.run(_ingest_command(table), env=env, cwd=repo, capture_output=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    assert query(home, "SELECT count(*), count(DISTINCT post_id) FROM posts") == [(ROWS, ROWS)]
    statuses = dict(query(home, "SELECT status, count(*) FROM runs GROUP BY 1"))
    assert statuses == {"crashed": 1, "completed": 1}
    last = query(home, "SELECT written, duplicates FROM runs WHERE status = 'completed'")[0]
    assert last == (ROWS - posts, posts)
