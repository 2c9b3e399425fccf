"""Collector overhead per post: `postatlas collect twitter` reading a 200k-tweet filtered stream from the
loopback fake of the X API (real tweet texts, unique ids), with the memory of the collect process sampled
through the run to show it stays flat.

Run: ``.venv/bin/python tests/bench/bench_collect.py [--posts 200000]``. The fake server runs in this process
and generates each stream line when it is sent; the collector is the real CLI in a subprocess (tweepy's
StreamingClient request, the run loop, landing, normalizing, committing), so the figure is the pipeline's own
cost per post with no network wait.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import duckdb
import orjson

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.bench.corpus import real_texts  # noqa: E402
from tests.bench.run_benchmarks import run_sampled  # noqa: E402
from tests.fakes.twitter_api import FakeTwitterAPI  # noqa: E402

TOKEN = "bench-token"


class GeneratedStream:
    """A sequence of stream lines made on demand: real texts, unique ids, an author and a hashtag each."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.texts = real_texts()

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> bytes:
        tweet_id = str(2 * 10**18 + index)
        author = str(index % 50_000)
        return orjson.dumps({
            "data": {"id": tweet_id, "text": f"{self.texts[index % len(self.texts)]} #s{index}", "author_id": author,
                     "created_at": "2026-11-01T10:00:00.000Z", "lang": "und", "edit_history_tweet_ids": [tweet_id]},
            "includes": {"users": [{"id": author, "username": f"user{author}", "name": f"User {author}"}]},
            "matching_rules": [{"id": "1", "tag": "bench"}],
        })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=200_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="postatlas-bench-collect-"))
    env = {**os.environ, "POSTATLAS_HOME": str(home), "POSTATLAS_TWITTER_BEARER_TOKEN": TOKEN,
           "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_HOME": tempfile.mkdtemp(prefix="postatlas-bench-prefect-")}
    with FakeTwitterAPI(TOKEN, [], GeneratedStream(args.posts)) as api:
        spec = home / "stream.yaml"
        spec.write_text(f"platform: twitter\nname: bench\nmode: stream\nrules: [{{value: news, tag: bench}}]\n"
                        f"endpoint: {api.url}\ndownload_images: false\nlimits: {{max_posts: {args.posts}}}\n")
        wall, samples = run_sampled(
            [sys.executable, "-m", "flows.cli", "collect", "twitter", "--spec", str(spec)], env, interval=0.5)
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    posts, pages, seconds = con.execute(
        "SELECT written, pages, epoch(finished_at) - epoch(started_at) FROM runs").fetchall()[0]
    con.close()
    quarter = max(len(samples) // 4, 1)
    early = statistics.median(samples[quarter:2 * quarter]) / 2**20
    late = statistics.median(samples[-quarter:]) / 2**20
    print(f"| stream posts | pages | wall s (startup incl.) | flow run s | posts/s (flow run) | PSS MiB, 2nd quarter |"
          f" PSS MiB, last quarter |\n|---|---|---|---|---|---|---|\n"
          f"| {posts:,} | {pages:,} | {wall:.1f} | {seconds:.1f} | {posts / seconds:,.0f} | {early:,.0f} | {late:,.0f} |")


if __name__ == "__main__":
    main()
