"""Clustering benchmark: `fit` and `summarise_clusters` wall time and peak memory per method and number of posts.

Run: ``.venv/bin/python tests/bench/bench_clustering.py [--methods default paper] [--sizes N ...] [--repeats 3]
[--write PATH]``. Without --sizes, default runs 10k, 100k and 1M posts and paper 10k and 30k.

Every run is a fresh subprocess (``--single METHOD N``) that generates seeded synthetic posts: 64-d float32
embeddings from a 50-component Gaussian mixture of uneven weights; coordinates around 20 city-like spots (the
component's own spot 70% of the time), 30% without; texts of three component words and two common words (10%
without), 0-2 component hashtags, languages and timestamps (5% unknown). It times the clustering (`fit`) and the
summary separately and reports its peak RSS (VmHWM, data included; "data GB" is the RSS once the data exist).
Figures are medians over --repeats runs. ARI compares the clusters with the mixture components (50 components,
42 clusters, so 1.0 is out of reach).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from models import clustering  # noqa: E402
from models.cluster_summary import summarise_clusters  # noqa: E402

SIZES = {"default": [10_000, 100_000, 1_000_000], "paper": [10_000, 30_000]}
COMPONENTS, SPOTS, DIMENSIONS = 50, 20, 64
COMMON_WORDS = np.array(["photo", "today", "city", "love", "night", "friends", "weekend", "sunny", "best", "life"])
LANGUAGES = np.array(["en", "es", "ca", "fr", None], dtype=object)


def _letters(numbers: np.ndarray, length: int = 6) -> np.ndarray:
    """A distinct word of `length` letters per integer (the tokenizer drops digits)."""
    digits = (numbers[:, np.newaxis] // 26 ** np.arange(length)) % 26
    return np.array(["".join(chr(97 + d) for d in row) for row in digits.tolist()])


def synthetic_posts(n: int, seed: int = 13) -> dict:
    """Seeded, vectorised synthetic posts (see the module docstring)."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(COMPONENTS, 2.0))
    component = rng.choice(COMPONENTS, size=n, p=weights)
    means = rng.normal(scale=1.0, size=(COMPONENTS, DIMENSIONS)).astype(np.float32)
    X = means[component] + rng.standard_normal((n, DIMENSIONS), dtype=np.float32) * np.float32(0.6)
    spots = np.column_stack([rng.uniform(-50, 60, SPOTS), rng.uniform(-170, 170, SPOTS)])
    spot = np.where(rng.random(n) < 0.7, component % SPOTS, rng.integers(0, SPOTS, n))
    coordinates = spots[spot] + rng.normal(scale=0.05, size=(n, 2))
    coordinates[rng.random(n) < 0.3] = np.nan

    topic_words = _letters(np.arange(COMPONENTS * 10) + 26 ** 5).reshape(COMPONENTS, 10)
    picks = [pa.array(topic_words[component, rng.integers(0, 10, n)]) for _ in range(3)]
    picks += [pa.array(COMMON_WORDS[rng.integers(0, len(COMMON_WORDS), n)]) for _ in range(2)]
    texts = pc.binary_join_element_wise(*picks, " ")
    texts = pc.if_else(pa.array(rng.random(n) < 0.1), pa.scalar(None, pa.string()), texts).to_pylist()

    tags = np.char.add("tag", _letters(np.arange(COMPONENTS * 3), 3)).reshape(COMPONENTS, 3)
    counts = rng.integers(0, 3, n)
    owners = np.repeat(component, counts)
    values = pa.array(tags[owners, rng.integers(0, 3, len(owners))])
    hashtags = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(counts)]), pa.int32()), values)

    start = np.datetime64("2024-01-01T00:00:00", "us")
    created_at = start + rng.integers(0, 365 * 86_400 * 10**6, n).astype("timedelta64[us]")
    created_at[rng.random(n) < 0.05] = np.datetime64("NaT", "us")
    return {
        "X": X, "coordinates": coordinates, "component": component, "texts": texts,
        "hashtags": hashtags.to_pylist(), "languages": LANGUAGES[rng.choice(5, n, p=[.4, .3, .15, .1, .05])].tolist(),
        "created_at": created_at,
    }


def _rss_gb(field: str) -> float:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1]) / 1024**2


