"""The `postatlas` command line. Commands that change data run Prefect flows; `sql` and `runs` only read."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from flows.cli_clusters import add_cluster_commands
from flows.cli_words import add_word_space_commands
from storage.home import HOME_ENV, Home

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postatlas",
        description="Turn social media posts into an analyst-ready DuckDB warehouse.",
        epilog=f"Data lives under ${HOME_ENV} (default ~/.postatlas): warehouse.duckdb, raw/, media/, reports/.",
    )
    parser.add_argument("--home", help=f"postatlas home folder (overrides ${HOME_ENV})")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="generate the embedded dataset and run the whole pipeline on it")
    demo.add_argument("--posts", type=int, default=3000, help="posts to generate (default 3000)")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the generator (default 7)")
    demo.add_argument("--no-learn", action="store_true", help="stop after curate (no fusion training)")

    ingest = commands.add_parser("ingest", help="read files people already have into the warehouse")
    ingest.add_argument("format", choices=("twitter-v2", "twitter-v1", "reddit", "instaloader", "mvsa", "table"))
    ingest.add_argument("paths", nargs="+", help="files or folders")
    ingest.add_argument("--platform", help="table format: the platform the rows come from (part of post_id)")
    ingest.add_argument("--labels", dest="labels_csv", help="CSV of id,label to attach to the posts")
    ingest.add_argument("--task", dest="label_task", help="label task name for --labels (e.g. sentiment)")
    ingest.add_argument("--map", dest="field_map", action="append", default=[], metavar="FIELD=COLUMN",
                        help="table format: id, text, author, created_at, lat, lon, image, hashtags, place")
    ingest.add_argument("--label", dest="label_map", action="append", default=[], metavar="TASK=COLUMN",
                        help="table format: a label column")
    ingest.add_argument("--columns", type=_split, default=[], help="table format: names for a headerless file")
    ingest.add_argument("--media-dir", dest="media_dirs", action="append", default=[],
                        help="folder with downloaded images named like their URLs' last segment")
    ingest.add_argument("--batch-records", type=int, default=20_000,
                        help="raw records per batch: each batch is landed and committed whole (default 20000)")

    collect = commands.add_parser("collect", help="collect from a platform's live API (see docs/COLLECTING.md)")
    collect.add_argument("platform", choices=("twitter", "reddit", "instagram"))
    collect.add_argument("--spec", required=True, help="YAML or TOML spec file (targets, limits, endpoint)")

    curate = commands.add_parser("curate", help="filter the posts; records a decision per post and rule")
    curate.add_argument("--only", type=_split, help="comma-separated rules to run (default: all)")
    curate.add_argument("--languages", type=_split, help="allowed languages (default en,es,ca)")
    curate.add_argument("--detector", choices=("fast", "langdetect"), help="language detector (default fast)")
    curate.add_argument("--min-confidence", type=float, help="probability the allowed languages need together")
    curate.add_argument("--min-words", type=int, help="min_words rule: words a caption needs (default 3)")
    curate.add_argument("--per-user-mode", choices=("drop", "cap"), help="per_user: drop heavy users or cap them")
    curate.add_argument("--per-user-max", type=int, help="per_user: N posts (default 20 for drop, 10 for cap)")
    curate.add_argument("--home-cities", type=_split, help="city_spam: cities that are not spam (default barcelona)")
    curate.add_argument("--city-min-population", type=int, help="city_spam: smallest city that counts")
    curate.add_argument("--require", type=_split, help="require: image,coordinates,hashtags,text")
    curate.add_argument("--bbox", type=lambda v: tuple(float(x) for x in _split(v)),
                        help="bbox: min_lon,min_lat,max_lon,max_lat")
    curate.add_argument("--phash-distance", type=int, help="near_duplicate_image: max Hamming distance")
    curate.add_argument("--partitions", type=int, default=0,
                        help="detect languages in N partition tasks first (parallel; on Dask with --dask)")
    curate.add_argument("--dask", help="run the partition tasks on Dask: local:N (a local cluster) or an address")

    sql = commands.add_parser("sql", help="read-only SQL over the warehouse")
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("--wait", type=float, default=None, help="seconds to wait while a writer holds the warehouse")

    train = commands.add_parser("train", help="train a model (runs on the gpu pool when deployed; CPU fallback)")
    train_models = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    fusion = train_models.add_parser("fusion", help="paper 003's classifiers for a label task in post_labels")
    fusion.add_argument("--task", required=True, help="label task, e.g. sentiment (see `postatlas models --tasks`)")
    fusion.add_argument("--variant", type=_split, default=["all"],
                        help="image, text, late, early, joint, common, comma-separated, or all (default)")
    fusion.add_argument("--text-encoder", choices=("bag-max", "bag-mean", "gru", "lstm", "minilm", "minilm+bag"),
                        help="text encoder (default bag-max; minilm = the optional pretrained sentence model, "
                        "minilm+bag = both side by side)")
    fusion.add_argument("--ngrams", type=int, help="text: add word n-grams up to N to the bag (default 1)")
    fusion.add_argument("--balanced", action="store_true", help="weigh classes by their inverse frequency")
    fusion.add_argument("--epochs", type=int, help="most epochs of the text and fusion models (default 40)")
    fusion.add_argument("--image-epochs", type=int, help="most epochs of the image CNN (default 25)")
    fusion.add_argument("--image-size", type=int, help="image side in pixels (default 64)")
    fusion.add_argument("--grey", action="store_true", help="grey images instead of colour")
    fusion.add_argument("--image-backbone", metavar="PATH",
                        help="a pretrained image network (a local .pt2 from torch.export, or TorchScript), "
                        "used frozen instead of the CNN trained from scratch")
    fusion.add_argument("--end-to-end", action="store_true",
                        help="each fusion trains its own CNN instead of reading the image classifier's vectors")
    fusion.add_argument("--negatives", type=int, help="common: g random negatives per post (default 3)")
    fusion.add_argument("--main-task-weight", type=float, help="common: lambda, weight of the classification loss")
    fusion.add_argument("--patience", type=int, help="epochs without a better validation score before stopping")
    fusion.add_argument("--batch-size", type=int, help="posts per batch (default 64)")
    fusion.add_argument("--learning-rate", type=float, help="Adam learning rate of the text and fusion models "
                        "(default 0.003)")
    fusion.add_argument("--image-learning-rate", type=float, help="Adam learning rate of the image CNN (default 0.001)")
    fusion.add_argument("--device", help="auto (default: CUDA when present), cpu or cuda")
    fusion.add_argument("--seed", type=int, help="random seed (default 13)")
    fusion.add_argument("--all-posts", action="store_true",
                        help="train on every labelled post, not only the curated ones")
    fusion.add_argument("--split-task", help="a label task holding train / val / test per post (a predefined split; "
                        "posts without one get the hashed 80/5/15 split)")
    fusion.add_argument("--retrain", action="store_true",
                        help="train again even when a model of the same data and settings exists")

    predict = commands.add_parser("predict", help="predict labels of posts with a trained model")
    predict_models = predict.add_subparsers(dest="model", required=True, metavar="MODEL")
    predict_fusion = predict_models.add_parser("fusion", help="label every curated post that has no gold label")
    predict_fusion.add_argument("--task", required=True)
    predict_fusion.add_argument("--model", dest="model_id", help="model_id (default: best variant by validation)")

    models = commands.add_parser("models", help="the model registry with validation and test scores")
    models.add_argument("--task", help="only models of this label task")
    models.add_argument("--tasks", action="store_true", help="list the label tasks and their labelled posts")

    add_word_space_commands(commands, train_models)
    add_cluster_commands(commands, train_models)

    runs = commands.add_parser("runs", help="recent runs with their counts and failure reasons")
    runs.add_argument("--limit", type=int, default=20)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    if args.home:
        os.environ[HOME_ENV] = str(Home.at(args.home).root)
    home = str(Home.at().root)
    os.environ.setdefault("DO_NOT_TRACK", "1")  # offline by design: no telemetry attempts in the log
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows import commands  # late: `sql` and `runs` stay fast

    handler = getattr(commands, f"cmd_{args.command.replace('-', '_')}")
    try:
        return handler(args, home)
    except commands.UserError as error:
        print(f"postatlas {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"postatlas {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
