"""Paper 002's joint model: training throughput (posts/s) with cached image features and the paper's settings,
embedding throughput, exact retrieval latency over 100k and 1M stored part vectors, and the location part of a
night's embed (the means over the posts sharing the new posts' places).

    .venv/bin/python tests/bench/bench_joint.py [--train-posts 4096] [--search-posts 100000,1000000]

Inputs are synthetic with real shapes: a 20k-word vocabulary and 8-40 tokens per text, 1,280 image features
(EfficientNet-Lite0), 300-d hashtag vectors, 128-d node2vec users, 384-d location means, and the parts' shares of
the demo warehouse. The search reads the same Parquet files `postatlas retrieve` reads (storage/embeddings.py).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from models.joint import JointEmbedding, JointSettings, joint_loss
from models.training import fit
from storage import embeddings, features
from storage.home import Home
from tasks.learn.joint import EMBED_CHUNK, LocationMeans, embed_parts
from tasks.learn.joint_retrieval import _nearest

VOCABULARY = 20_000
DIMENSIONS = {"image": 1280, "hashtags": 300, "user": 128, "location": 384}
SHARES = (0.95, 0.73, 0.6, 0.5, 0.46)  # text, image, hashtags, user, location (the demo's, `train joint` summary)
RUNS = 3


def synthetic(posts: int, settings: JointSettings, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs of the model's shapes, with realistic text lengths and parts' shares."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 41, posts)
    tokens = rng.integers(2, VOCABULARY, (posts, settings.max_tokens))
    tokens[np.arange(settings.max_tokens)[None, :] >= lengths[:, None]] = 0
    arrays = {"tokens": tokens, "lengths": np.minimum(lengths, settings.max_tokens)}
    for part, size in DIMENSIONS.items():
        arrays[part] = rng.standard_normal((posts, size)).astype(np.float32)
    arrays["present"] = rng.random((posts, len(settings.parts))) < np.array(SHARES)
    return arrays


def training_throughput(posts: int, epochs: int = 2) -> list[float]:
    """Posts per second of the shared loop with the paper's settings (1024-d, GRU 1024, batch 128), per run."""
    settings = JointSettings()
    train_settings = settings.train.with_overrides({"epochs": epochs, "progress": False})
    arrays = synthetic(posts, settings)
    rates = []
    for run in range(RUNS):
        model = JointEmbedding(settings, VOCABULARY, DIMENSIONS, torch.randn(VOCABULARY, settings.word_dimension))
        started = time.perf_counter()
        fit(model, arrays, lambda m, b: joint_loss(settings, m(b["tokens"], b["lengths"], b), b["present"].T),
            lambda m: 0.0, train_settings.with_overrides({"seed": run}))
        rates.append(posts * epochs / (time.perf_counter() - started))
    return rates


def embedding_throughput(posts: int) -> list[float]:
    """Posts per second of embedding every part (the model's forward pass in batches of 512)."""
    settings = JointSettings()
    model = JointEmbedding(settings, VOCABULARY, DIMENSIONS).eval()
    arrays = synthetic(posts, settings, seed=1)
    rates = []
    for _ in range(RUNS):
        started = time.perf_counter()
        embed_parts(model, arrays, device="cpu")
        rates.append(posts / (time.perf_counter() - started))
    return rates


