"""Nightly at scale (issue 16): the cost of a night (ingest + curate of 100k new posts) on warehouses of growing
size.

Builds the warehouse with the real command line, one shard of 1M real-text posts at a time (`postatlas ingest
twitter-v2`, then `postatlas curate`: the first decides everything, the next ones are incremental), each shard by
its own population of authors, and copies it aside at each size of ``--sizes``. Then, on a fresh copy of each,
runs a night: `ingest` of 100k new posts, half by authors already in the warehouse (drawn uniformly) and half by
new ones, then the default incremental `curate`. Reports wall seconds and peak PSS of each stage (median of
``--repeats`` nights), the posts the night's curate decided, and the warehouse's bytes per post.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from storage import schema, warehouse  # noqa: E402
from tests.bench.corpus import SHARED_DATA, write_v2_pages  # noqa: E402
from tests.bench.run_benchmarks import POSTATLAS, bench_env, timed  # noqa: E402


def build(sizes: list[int], shard: int, home: Path, work: Path, env: dict, detector: str,
          total: int = 0) -> dict[int, dict]:
    """Grow one warehouse (``home``, holding ``total`` posts) ``shard`` posts at a time; at each of ``sizes`` posts
    copy it to ``work/base-<size>``."""
    run_env = {**env, "POSTATLAS_HOME": str(home)}
    built: dict[int, dict] = {}
    while total < max(sizes):
        pages = write_v2_pages(work / "shard.jsonl", shard, seed=total, first_post=total, n_authors=shard // 4,
                               first_author=total // 4)
        ingest_s, _ = timed([*POSTATLAS, "ingest", "twitter-v2", str(pages)], run_env)
        curate_s, curate_pss = timed([*POSTATLAS, "curate", "--detector", detector], run_env)
        pages.unlink()
        total += shard
        print(f"built {total:,} posts: ingest {ingest_s:.1f} s, curate {curate_s:.1f} s, "
              f"{curate_pss / 2**20:,.0f} MiB", flush=True)
        if total in sizes:
            shutil.copytree(home, work / f"base-{total}")
            built[total] = {"bytes_per_post": (home / "warehouse.duckdb").stat().st_size / total,
                            "shard_ingest_s": ingest_s, "shard_curate_s": curate_s}
    return built


def grow_bases(bases: Path, sizes: list[int], shard: int, env: dict, detector: str) -> None:
    """Build in ``bases`` each base-<size> of ``sizes`` it lacks, growing the largest smaller base found there."""
    for size in sizes:
        if (bases / f"base-{size}").is_dir():
            continue
        start = max((n for n in (int(p.name.removeprefix("base-")) for p in bases.glob("base-*")) if n < size),
                    default=0)
        if (size - start) % shard:
            raise SystemExit(f"base-{size}: {size - start:,} posts to add is not a multiple of --shard")
        growing = bases / "growing"
        shutil.rmtree(growing, ignore_errors=True)
        if start:
            shutil.copytree(bases / f"base-{start}", growing)
        build([size], shard, growing, bases, env, detector, total=start)
        shutil.rmtree(growing, ignore_errors=True)


def night(base: Path, night_pages: Path, env: dict, detector: str, work: Path) -> dict:
    """Ingest and curate one night's posts on a fresh copy of ``base``."""
    home = work / "night"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(base, home)
    run_env = {**env, "POSTATLAS_HOME": str(home)}
    try:
        ingest_s, ingest_pss = timed([*POSTATLAS, "ingest", "twitter-v2", str(night_pages)], run_env)
        curate_s, curate_pss = timed([*POSTATLAS, "curate", "--detector", detector], run_env)
        con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        [(decided,)] = con.execute(
            "SELECT read FROM runs WHERE flow = 'curate' ORDER BY started_at DESC LIMIT 1").fetchall()
        con.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {"ingest_s": ingest_s, "ingest_pss": ingest_pss, "curate_s": curate_s, "curate_pss": curate_pss,
            "decided": decided}


