"""Command-line parsers of paper 000's commands: train the autoencoder, embed, cluster, report."""

from __future__ import annotations

import argparse

from flows.cli_words import positive_int


def _fraction(value: str) -> float:
    number = float(value)
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {number}")
    return number


def add_cluster_commands(commands: argparse._SubParsersAction, train_models: argparse._SubParsersAction) -> None:
    """Add `train autoencoder`, `embed`, `cluster`, `report`."""
    auto = train_models.add_parser("autoencoder", help="paper 000's correlational autoencoder of text and image")
    auto.add_argument("--epochs", type=positive_int, help="most epochs (default 20)")
    auto.add_argument("--batch-size", type=positive_int, help="posts per batch (default 32)")
    auto.add_argument("--learning-rate", type=float, help="RMSprop learning rate (default 0.001)")
    auto.add_argument("--patience", type=positive_int, help="epochs without a lower validation error before stopping")
    auto.add_argument("--image-size", type=positive_int, help="grey image side in pixels (default 158, the paper's)")
    auto.add_argument("--colour", action="store_true", help="colour images instead of the paper's grey")
    auto.add_argument("--code-size", type=positive_int, help="size of the joint hidden code, the embedding (default 64)")
    auto.add_argument("--correlation-weight", type=float, help="lambda, weight of the views' correlation")
    auto.add_argument("--content-words", type=positive_int, help="words of the text decoder's bag (default 2000)")
    auto.add_argument("--word-dimensions", type=positive_int, help="word2vec size when trained here (default 400)")
    auto.add_argument("--word-vectors", metavar="PATH",
                      help="pretrained word vectors from a local file (word2vec .bin / .txt, gensim .kv) instead "
                      "of word2vec trained on the posts")
    auto.add_argument("--device", help="auto (default: CUDA when present), cpu or cuda")
    auto.add_argument("--threads", type=positive_int, help="CPU threads for training (default: every core)")
    auto.add_argument("--seed", type=int, help="random seed (default 13)")
    auto.add_argument("--all-posts", action="store_true", help="every non-deleted post, not only the curated ones")
    auto.add_argument("--retrain", action="store_true",
                      help="train again even when a model of the same data and settings exists")

    embed = commands.add_parser("embed", help="embed the posts not yet embedded (Parquet + the view `embeddings`)")
    embed.add_argument("--model", dest="model_id", metavar="ID", help="autoencoder model id (default: the newest)")
    embed.add_argument("--device", default="auto", help="auto (default), cpu or cuda")

    cluster = commands.add_parser("cluster", help="cluster the embedded posts; writes cluster_runs, clusters, "
                                  "cluster_assignments and an HTML report")
    cluster.add_argument("--method", choices=("paper", "default"), default="default",
                         help="paper: PCA -> t-SNE -> kernel CCA with coordinates -> agglomerative (up to 30k "
                         "posts); default: PCA -> mini-batch k-means micro-clusters -> Ward on their centres")
    cluster.add_argument("--model", dest="model_id", metavar="ID",
                         help="embedding model (default: the newest with embeddings)")
    cluster.add_argument("--clusters", dest="n_clusters", type=positive_int, metavar="N",
                         help="number of clusters (default 42, the paper's)")
    cluster.add_argument("--distance-threshold", type=float, metavar="D",
                         help="cut the hierarchy at this distance instead of a number of clusters")
    cluster.add_argument("--geo-weight", type=float, metavar="W",
                         help="default method: geography's share against content's, 1 = equal (default), 0 ignores "
                         "coordinates (the paper method weighs them by kernel CCA)")
    cluster.add_argument("--variance", type=_fraction, metavar="F",
                         help="PCA: variance fraction kept (paper method 0.982, default method 0.95)")
    cluster.add_argument("--micro-clusters", type=positive_int, metavar="N",
                         help="default method: k-means centres (default 2000)")
    cluster.add_argument("--perplexity", type=float, metavar="P", help="t-SNE perplexity (default 30)")
    cluster.add_argument("--seed", type=int, help="random seed (default 13)")
    cluster.add_argument("--label-task", metavar="TASK", help="label task for ARI / NMI (default: the largest one; none: skip)")
    cluster.add_argument("--assign", action="store_true",
                         help="no refit: place newly embedded posts in the clusters of the newest run of --method")
    cluster.add_argument("--no-report", action="store_true", help="skip the HTML report")
    cluster.add_argument("--list", action="store_true", help="list the clustering runs and stop")

    report = commands.add_parser("report", help="the HTML report of a clustering run (default: the newest)")
    report.add_argument("--run", help="cluster run id (see `postatlas cluster --list`)")
