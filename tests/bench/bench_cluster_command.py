"""End-to-end `postatlas cluster` on a synthetic warehouse: read, cluster, summarise, write, report.

Run: ``.venv/bin/python tests/bench/bench_cluster_command.py [--posts 1000000] [--repeats 3] [--work DIR]``.

Builds a POSTATLAS_HOME whose `posts` hold N synthetic posts (texts from a small vocabulary per topic, hashtags,
languages, 70% with coordinates around 20 city-like spots) and whose embeddings are 64-d float32 vectors of a
50-component mixture (the autoencoder's code size), written by `storage.embeddings` as the real `embed` does.
Then times the real command line (a fresh process each run) and reports wall time and the process's peak RSS.
With ``--assign NEW`` it fits once, adds NEW more posts with their embeddings, and times `cluster --assign` of them
(issue 16: assigning reads the new posts, not the run's).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from storage import embeddings, warehouse  # noqa: E402
from storage.home import Home  # noqa: E402

TOPICS, SPOTS, DIMENSIONS, CHUNK = 50, 20, 64, 100_000
WORDS = np.array([f"word{i}" for i in range(TOPICS * 6)])


def build_home(home: Home, posts: int, first: int = 0, seed: int = 13) -> None:
    """Add posts ``first`` to ``first + posts`` (synthetic) to the warehouse, with one model's embeddings of them;
    the topics, spots and centres come from ``seed`` alone, so later posts come from the same mixture."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(TOPICS, DIMENSIONS)).astype(np.float32) * 3
    spots = np.column_stack([rng.uniform(-50, 60, SPOTS), rng.uniform(-120, 140, SPOTS)])
    rng = np.random.default_rng([seed, first])
    with warehouse.writer(home.warehouse) as con:
        for begin in range(first, first + posts, CHUNK):
            rows = np.arange(begin, min(begin + CHUNK, first + posts))
            topic = rng.integers(0, TOPICS, len(rows))
            words = WORDS[topic[:, None] * 6 + rng.integers(0, 6, (len(rows), 3))]
            texts = [" ".join(w) for w in words]
            spot = spots[(topic + rng.integers(0, 2, len(rows))) % SPOTS]
            located = rng.random(len(rows)) < 0.7
            lat = np.where(located, spot[:, 0] + rng.normal(0, 0.5, len(rows)), np.nan)
            lon = np.where(located, spot[:, 1] + rng.normal(0, 0.5, len(rows)), np.nan)
            table = pa.table({
                "post_id": [f"bench:{i}" for i in rows], "text": texts,
                "hashtags": [[f"tag{t}"] for t in topic],
                "lang": np.array(["en", "es", "ca", "fr"])[rows % 4].tolist(),
                "lat": pa.array(lat, mask=~located), "lon": pa.array(lon, mask=~located),
            })
            con.register("bench_posts", table)
            con.execute(
                "INSERT INTO posts (post_id, platform, native_id, text, hashtags, lang, lat, lon, created_at, "
                "run_id, ingested_at) SELECT post_id, 'bench', post_id, text, hashtags, lang, lat, lon, "
                "now(), 'bench', now() FROM bench_posts")
            con.unregister("bench_posts")
            vectors = centres[topic] + rng.normal(size=(len(rows), DIMENSIONS)).astype(np.float32)
            embeddings.write_part(home, "bench-model", f"bench-{first}", [f"bench:{i}" for i in rows], vectors)
        embeddings.refresh_view(con, home)


def run_once(home: Path, args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of one `postatlas ...` process (its own, from wait4)."""
    env = {**os.environ, "POSTATLAS_HOME": str(home), "PREFECT_LOGGING_LEVEL": "WARNING"}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "flows.cli", *args], env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise subprocess.CalledProcessError(os.waitstatus_to_exitcode(status), args)
    return seconds, usage.ru_maxrss / 1e6


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--assign", type=int, default=0, metavar="NEW",
                        help="instead: fit once, add NEW posts, and time `cluster --assign` of them on a fresh copy")
    parser.add_argument("--grown-to", type=int, default=0, metavar="N",
                        help="with --assign: the run first grows to N posts by (recorded) assignments")
    args = parser.parse_args()
    home = (args.work or Path(tempfile.mkdtemp(prefix="postatlas-bench-"))) / f"home-{args.posts}"
    if not (home / "warehouse.duckdb").exists():
        started = time.perf_counter()
        build_home(Home.at(home), args.posts)
        print(f"built {args.posts:,} posts in {time.perf_counter() - started:.0f} s", flush=True)
    if args.assign:
        time_assignment(home, args.posts, args.assign, args.repeats, args.grown_to)
        return
    for label, command in (("cluster --method default (incl. report)", ["cluster", "--method", "default"]),
                           ("cluster --method default --no-report", ["cluster", "--method", "default",
                                                                      "--no-report"])):
        runs = [run_once(home, command) for _ in range(args.repeats)]
        seconds = statistics.median(s for s, _ in runs)
        print(f"| {label} | {args.posts:,} | {seconds:.1f} | {max(g for _, g in runs):.2f} | "
              f"{', '.join(f'{s:.1f}' for s, _ in runs)} |", flush=True)


def time_assignment(home: Path, posts: int, new: int, repeats: int, grown_to: int = 0) -> None:
    """Fit the default clustering of ``home``'s posts once, add ``new`` posts beside a copy, then time assigning
    them (`cluster --assign --no-report`) on a fresh copy each repeat. ``grown_to``: first add posts up to that
    many and record them as assigned to the run, as nightly assignments would have (a run grown between refits)."""
    fitted = home.with_name(f"{home.name}-fitted-{new}" + (f"-grown-{grown_to}" if grown_to else ""))
    if not fitted.exists():
        if not (home / "clusters").is_dir():
            run_once(home, ["cluster", "--method", "default", "--no-report"])
        shutil.copytree(home, fitted)
        if grown_to:
            build_home(Home.at(fitted), grown_to - posts, first=posts)
            with warehouse.writer(Home.at(fitted).warehouse) as con:
                [(run, clusters)] = con.execute("SELECT run, n_clusters FROM cluster_runs").fetchall()
                con.execute("INSERT INTO cluster_assignments SELECT ?, post_id, hash(post_id) % ?, 0, 0, 'assign', "
                            "now() FROM posts WHERE post_id NOT IN (SELECT post_id FROM cluster_assignments)",
                            [run, clusters])
        build_home(Home.at(fitted), new, first=max(posts, grown_to))
    runs = []
    for _ in range(repeats):
        trial = home.with_name(f"{home.name}-trial")
        shutil.rmtree(trial, ignore_errors=True)
        shutil.copytree(fitted, trial)
        runs.append(run_once(trial, ["cluster", "--assign", "--no-report"]))
        shutil.rmtree(trial)
    seconds = statistics.median(s for s, _ in runs)
    print(f"| cluster --assign --no-report | {max(posts, grown_to):,} in the run ({posts:,} fitted) + {new:,} new | "
          f"{seconds:.1f} | {max(g for _, g in runs):.2f} | {', '.join(f'{s:.1f}' for s, _ in runs)} |", flush=True)


if __name__ == "__main__":
    main()