def commit_seconds(base: Path, work: Path, batch: int = 20_000, repeats: int = 3) -> float:
    """Median seconds of committing one batch of ``batch`` new posts (the duplicate check against every post,
    the inserts, the change log, the ledger row) into a copy of ``base``: what ingest pays per batch."""
    home = work / "commit"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(base, home)
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        template = con.sql(f"SELECT * FROM posts USING SAMPLE {batch} ROWS").to_arrow_table()
        seconds = []
        for attempt in range(repeats):
            posts = template.set_column(template.schema.get_field_index("post_id"), "post_id",
                                        pa.array([f"bench:{attempt}:{i}" for i in range(template.num_rows)]))
            tables = {name: table.empty_table() for name, table in (
                ("users", schema.USERS), ("media", schema.MEDIA), ("mentions", schema.MENTIONS),
                ("labels", schema.LABELS), ("user_labels", schema.USER_LABELS), ("deletions", schema.DELETIONS),
                ("quarantine", schema.QUARANTINE))}
            start = time.perf_counter()
            warehouse.write_batch(con, {"batch_id": f"bench-{attempt}", "platform": "bench", "path": "none",
                                        "records": batch, "run_id": "bench"}, {"posts": posts, **tables})
            seconds.append(time.perf_counter() - start)
    finally:
        con.close()
        shutil.rmtree(home, ignore_errors=True)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000000,3000000,10000000")
    parser.add_argument("--shard", type=int, default=1_000_000, help="posts ingested and curated per build step")
    parser.add_argument("--night", type=int, default=100_000, help="new posts per night")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detector", default="stack", help="curate --detector (default: curate's default)")
    parser.add_argument("--bases", type=Path, help="reuse the warehouses an earlier run built (base-<size> folders "
                        "in this folder, kept) instead of building them")
    parser.add_argument("--extend", action="store_true", help="with --bases: build the sizes missing there from "
                        "its largest smaller base-<size>, and keep them there")
    args = parser.parse_args()
    if not SHARED_DATA.is_dir():
        raise SystemExit(f"the benchmark reads real texts from {SHARED_DATA}; clone with ../shared beside it")
    env = bench_env()
    work = Path(tempfile.mkdtemp(prefix="postatlas-bench-nightly-"))
    sizes = sorted(int(n) for n in args.sizes.split(","))
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows = []
    try:
        if args.bases and args.extend:
            grow_bases(args.bases, sizes, args.shard, env, args.detector)
        if args.bases:
            bases = args.bases
            for size in sizes:  # a schema upgrade is paid once, not by the first night timed on an older base
                with warehouse.writer(bases / f"base-{size}" / "warehouse.duckdb", publish=True):
                    pass
            built = {size: {"bytes_per_post": (bases / f"base-{size}" / "warehouse.duckdb").stat().st_size / size}
                     for size in sizes}
        else:
            if any(size % args.shard for size in sizes):
                raise SystemExit("--sizes must be multiples of --shard")
            bases = work
            built = build(sizes, args.shard, work / "growing", work, env, args.detector)
            shutil.rmtree(work / "growing", ignore_errors=True)
        for size in sizes:
            authors = size // 4
            night_pages = write_v2_pages(work / "night.jsonl", args.night, seed=size + 1, first_post=size,
                                         n_authors=args.night // 4, first_author=authors, returning=(0.5, authors))
            base = bases / f"base-{size}"
            nights = [night(base, night_pages, env, args.detector, work) for _ in range(args.repeats)]
            row = {"size": size, **built[size], **{k: statistics.median(n[k] for n in nights) for k in nights[0]},
                   "commit_s": commit_seconds(base, work)}
            rows.append(row)
            print(row, flush=True)
            if not args.bases:
                shutil.rmtree(base, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| posts before | night ingest s | night curate s | posts decided | ingest peak MiB | curate peak MiB | "
          "commit of 20k posts s | bytes/post |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']:,} | {r['ingest_s']:.1f} | {r['curate_s']:.1f} | {r['decided']:,.0f} | "
              f"{r['ingest_pss'] / 2**20:,.0f} | {r['curate_pss'] / 2**20:,.0f} | {r['commit_s']:.2f} | "
              f"{r['bytes_per_post']:,.0f} |")


if __name__ == "__main__":
    main()