def single(method: str, n: int, seed: int) -> dict:
    """One measured run in this process: generate, fit, summarise."""
    posts = synthetic_posts(n, seed)
    data_gb = _rss_gb("VmRSS:")
    tsne_seconds: list[float] = []
    tsne = clustering._tsne

    def timed_tsne(*args, **kwargs):
        started = time.perf_counter()
        embedding = tsne(*args, **kwargs)
        tsne_seconds.append(time.perf_counter() - started)
        return embedding

    clustering._tsne = timed_tsne
    started = time.perf_counter()
    model = clustering.make_clusterer(method).fit(posts["X"], posts["coordinates"])
    cluster_s = time.perf_counter() - started
    started = time.perf_counter()
    summarise_clusters(model.labels_, posts["X"], posts["texts"], posts["hashtags"], posts["languages"],
                       posts["coordinates"][:, 0], posts["coordinates"][:, 1], posts["created_at"])
    summary_s = time.perf_counter() - started
    ari, _ = clustering.label_agreement(posts["component"].tolist(), model.labels_)
    return {"cluster_s": cluster_s, "summary_s": summary_s, "total_s": cluster_s + summary_s,
            "peak_gb": _rss_gb("VmHWM:"), "data_gb": data_gb, "tsne_s": sum(tsne_seconds), "ari": ari,
            "n_clusters": model.n_clusters_}


def measure(method: str, n: int, repeats: int) -> dict:
    """Medians over `repeats` fresh subprocesses."""
    runs = []
    for repeat in range(repeats):
        done = subprocess.run([sys.executable, __file__, "--single", method, str(n), "--seed", str(13 + repeat)],
                              capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            raise RuntimeError(f"{method} n={n} failed:\n{done.stderr[-3000:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  {method} {n:>9,} run {repeat + 1}: {runs[-1]}", file=sys.stderr, flush=True)
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def paper_notes(results: dict[tuple[str, int], dict]) -> list[str]:
    """Why paper stops at tens of thousands of posts: Ward's distance matrices, and its time extrapolated (openTSNE
    with the exponent measured between the two largest paper runs, the rest of the fit, mostly Ward, as n^2)."""
    measured = sorted(n for method, n in results if method == "paper")
    notes = []
    for n in (100_000, 1_000_000):
        limit = clustering.PaperSettings().max_posts
        line = (f"- paper at {n:,} posts is not run: scipy's Ward (via scikit-learn) keeps two condensed distance "
                f"matrices, 8 n^2 bytes = {8 * n**2 / 1e9:,.0f} GB (the max_posts limit of {limit:,} is "
                f"{8 * limit**2 / 1e9:,.0f} GB)")
        if len(measured) >= 2:
            small, large = results[("paper", measured[-2])], results[("paper", measured[-1])]
            exponent = math.log(large["tsne_s"] / small["tsne_s"]) / math.log(measured[-1] / measured[-2])
            tsne = large["tsne_s"] * (n / measured[-1]) ** exponent
            rest = (large["cluster_s"] - large["tsne_s"]) * (n / measured[-1]) ** 2
            line += (f"; time ~{tsne + rest:,.0f} s: openTSNE ~{tsne:,.0f} s (n^{exponent:.2f}, fitted on "
                     f"{measured[-2]:,} and {measured[-1]:,}) + Ward and the rest ~{rest:,.0f} s (n^2)")
        notes.append(line)
    return notes


def table(results: dict[tuple[str, int], dict], repeats: int) -> str:
    lines = [
        "| method | posts | cluster s | summary s | total s | peak RSS GB | data GB | t-SNE s | clusters | ARI |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (method, n), r in results.items():
        lines.append(f"| {method} | {n:,} | {r['cluster_s']:.1f} | {r['summary_s']:.1f} | {r['total_s']:.1f} | "
                     f"{r['peak_gb']:.2f} | {r['data_gb']:.2f} | {r['tsne_s']:.1f} | {r['n_clusters']:.0f} | "
                     f"{r['ari']:.2f} |")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines += ["", f"Medians of {repeats} runs; {os.cpu_count()} cores, load average at the end {load}.",
              *paper_notes(results)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", choices=sorted(SIZES), default=["default", "paper"])
    parser.add_argument("--sizes", nargs="+", type=int, help="posts per run, for every method (default: per method)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--write", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--single", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=13, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(single(args.single[0], int(args.single[1]), args.seed)))
        return
    results = {}
    for method in args.methods:
        for n in args.sizes or SIZES[method]:
            if method == "paper" and n > clustering.PaperSettings().max_posts:
                print(f"skipping paper at {n:,} posts: more than max_posts", file=sys.stderr)
                continue
            results[(method, n)] = measure(method, n, args.repeats)
    report = table(results, args.repeats)
    print(report)
    if args.write:
        args.write.write_text(report + "\n")


if __name__ == "__main__":
    main()
