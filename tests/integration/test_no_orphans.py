"""A CLI killed with SIGKILL leaves nothing behind: not the ephemeral Prefect server, not curate's detector workers.

Both are children the kernel kills with the CLI (PR_SET_PDEATHSIG): the server is started by the CLI in its main
thread (flows/cli/common.py), the fork pool's workers by their initializer (tasks/processes.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
WORDS = ("city", "night", "river", "market", "music", "light", "street", "rain", "coffee", "train", "bridge",
         "harbour", "garden", "festival")
ROWS = 12_000  # over PARALLEL_MIN_TEXTS distinct texts: the language rule detects them on a fork pool


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` now (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return "?"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_sigkill_of_curate_leaves_no_server_and_no_pool_worker(home: Path, tmp_path: Path) -> None:
    table = tmp_path / "posts.csv"
    table.write_text("id,user,text\n" + "".join(
        f"{i},user{i % 500},{' '.join(WORDS[(i * k) % len(WORDS)] for k in range(1, 9))} number {i}\n"
        for i in range(ROWS)))
    env = {**os.environ, "POSTATLAS_HOME": str(home), "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)  # the CLI's own ephemeral server
    ingest = subprocess.run([sys.executable, "-m", "flows.cli", "ingest", "table", str(table), "--platform", "bulk",
                             "--map", "id=id", "--map", "author=user", "--map", "text=text"],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert ingest.returncode == 0, ingest.stderr[-3000:]

    # langdetect re-detects every text (the cache holds the fast detector's answers): a few seconds on the pool
    process = subprocess.Popen([sys.executable, "-m", "flows.cli", "curate", "--detector", "langdetect"], env=env,
                               cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    children: list[int] = []
    while time.monotonic() < deadline and process.poll() is None:
        children = _descendants(process.pid)
        if len(children) >= 3:  # the server and two detector workers
            break
        time.sleep(0.05)
    assert process.poll() is None, f"curate ended before it could be killed: {process.stderr.read()[-2000:]}"
    started = {pid: _cmdline(pid) for pid in children}
    assert any("uvicorn" in line for line in started.values()), started
    assert sum("flows.cli curate" in line for line in started.values()) >= 2, started

    process.kill()
    process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(pid) for pid in started):
        time.sleep(0.1)
    survivors = {pid: line for pid, line in started.items() if _running(pid)}
    for pid in survivors:  # clean up before failing
        os.kill(pid, 9)
    assert survivors == {}, f"processes outlived the killed CLI: {survivors}"