def search_latency(posts: int, dimension: int = 1024, chunk: int = 20_000) -> tuple[list[float], float]:
    """Seconds per exact top-10 query over ``posts`` stored image vectors, and the files' size in GB."""
    with tempfile.TemporaryDirectory(prefix="bench-joint-") as folder:
        home = Home.at(folder)
        rng = np.random.default_rng(2)
        for begin in range(0, posts, chunk):
            count = min(chunk, posts - begin)
            vectors = rng.standard_normal((count, dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            ids = [f"bench:{begin + i}" for i in range(count)]
            embeddings.write_part_vectors(home, "joint-bench", "bench", ids, ["image"] * count, vectors)
        size = sum(p.stat().st_size for p in Path(folder).rglob("*.parquet")) / 1e9
        query = rng.standard_normal(dimension).astype(np.float32)
        query /= np.linalg.norm(query)
        seconds = []
        for _ in range(RUNS):
            started = time.perf_counter()
            _nearest(home, "joint-bench", "image", query, 10, exclude=None)
            seconds.append(time.perf_counter() - started)
        return seconds, size


def location_store(folder: Path, posts: int, places: int = 2_000, chunk: int = 20_000) -> pa.Table:
    """A home in ``folder`` whose e5-small store holds ``posts`` 384-d encodings; their (post_id, location) pool,
    places drawn Zipf-like (a few cities hold most posts)."""
    home = Home.at(folder)
    rng = np.random.default_rng(3)
    for begin in range(0, posts, chunk):
        count = min(chunk, posts - begin)
        features.write_features(home, "e5-small", "bench", [f"bench:{begin + i}" for i in range(count)],
                                rng.standard_normal((count, DIMENSIONS["location"])).astype(np.float32),
                                [None] * count)
    place = np.minimum(rng.zipf(1.3, posts), places)
    return pa.table({"post_id": [f"bench:{i}" for i in range(posts)], "location": [f"place:{p}" for p in place]})


def location_means_seconds(folder: Path, pool: pa.Table, new: int) -> list[float]:
    """Seconds of the location part of ``new`` posts' embed (the pool's last posts) as `embed` computes it: the
    means once, then each chunk of 20,000 posts' leave-one-out vectors."""
    todo = pool.slice(pool.num_rows - new)
    seconds = []
    for _ in range(RUNS):
        started = time.perf_counter()
        means = LocationMeans.of(Home.at(folder), pool, "e5-small", own=todo.column("post_id").combine_chunks())
        for begin in range(0, new, EMBED_CHUNK):
            means.vectors(Home.at(folder), todo.slice(begin, EMBED_CHUNK))
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    """Run and print every figure (medians of three runs)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-posts", type=int, default=4096)
    parser.add_argument("--embed-posts", type=int, default=20_000)
    parser.add_argument("--search-posts", default="100000,1000000")
    parser.add_argument("--location-pool", type=int, default=1_000_000,
                        help="posts sharing the new posts' places whose encodings make the location means")
    parser.add_argument("--location-new", type=int, default=100_000)
    parser.add_argument("--only", choices=("train", "embed", "search", "location"), default=None,
                        help="run one figure only")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.only in (None, "train"):
        train = statistics.median(training_throughput(args.train_posts))
        print(f"training, paper settings, CPU: {train:,.0f} posts/s (median of {RUNS}); 100k posts x 30 epochs: "
              f"{100_000 * 30 / train / 3600:.1f} h")
    if args.only in (None, "embed"):
        embed = statistics.median(embedding_throughput(args.embed_posts))
        print(f"embedding every part: {embed:,.0f} posts/s; 100k posts {100_000 / embed:.0f} s, "
              f"1M {1e6 / embed / 60:.1f} min")
    for posts in (int(p) for p in args.search_posts.split(",")) if args.only in (None, "search") else ():
        seconds, size = search_latency(posts)
        print(f"exact top-10 over {posts:,} stored 1024-d vectors ({size:.2f} GB Parquet): "
              f"{statistics.median(seconds):.3f} s per query (median of {RUNS})")
    if args.only not in (None, "location"):
        return
    with tempfile.TemporaryDirectory(prefix="bench-joint-") as folder:
        pool = location_store(Path(folder), args.location_pool)
        seconds = location_means_seconds(Path(folder), pool, args.location_new)
    print(f"location part of {args.location_new:,} new posts over a pool of {args.location_pool:,}: "
          f"{statistics.median(seconds):.1f} s (median of {RUNS})")


if __name__ == "__main__":
    main()
