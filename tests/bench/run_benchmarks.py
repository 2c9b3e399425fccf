"""`make bench`: ingest + curate throughput and memory at 100k and 1M real-text posts, analyst queries, and
the language filter's accuracy. Prints markdown tables for docs/BENCHMARKS.md.

Every figure is the median of ``--repeats`` runs of the real command line (`postatlas ingest twitter-v2` then
`postatlas curate`, each a Prefect flow run with the ephemeral API, startup included) on a fresh home.
Peak memory is the largest summed PSS of the command's process tree (it forks parsing workers, and
Prefect's ephemeral API server runs beside it), sampled every 200 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.bench.corpus import SHARED_DATA, write_v2_pages  # noqa: E402

POSTATLAS = [sys.executable, "-m", "flows.cli"]
QUERIES = {
    "curated posts per day and platform": (
        "SELECT date_trunc('day', created_at) AS day, platform, count(*) FROM curated_posts GROUP BY ALL ORDER BY 1"
    ),
    "top 20 hashtags of curated posts": (
        "SELECT tag, count(*) AS n FROM (SELECT unnest(hashtags) AS tag FROM curated_posts) GROUP BY 1 "
        "ORDER BY n DESC LIMIT 20"
    ),
    "why posts were dropped, per rule": (
        "SELECT rule, count(*) AS dropped, any_value(detail) AS example FROM filter_decisions WHERE NOT kept "
        "GROUP BY 1 ORDER BY 2 DESC"
    ),
    "language mix of geotagged posts in a bounding box": (
        "SELECT lang, count(*) FROM posts WHERE lat BETWEEN 41.3 AND 41.5 AND lon BETWEEN 2.1 AND 2.3 "
        "GROUP BY 1 ORDER BY 2 DESC"
    ),
}


def tree_pids(root: int) -> list[int]:
    """``root`` and its descendants' process ids, from /proc (those that exited meanwhile are left out)."""
    pids, stack = [], [root]
    while stack:
        pid = stack.pop()
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
        pids.append(pid)
    return pids


def proc_kib(pid: int, file: str, field: str) -> int:
    """A ``field:`` value (kB) of /proc/<pid>/<file>, in bytes; 0 when the process has exited."""
    try:
        text = Path(f"/proc/{pid}/{file}").read_text()
    except OSError:
        return 0
    return 1024 * next((int(line.split()[1]) for line in text.splitlines() if line.startswith(field)), 0)


def _tree_pss(root: int) -> int:
    """Summed proportional set size (bytes) of ``root`` and its descendants, from /proc.

    PSS splits pages shared between forked workers among them, so the sum is the memory really used.
    """
    return sum(proc_kib(pid, "smaps_rollup", "Pss:") for pid in tree_pids(root))


def bench_env() -> dict:
    """The environment the benchmarks run commands in: no telemetry, a Prefect home of their own."""
    return {**os.environ, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_HOME": tempfile.mkdtemp(prefix="postatlas-bench-prefect-")}


@contextmanager
def prefect_server(env: dict, start_seconds: float = 180) -> Iterator[str]:
    """A `prefect server start` on a free 127.0.0.1 port (as deployments run one), its API URL; stopped after."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api_url = f"http://127.0.0.1:{port}/api"
    process = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                                str(port)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            try:
                with urllib.request.urlopen(f"{api_url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the Prefect server for the benchmark did not start")
            time.sleep(0.5)
        yield api_url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def run_sampled(command: list[str], env: dict, interval: float = 0.2) -> tuple[float, list[int]]:
    """Run ``command`` (which must succeed); its wall seconds and its process tree's PSS every ``interval``."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(_tree_pss(process.pid))
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    done.set()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()[-3000:]}")
    return time.perf_counter() - start, samples


def timed(command: list[str], env: dict) -> tuple[float, int]:
    """Wall seconds and peak tree PSS of one command (which must succeed)."""
    seconds, samples = run_sampled(command, env)
    return seconds, max(samples, default=0)


def pipeline_run(pages: Path, detector: str, env: dict) -> dict:
    """Ingest then curate on a fresh home; seconds and peak memory of each."""
    home = Path(tempfile.mkdtemp(prefix="postatlas-bench-"))
    run_env = {**env, "POSTATLAS_HOME": str(home)}
    try:
        ingest_s, ingest_rss = timed([*POSTATLAS, "ingest", "twitter-v2", str(pages)], run_env)
        curate_s, curate_rss = timed([*POSTATLAS, "curate", "--detector", detector], run_env)
        queries = query_times(home / "warehouse.duckdb") if detector == "fast" else {}
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {"ingest_s": ingest_s, "curate_s": curate_s, "ingest_rss": ingest_rss, "curate_rss": curate_rss,
            "queries": queries}


def query_times(warehouse: Path, repeats: int = 5) -> dict[str, float]:
    """Median seconds of each analyst query on a read-only connection (results fully fetched)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        times = {}
        for name, sql in QUERIES.items():
            samples = []
            for _ in range(repeats):
                start = time.perf_counter()
                con.execute(sql).fetchall()
                samples.append(time.perf_counter() - start)
            times[name] = statistics.median(samples)
        return times
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detectors", default="fast,stack", help="curate --detector values to run at --sizes")
    parser.add_argument("--langdetect-size", type=int, default=100_000,
                        help="langdetect runs at ~560 texts/s a core: benchmarked at this size only (0: skip)")
    args = parser.parse_args()
    if not SHARED_DATA.is_dir():
        raise SystemExit(f"the benchmarks read real texts from {SHARED_DATA}; clone with ../shared beside it")
    env = bench_env()
    work = Path(tempfile.mkdtemp(prefix="postatlas-bench-data-"))
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows, query_rows = [], {}
    plan = [(int(n), detector) for detector in args.detectors.split(",") for n in args.sizes.split(",")]
    if args.langdetect_size:
        plan.append((args.langdetect_size, "langdetect"))
    for size, detector in plan:
        pages = work / f"pages-{size}.jsonl"
        if not pages.exists():
            write_v2_pages(pages, size)
        runs = [pipeline_run(pages, detector, env) for _ in range(1 if detector == "langdetect" else args.repeats)]
        ingest = statistics.median(r["ingest_s"] for r in runs)
        curate = statistics.median(r["curate_s"] for r in runs)
        total = statistics.median(r["ingest_s"] + r["curate_s"] for r in runs)
        rows.append((size, detector, len(runs), ingest, curate, total, size / total,
                     max(r["ingest_rss"] for r in runs) / 2**20, max(r["curate_rss"] for r in runs) / 2**20))
        if runs[0]["queries"]:
            query_rows[size] = {name: statistics.median(r["queries"][name] for r in runs) for name in QUERIES}
        print(rows[-1], flush=True)
    shutil.rmtree(work, ignore_errors=True)
    print("\n| posts | detector | runs | ingest s | curate s | total s | posts/s end to end | ingest peak MiB (PSS) |"
          " curate peak MiB (PSS) |\n|---|---|---|---|---|---|---|---|---|")
    for size, detector, n, ingest, curate, total, rate, irss, crss in rows:
        print(f"| {size:,} | {detector} | {n} | {ingest:.1f} | {curate:.1f} | {total:.1f} | {rate:,.0f} | "
              f"{irss:,.0f} | {crss:,.0f} |")
    for size, times in query_rows.items():
        print(f"\nAnalyst queries over {size:,} posts (median of 5, read-only connection):\n\n| query | seconds |\n|---|---|")
        for name, seconds in times.items():
            print(f"| {name} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
