"""The one-off load of a large dump against the machine's floor (issue 16).

For each size: `postatlas ingest twitter-v2` + `postatlas curate --detector fast` of real-text X API v2 pages on
a fresh home (the real command lines), beside the floor measured in the same run on the same pages: DuckDB
reading the pages into a table of posts, plus the same fastText model (2 processes, as curate uses) labelling
every text, and nothing else. ``--prefect`` says where the flow runs report: ``server``, a Prefect server already
running (as deployments and nightly schedules have; started once by the benchmark), and ``ephemeral``, the
temporary server each command starts when PREFECT_API_URL is unset (its startup included). Peak memory is the
largest single process's resident set (VmRSS of every process of the command's tree, sampled every 200 ms).
Median of ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tasks.filters.language import FastDetector, detect_parallel, detection_text  # noqa: E402
from tests.bench.corpus import SHARED_DATA, write_v2_pages  # noqa: E402
from tests.bench.run_benchmarks import POSTATLAS, bench_env, prefect_server, proc_kib, tree_pids  # noqa: E402


def _largest_rss(root: int) -> int:
    """The largest VmRSS (bytes) among ``root`` and its descendants."""
    return max((proc_kib(pid, "status", "VmRSS:") for pid in tree_pids(root)), default=0)


def timed_largest(command: list[str], env: dict) -> tuple[float, int]:
    """Wall seconds and the largest process's peak RSS of one command (which must succeed)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _largest_rss(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    done.set()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()[-3000:]}")
    return time.perf_counter() - start, peak[0]


def floor(pages: Path) -> float:
    """Seconds for DuckDB to read the pages into a table of posts plus fastText labelling every text."""
    start = time.perf_counter()
    con = duckdb.connect()
    pattern = str(pages).replace("'", "''")
    con.execute(f"CREATE TABLE posts AS SELECT unnest(data, recursive := true) FROM read_json('{pattern}', "
                "format = 'newline_delimited', maximum_object_size = 100000000)")
    texts = detection_text(con.sql("SELECT text FROM posts").to_arrow_table()["text"])
    detect_parallel(FastDetector(), texts, 2)
    con.close()
    return time.perf_counter() - start


def load(pages: Path, env: dict) -> dict:
    """Ingest + curate --detector fast on a fresh home."""
    home = Path(tempfile.mkdtemp(prefix="postatlas-bench-"))
    run_env = {**env, "POSTATLAS_HOME": str(home)}
    try:
        ingest_s, ingest_rss = timed_largest([*POSTATLAS, "ingest", "twitter-v2", str(pages)], run_env)
        curate_s, curate_rss = timed_largest([*POSTATLAS, "curate", "--detector", "fast"], run_env)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {"ingest_s": ingest_s, "curate_s": curate_s, "total_s": ingest_s + curate_s,
            "rss": max(ingest_rss, curate_rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prefect", default="server,ephemeral", help="where the flow runs report: server (one "
                        "already running), ephemeral (each command starts its own), or both")
    args = parser.parse_args()
    if not SHARED_DATA.is_dir():
        raise SystemExit(f"the benchmark reads real texts from {SHARED_DATA}; clone with ../shared beside it")
    modes = args.prefect.split(",")
    if not set(modes) <= {"server", "ephemeral"}:
        raise SystemExit(f"--prefect takes server and/or ephemeral, got {args.prefect!r}")
    env = bench_env()
    work = Path(tempfile.mkdtemp(prefix="postatlas-bench-oneoff-"))
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows = []
    try:
        with prefect_server(env) if "server" in modes else nullcontext() as api_url:
            envs = {"server": {**env, "PREFECT_API_URL": api_url}, "ephemeral": env}
            for size in (int(n) for n in args.sizes.split(",")):
                pages = write_v2_pages(work / f"pages-{size}.jsonl", size)
                floors, runs = [], {mode: [] for mode in modes}
                for _ in range(args.repeats):  # interleaved, so all see the same machine
                    floors.append(floor(pages))
                    for mode in modes:
                        runs[mode].append(load(pages, envs[mode]))
                for mode in modes:
                    row = {"size": size, "prefect": mode, "floor_s": statistics.median(floors),
                           **{key: statistics.median(run[key] for run in runs[mode]) for key in runs[mode][0]}}
                    row["rss"] = max(run["rss"] for run in runs[mode])
                    rows.append(row)
                    print(row, flush=True)
                pages.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| posts | Prefect | floor s | ingest s | curate s | ingest + curate s | x floor | posts/s | "
          "largest process peak MiB |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']:,} | {r['prefect']} | {r['floor_s']:.1f} | {r['ingest_s']:.1f} | {r['curate_s']:.1f} | "
              f"{r['total_s']:.1f} | {r['total_s'] / r['floor_s']:.2f} | {r['size'] / r['total_s']:,.0f} | "
              f"{r['rss'] / 2**20:,.0f} |")
    for mode in modes:
        mine = [r for r in rows if r["prefect"] == mode]
        if len(mine) > 1:
            print(f"\npeak memory ({mode}) {mine[-1]['size']:,} / {mine[0]['size']:,}: "
                  f"{mine[-1]['rss'] / mine[0]['rss']:.2f}x")


if __name__ == "__main__":
    main()
