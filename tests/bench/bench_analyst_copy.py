"""`make bench`: what publishing the analyst copy costs (storage/analyst_copy.py) as the warehouse grows.

For each size: a fresh home gets that many real-text X API v2 posts (`postatlas ingest twitter-v2` then
`postatlas curate --detector fast`); then ``--repeats`` publications, each the writer's whole step (stamp, checkpoint,
copy, fsync, rename), timed; the median is printed with the file size. Beyond the sizes built, ``--extrapolate``
copies a file of the size the largest warehouse would have at that many posts (bytes per post measured) with the
same copy + fsync + rename, so the 10M figure is a measured copy of a 10M-sized file, not a guess.
While one more publication loop runs, three reader processes reopen the copy and count posts in a loop: their
failures (expected 0) and reads are printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from storage import analyst_copy, warehouse  # noqa: E402
from tests.bench.corpus import write_v2_pages  # noqa: E402

POSTATLAS = [sys.executable, "-m", "flows.cli"]
READER = """
    import json, sys, duckdb
    from pathlib import Path
    copy, stop = sys.argv[1], Path(sys.argv[2])
    reads, failures = 0, 0
    while not stop.exists():
        try:
            with duckdb.connect(copy, read_only=True) as con:
                con.execute("SELECT count(*) FROM posts").fetchall()
            reads += 1
        except Exception:
            failures += 1
    print(json.dumps({"reads": reads, "failures": failures}))
"""


def build(home: Path, posts: int) -> None:
    """A home with ``posts`` ingested and curated posts."""
    env = {**os.environ, "POSTATLAS_HOME": str(home), "PREFECT_LOGGING_LEVEL": "ERROR"}
    pages = home.parent / f"pages-{posts}.jsonl"
    write_v2_pages(pages, posts)
    for command in (["ingest", "twitter-v2", str(pages)], ["curate", "--detector", "fast"]):
        subprocess.run([*POSTATLAS, *command], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    pages.unlink()


def publish_times(live: Path, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` publications by a writer holding the live file."""
    times = []
    for attempt in range(repeats):
        con = warehouse.open_writer(live, f"bench-{attempt}")
        try:
            times.append(analyst_copy.publish(con, live, f"bench-{attempt}").seconds)
        finally:
            warehouse.close_writer(live, con)
    return times


def readers_during(live: Path, publications: int) -> list[dict]:
    """Three processes reopening the copy in a loop while the writer publishes ``publications`` times."""
    stop = live.with_name("stop-readers")
    stop.unlink(missing_ok=True)
    copy = analyst_copy.published_path(live)
    readers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(READER), str(copy), str(stop)],
                                stdout=subprocess.PIPE, text=True, cwd=REPO) for _ in range(3)]
    time.sleep(1.0)
    publish_times(live, publications)
    stop.touch()
    return [json.loads(reader.communicate()[0]) for reader in readers]


def copy_time(source_size: int, folder: Path, repeats: int) -> float:
    """Median seconds to copy + fsync + rename a file of ``source_size`` bytes (the publication's I/O)."""
    source = folder / "sized.duckdb"
    with open(source, "wb") as handle:
        chunk = os.urandom(16 << 20)
        for _ in range(source_size // len(chunk) + 1):
            handle.write(chunk)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        temporary = folder / "sized.copy.tmp"
        analyst_copy._copy(source, temporary)
        os.replace(temporary, folder / "sized.copy")
        times.append(time.perf_counter() - started)
    source.unlink()
    (folder / "sized.copy").unlink()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000", help="posts per warehouse built")
    parser.add_argument("--extrapolate", default="10000000", help="posts for the sized-file copy (0: none)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    rows, per_post = [], 0.0
    with tempfile.TemporaryDirectory(prefix="bench-copy-", dir=os.environ.get("BENCH_TMP")) as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            home = Path(scratch) / f"home-{size}"
            build(home, size)
            live = home / "warehouse.duckdb"
            times = publish_times(live, args.repeats)
            readers = readers_during(live, 4 * args.repeats)
            per_post = live.stat().st_size / size
            rows.append((f"{size:,}", live.stat().st_size / 2**20, statistics.median(times), min(times), max(times),
                         sum(r["reads"] for r in readers), sum(r["failures"] for r in readers)))
            for leftover in home.parent.glob(f"home-{size}"):
                subprocess.run(["rm", "-rf", str(leftover)], check=True)
        for size in (int(s) for s in args.extrapolate.split(",") if int(s)):
            bytes_ = int(per_post * size)
            rows.append((f"{size:,} (sized file)", bytes_ / 2**20, copy_time(bytes_, Path(scratch), 3), None, None,
                         None, None))
    print("\n| posts | file MiB | publish s (median) | min | max | reader opens during publications | reader failures |")
    print("|---|---|---|---|---|---|---|")
    for name, mib, median, low, high, reads, failures in rows:
        cells = [name, f"{mib:,.0f}", f"{median:.2f}", *(("-" if v is None else f"{v:.2f}") for v in (low, high)),
                 "-" if reads is None else f"{reads:,}", "-" if failures is None else str(failures)]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
