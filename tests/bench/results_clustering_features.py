"""Reproduce docs/CLUSTERING.md (clustering on pretrained features): the autoencoder's embedding against the
frozen encoders' features, NMI / ARI against known labels at equal cluster counts.

Run: ``.venv/bin/python tests/bench/results_clustering_features.py [--only mvsa|emoji] [--emoji-posts 3000]
[--epochs 10] [--clusters 3,20] [--autoencoder-on mvsa,emoji] [--work DIR] [--prepare-only]``. Everything goes through the real CLI
(`postatlas ingest`, `train autoencoder`, `embed`, `featurize`, `cluster --embedding ...`) into scratch
POSTATLAS_HOMEs; the scores are read back from the warehouse's cluster_runs table and printed as markdown.

MVSA-Single: 3,889 image + text posts, sentiment labels on 3,020 (positive / neutral / negative).
TweetEval emoji: the first `--emoji-posts` tweets of the official train file (text only, 20 emoji labels).
Methods: the default (PCA -> k-means micro-clusters -> Ward); the posts have no coordinates.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from functools import partial
from pathlib import Path

import duckdb
from results_learning import DATA
from results_learning import run as run_cli

run = partial(run_cli, quiet=True)
os.environ.setdefault("OMP_NUM_THREADS", "2")

MVSA_EMBEDDINGS = ("autoencoder", "features:e5-small", "features:efficientnet-lite0",
                   "features:e5-small+efficientnet-lite0")
EMOJI_EMBEDDINGS = ("autoencoder", "features:e5-small", "features:minilm")


def emoji_table(folder: Path, target: Path, posts: int) -> Path:
    """The first `posts` tweets of the official emoji train file as a TSV of id, text, label."""
    names = {}
    for line in (folder / "mapping.txt").read_text(encoding="utf-8").split("\n"):
        if line.strip():
            fields = line.split("\t")
            names[fields[0]] = fields[2].strip("_")
    texts = (folder / "train_text.txt").read_text(encoding="utf-8").split("\n")
    labels = (folder / "train_labels.txt").read_text().split()
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(("id", "text", "label"))
        writer.writerows((f"train-{i}", texts[i].strip(), names[labels[i]]) for i in range(min(posts, len(labels))))
    return target


def latest(home: Path) -> tuple:
    """The newest clustering run's embedding, cluster count, posts, labelled posts, ARI, NMI and seconds."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT model_id, n_clusters, posts, labelled_posts, ari, nmi, silhouette, seconds FROM cluster_runs "
            "ORDER BY updated_at DESC LIMIT 1").fetchall()[0]
    finally:
        con.close()


def row(data: str, label: str, scores: tuple) -> str:
    _, clusters, posts, labelled, ari, nmi, silhouette, seconds = scores

    def fmt(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    return (f"| {data} | {label} | {clusters} | {posts:,} | {labelled:,} | {fmt(ari)} | {fmt(nmi)} | "
            f"{fmt(silhouette)} | {seconds:.1f} |")


HEADER = ("| data | embedding | clusters | posts | labelled | ARI | NMI | silhouette | seconds |\n"
          "|---|---|---|---|---|---|---|---|---|")


def measure(home: Path, data: str, embeddings: tuple[str, ...], clusters: list[str], task: str,
            autoencoder: bool) -> list[str]:
    lines = []
    for count in clusters:
        for embedding in embeddings:
            if embedding == "autoencoder" and not autoencoder:
                continue
            extra = [] if embedding == "autoencoder" else ["--embedding", embedding]
            run(home, "cluster", "--clusters", count, "--label-task", task, "--no-report", *extra)
            lines.append(row(data, embedding, latest(home)))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("mvsa", "emoji"))
    parser.add_argument("--emoji-posts", type=int, default=3000)
    parser.add_argument("--epochs", default="10")
    parser.add_argument("--clusters", default="3,20")
    parser.add_argument("--autoencoder-on", default="mvsa,emoji",
                        help="datasets on which the autoencoder is trained and measured (comma-separated; '' none)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (kept; default: a temp folder)")
    parser.add_argument("--prepare-only", action="store_true",
                        help="ingest, train, embed and featurize, then stop (the slow part)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="postatlas-clufeat-"))
    clusters = args.clusters.split(",")
    autoencoder_on = set(filter(None, args.autoencoder_on.split(",")))
    train = ["train", "autoencoder", "--all-posts", "--epochs", args.epochs, "--image-size", "64", "--threads", "2"]
    lines = [HEADER]
    if args.only in (None, "mvsa"):
        home = work / "mvsa"
        if not (home / "warehouse.duckdb").exists():
            mvsa = DATA / "mvsa-single"
            run(home, "ingest", "mvsa", str(mvsa / "data"), "--labels", str(mvsa / "label" / "labels.csv"),
                "--task", "sentiment")
        if "mvsa" in autoencoder_on:
            run(home, *train)
            run(home, "embed")
        run(home, "featurize", "--all-posts", "--encoder", "e5-small,efficientnet-lite0")
        if not args.prepare_only:
            lines += measure(home, "MVSA-Single", MVSA_EMBEDDINGS, clusters, "sentiment", "mvsa" in autoencoder_on)
    if args.only in (None, "emoji"):
        home = work / "emoji"
        if not (home / "warehouse.duckdb").exists():
            source = emoji_table(DATA / "tweeteval" / "emoji", work / "emoji.tsv", args.emoji_posts)
            run(home, "ingest", "table", str(source), "--platform", "tweeteval", "--map", "id=id", "--map",
                "text=text", "--label", "emoji=label")
        if "emoji" in autoencoder_on:
            run(home, *train)
            run(home, "embed")
        run(home, "featurize", "--all-posts", "--encoder", "e5-small,minilm")
        if not args.prepare_only:
            lines += measure(home, "TweetEval emoji", EMOJI_EMBEDDINGS, clusters, "emoji", "emoji" in autoencoder_on)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
