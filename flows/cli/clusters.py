"""Paper 000's commands: `train autoencoder`, `embed`, `cluster`, `report`."""

from __future__ import annotations

import argparse

from flows.cli.common import (
    EXIT_OK,
    Subcommands,
    UserError,
    add_training_options,
    fraction,
    given,
    positive_int,
    prepare_prefect,
    round_or_blank,
    user_errors,
)
from flows.cli.fusion import learning_errors
from storage.home import Home

CLUSTER_OPTIONS = ("n_clusters", "distance_threshold", "geo_weight", "variance", "micro_clusters", "perplexity",
                   "seed")


def register(commands: Subcommands, train_models: Subcommands, predict_models: Subcommands) -> None:
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
    add_training_options(auto)
    auto.add_argument("--retrain", action="store_true",
                      help="train again even when a model of the same data and settings exists")

    auto.set_defaults(handler=cmd_train_autoencoder)

    embed = commands.add_parser("embed", help="embed the posts not yet embedded (Parquet + the view `embeddings`)")
    embed.add_argument("--model", dest="model_id", metavar="ID",
                       help="autoencoder or joint model id (default: the newest autoencoder); a joint model "
                       "writes one vector per post and part (view `embedding_parts`) and their mean (`embeddings`)")
    embed.add_argument("--device", default="auto", help="auto (default), cpu or cuda")

    embed.set_defaults(handler=cmd_embed)

    cluster = commands.add_parser("cluster", help="cluster the embedded posts; writes cluster_runs, clusters, "
                                  "cluster_assignments and an HTML report")
    cluster.add_argument("--method", choices=("paper", "default"), default="default",
                         help="paper: PCA -> t-SNE -> kernel CCA with coordinates -> agglomerative (up to 30k "
                         "posts); default: PCA -> mini-batch k-means micro-clusters -> Ward on their centres")
    cluster.add_argument("--model", dest="model_id", metavar="ID",
                         help="embedding model (default: the newest with embeddings)")
    cluster.add_argument("--embedding", metavar="SPEC",
                         help="what to cluster: autoencoder (default: --model, else the newest autoencoder's "
                         "embeddings) or features:ENCODER[+ENCODER...] for the frozen pretrained encoders' vectors, "
                         "each block L2-normalised and scaled to equal variance (e.g. "
                         "features:e5-small+efficientnet-lite0; missing ones are computed first)")
    cluster.add_argument("--clusters", dest="n_clusters", type=positive_int, metavar="N",
                         help="number of clusters (default 42, the paper's)")
    cluster.add_argument("--distance-threshold", type=float, metavar="D",
                         help="cut the hierarchy at this distance instead of a number of clusters")
    cluster.add_argument("--geo-weight", type=float, metavar="W",
                         help="default method: geography's share against content's, 1 = equal (default), 0 ignores "
                         "coordinates (the paper method weighs them by kernel CCA)")
    cluster.add_argument("--variance", type=fraction, metavar="F",
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

    cluster.set_defaults(handler=cmd_cluster)

    report = commands.add_parser("report", help="the HTML report of a clustering run (default: the newest), or of "
                                                "a task's classifiers (--training)")
    report.add_argument("--run", help="cluster run id (see `postatlas cluster --list`)")
    report.add_argument("--training", metavar="TASK",
                        help="instead: the report of the task's classifiers (the newest model of every variant): "
                             "scores with a modality missing, confusion matrices, per-class scores, learning curves")
    report.set_defaults(handler=cmd_report)


def autoencoder_settings(args: argparse.Namespace) -> dict:
    """The AutoencoderSettings given on the command line, as a dict the flow accepts."""
    from models.corrnet import AutoencoderSettings

    overrides = given(args, ("epochs", "batch_size", "learning_rate", "patience", "image_size", "code_size",
                              "correlation_weight", "content_words", "word_dimensions", "word_vectors", "device",
                              "threads", "seed"))
    if args.colour:
        overrides["channels"] = 3
    return AutoencoderSettings().with_overrides(overrides).as_dict()


def cmd_train_autoencoder(args: argparse.Namespace, home: Home) -> int:
    """Train paper 000's autoencoder and print its summary."""
    from flows.clusters import train_autoencoder_flow
    from tasks.learn.autoencoder import model_summary
    from tasks.report import print_rows

    prepare_prefect()
    with user_errors(*learning_errors()):
        result = train_autoencoder_flow(home=str(home), settings=autoencoder_settings(args),
                                        curated_only=False if args.all_posts else None, retrain=args.retrain)
        print_rows(("", "value"), model_summary(home, result.model_id), "Autoencoder (paper 000) trained")
    return EXIT_OK


def cmd_embed(args: argparse.Namespace, home: Home) -> int:
    """Embed the posts not yet embedded and say what was embedded."""
    from flows.clusters import embed_flow
    from tasks.learn.joint import is_joint_model
    from tasks.report import print_joint_embedded, print_rows

    prepare_prefect()
    if is_joint_model(home, args.model_id):
        from flows.joint import embed_joint_flow

        with user_errors(*learning_errors()):
            print_joint_embedded(embed_joint_flow(model_id=args.model_id, home=str(home), device=args.device))
        return EXIT_OK
    with user_errors(*learning_errors()):
        result = embed_flow(home=str(home), model_id=args.model_id, device=args.device)
    print_rows(("", "value"), [
        ("model_id", result.model_id),
        ("embedded now", result.embedded),
        ("embedded before", result.already_embedded),
        ("posts", f"{result.posts} {'curated ' if result.curated_only else ''}posts with a text or an image"),
        ("not embedded", f"{result.without_content} posts without text or stored image"),
        ("nothing known", f"{result.unusable} embedded posts had no word the model knows and no readable "
                          "image (they share one code: they cluster together, or by place)"),
        ("dimensions", result.dimensions),
    ], "Embeddings (view `embeddings`: post_id, model_id, vector)")
    return EXIT_OK


DEFAULT_ONLY = {"geo_weight": "--geo-weight", "micro_clusters": "--micro-clusters"}


def cluster_settings(args: argparse.Namespace) -> dict:
    """The clustering settings given on the command line; flags of the other method are an error."""
    settings = given(args, CLUSTER_OPTIONS)
    misplaced = [flag for name, flag in DEFAULT_ONLY.items() if name in settings and args.method == "paper"]
    if misplaced:
        raise UserError(f"{' and '.join(misplaced)} {'is' if len(misplaced) == 1 else 'are'} for --method default "
                        "only (the paper method weighs geography by kernel CCA and clusters every post)")
    if args.distance_threshold is not None:
        if args.n_clusters is not None:
            raise UserError("give --clusters or --distance-threshold, not both")
        settings["n_clusters"] = None
    return settings


def embedding_model(args: argparse.Namespace) -> str | None:
    """The model id the cluster flow gets: --model, or `features:...` from --embedding (checked here)."""
    embedding = args.embedding
    if embedding is None or embedding == "autoencoder":
        return args.model_id
    from models.feature_embedding import feature_embedding_name, is_feature_embedding, parse_feature_embedding

    if not is_feature_embedding(embedding):
        raise UserError(f"--embedding is autoencoder or features:ENCODER[+ENCODER...], got {embedding!r}")
    if args.model_id is not None:
        raise UserError("give --model (an autoencoder) or --embedding features:..., not both")
    if args.assign:
        raise UserError("--assign places new posts in an autoencoder run's clusters; --embedding features:... "
                        "runs are refitted instead")
    try:
        return feature_embedding_name(parse_feature_embedding(embedding))
    except ValueError as error:
        raise UserError(f"--embedding: {error}") from error


def _print_runs(home: Home) -> None:
    from storage import queries, warehouse
    from tasks.report import print_rows

    with warehouse.reader(home.warehouse) as con:
        rows = queries.clustering_runs(con)
    print_rows(("run", "method", "posts", "clusters", "silhouette", "ARI", "NMI", "labels", "assigned since", "fitted"),
               rows, "Clustering runs")


def print_cluster_run(home: Home, run: str, report_path: str | None) -> None:
    """Print a clustering run: its largest clusters and its scores."""
    from tasks.learn.cluster_report import cluster_rows
    from tasks.learn.clustering import cluster_run_summary
    from tasks.report import print_rows

    summary = cluster_run_summary(home, run)
    rows = cluster_rows(summary.clusters)
    if rows:
        print_rows(tuple(rows[0]), [tuple(r.values()) for r in rows[:20]],
                   f"Clusters of {run} (largest 20 of {len(rows)})")
    print_rows(("", "value"), [
        ("run", run), ("method", summary.method), ("embedding model", summary.model_id),
        ("posts", f"{summary.posts} fitted + {summary.assigned_since_fit} assigned since"),
        ("clusters", summary.n_clusters), ("silhouette", round_or_blank(summary.silhouette)),
        ("ARI / NMI", f"{round_or_blank(summary.ari)} / {round_or_blank(summary.nmi)}"
                      + (f" against labels of '{summary.label_task}' ({summary.labelled_posts} posts)"
                         if summary.label_task else " (no label task)")),
        ("with image / coordinates", f"{summary.posts_with_image} / {summary.posts_with_coordinates}"),
        ("report", report_path or "not written (--no-report)"),
    ], "Clustering run")


def cmd_cluster(args: argparse.Namespace, home: Home) -> int:
    """Cluster the embedded posts (or assign new ones with --assign, or list runs with --list)."""
    from flows.clusters import assign_flow, cluster_flow
    from models.clustering import make_clusterer

    model_id = embedding_model(args)
    prepare_prefect()
    with user_errors(*learning_errors()):
        if args.list:
            _print_runs(home)
            return EXIT_OK
        if args.assign:
            result = assign_flow(home=str(home), method=args.method, report=not args.no_report)
            print(f"{result.assigned} new posts assigned to the clusters of {result.run}")
            print_cluster_run(home, result.run, result.report_path)
            return EXIT_OK
        settings = cluster_settings(args)
        make_clusterer(args.method, **settings)  # bad settings fail here, before any flow run starts
        result = cluster_flow(home=str(home), method=args.method, model_id=model_id, settings=settings,
                              label_task=args.label_task, report=not args.no_report)
        print_cluster_run(home, result.run, result.report_path)
    return EXIT_OK


def cmd_report(args: argparse.Namespace, home: Home) -> int:
    """Write the HTML report of a clustering run, or of a task's classifiers."""
    if args.training:
        from tasks.learn.training_report import write_training_report

        with user_errors(*learning_errors()):
            path = write_training_report(home, args.training)
        print(f"report of the {args.training!r} classifiers: {path}")
        return EXIT_OK
    from flows.clusters import report_flow

    prepare_prefect()
    with user_errors(*learning_errors()):
        result = report_flow(home=str(home), run=args.run)
    print(f"report of {result.run}: {result.report_path}")
    return EXIT_OK
