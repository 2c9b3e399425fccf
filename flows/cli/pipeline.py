"""The data commands: `demo`, `ingest`, `collect`, `curate`. Each runs its Prefect flow, then prints a summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from flows.cli.common import (
    EXIT_OK,
    Subcommands,
    UserError,
    existing_paths,
    fraction,
    non_negative_int,
    positive_int,
    prepare_prefect,
    split_list,
    user_errors,
)
from storage.home import Home

INGEST_FORMATS = ("twitter-v2", "twitter-v1", "reddit", "instaloader", "mvsa", "table", "pan-authors")


def register(commands: Subcommands) -> None:
    """Add `demo`, `ingest`, `collect`, `curate`."""
    demo = commands.add_parser("demo", help="generate the embedded dataset and run the whole pipeline on it")
    demo.add_argument("--posts", type=positive_int, default=3000, help="posts to generate (default 3000)")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the generator (default 7)")
    demo.add_argument("--no-learn", action="store_true", help="stop after curate (no fusion training)")
    demo.set_defaults(handler=cmd_demo)

    ingest = commands.add_parser("ingest", help="read files people already have into the warehouse")
    ingest.add_argument("format", choices=INGEST_FORMATS)
    ingest.add_argument("paths", nargs="+", help="files or folders")
    ingest.add_argument("--platform", help="table format: the platform the rows come from (part of post_id)")
    ingest.add_argument("--labels", dest="labels_csv", help="CSV of id,label to attach to the posts")
    ingest.add_argument("--task", dest="label_task", help="label task name for --labels (e.g. sentiment)")
    ingest.add_argument("--map", dest="field_map", action="append", default=[], metavar="FIELD=COLUMN",
                        help="table format: id, text, author, created_at, lat, lon, image, hashtags, place")
    ingest.add_argument("--label", dest="label_map", action="append", default=[], metavar="TASK=COLUMN",
                        help="table format: a label column")
    ingest.add_argument("--columns", type=split_list, default=[], help="table format: names for a headerless file")
    ingest.add_argument("--media-dir", dest="media_dirs", action="append", default=[],
                        help="folder with downloaded images named like their URLs' last segment")
    ingest.add_argument("--batch-records", type=positive_int, default=20_000,
                        help="raw records per batch: each batch is landed and committed whole (default 20000)")
    ingest.set_defaults(handler=cmd_ingest)

    collect = commands.add_parser("collect", help="collect from a platform's live API (see docs/COLLECTING.md)")
    collect.add_argument("platform", choices=("twitter", "reddit", "instagram"))
    collect.add_argument("--spec", required=True, help="YAML or TOML spec file (targets, limits, endpoint)")
    collect.set_defaults(handler=cmd_collect)

    curate = commands.add_parser("curate", help="filter the posts; records a decision per post and rule")
    curate.add_argument("--only", type=split_list, help="comma-separated rules to run (default: all)")
    curate.add_argument("--languages", type=split_list, help="allowed languages (default en,es,ca)")
    curate.add_argument("--detector", choices=("stack", "fast", "langdetect"),
                        help="language detector (default stack: fastText + CLD2 + character n-grams + the author's "
                             "other posts; fast = fastText alone, langdetect = paper 001's)")
    curate.add_argument("--min-confidence", type=fraction,
                        help="probability the allowed languages need together (default: the stack model's tuned "
                             "threshold; 0.10 for fast and langdetect)")
    curate.add_argument("--language-model", help="stack: a model file fitted by `postatlas train language` "
                                                 "(default: the one fitted on TweetLID, shipped with postatlas)")
    curate.add_argument("--too-short", choices=("detect", "keep", "drop"),
                        help="language: posts with fewer than --min-letters letters (default detect: decided like "
                             "any other)")
    curate.add_argument("--min-letters", type=non_negative_int,
                        help="language: letters a post needs not to count as too short (default 0)")
    curate.add_argument("--min-words", type=non_negative_int, help="min_words rule: words a caption needs (default 3)")
    curate.add_argument("--per-user-mode", choices=("drop", "cap"), help="per_user: drop heavy users or cap them")
    curate.add_argument("--per-user-max", type=positive_int, help="per_user: N posts (default 20 for drop, 10 for cap)")
    curate.add_argument("--home-cities", type=split_list,
                        help="city_spam: cities that are not spam (default barcelona)")
    curate.add_argument("--city-min-population", type=non_negative_int, help="city_spam: smallest city that counts")
    curate.add_argument("--require", type=split_list, help="require: image,coordinates,hashtags,text")
    curate.add_argument("--bbox", type=lambda v: tuple(float(x) for x in split_list(v)),
                        help="bbox: min_lon,min_lat,max_lon,max_lat")
    curate.add_argument("--phash-distance", type=non_negative_int, help="near_duplicate_image: max Hamming distance")
    curate.add_argument("--partitions", type=non_negative_int, default=0,
                        help="detect languages in N partition tasks first (parallel; on Dask with --dask)")
    curate.add_argument("--full", action="store_true",
                        help="decide every post again (default: only posts new or changed since the last run)")
    curate.add_argument("--dask", help="run the partition tasks on Dask: local:N (a local cluster) or an address")
    curate.set_defaults(handler=cmd_curate)


def cmd_demo(args: argparse.Namespace, home: Home) -> int:
    """Generate the embedded dataset and run the whole pipeline on it."""
    prepare_prefect()
    from flows.demo import demo_flow
    from tasks.report import print_demo_summary

    summary = demo_flow(posts=args.posts, seed=args.seed, home=str(home), learn=not args.no_learn)
    print_demo_summary(summary)
    return EXIT_OK


def cmd_ingest(args: argparse.Namespace, home: Home) -> int:
    """Read files into the warehouse."""
    from flows.ingest import ingest_flow
    from storage.readers import ReaderError
    from storage.warehouse import WarehouseError
    from tasks.ingest import IngestError
    from tasks.report import print_ingest_summary

    check_ingest(args)
    prepare_prefect()
    with user_errors(ReaderError, IngestError, WarehouseError):
        totals = ingest_flow(
            fmt=args.format, paths=args.paths, platform=args.platform, labels_csv=args.labels_csv,
            label_task=args.label_task, field_map=args.field_map, label_map=args.label_map, columns=args.columns,
            media_dirs=args.media_dirs, batch_records=args.batch_records, home=str(home),
        )
    print_ingest_summary(totals, str(home.warehouse))
    return EXIT_OK


def check_ingest(args: argparse.Namespace) -> None:
    """UserError for an ingest that cannot work, before any flow run or server starts: paths that do not exist,
    options the format does not take or lacks."""
    from tasks.ingest import IngestError, IngestOptions, build_normalizer

    existing_paths(args.paths)
    existing_paths(args.media_dirs, "--media-dir ")
    if args.labels_csv:
        existing_paths([args.labels_csv], "--labels ")
        if not args.label_task:
            raise UserError("--labels needs --task NAME (the label task, e.g. sentiment)")
    if args.format != "table":
        given = [flag for flag, value in (("--platform", args.platform), ("--map", args.field_map),
                                          ("--label", args.label_map), ("--columns", args.columns)) if value]
        if given:
            raise UserError(f"{', '.join(given)}: only the table format takes these options (format: {args.format})")
        return
    options = IngestOptions(fmt=args.format, paths=tuple(args.paths), platform=args.platform,
                            field_map=tuple(args.field_map), label_map=tuple(args.label_map))
    with user_errors(IngestError):
        build_normalizer(options, tuple)  # the table format checks --platform and every --map / --label


def cmd_collect(args: argparse.Namespace, home: Home) -> int:
    """Collect from a live API as the spec file says."""
    from flows.collect import collect_flow
    from storage.warehouse import WarehouseError
    from tasks.collect.base import CollectorError
    from tasks.collect.run import load_platform_spec
    from tasks.report import print_collect_summary

    with user_errors(CollectorError):  # the spec is checked before any flow run starts
        load_platform_spec(args.platform, args.spec)
    prepare_prefect()
    with user_errors(CollectorError, WarehouseError):
        totals = collect_flow(platform=args.platform, spec=args.spec, home=str(home))
    print_collect_summary(args.platform, totals, str(home.warehouse))
    return EXIT_OK


def cmd_curate(args: argparse.Namespace, home: Home) -> int:
    """Run the filters and print the per-rule table."""
    from flows.curate import curate_flow, on_dask
    from storage.warehouse import WarehouseError
    from tasks.curate_run import CurateError, make_config, options_from_cli
    from tasks.report import print_rule_summary

    with user_errors(CurateError):  # the options are checked before any flow run starts
        options = options_from_cli(vars(args))
        make_config(options)
    if args.language_model:
        model = Path(args.language_model).resolve()
        if not model.is_file():
            raise UserError(f"no language model at {model}: fit one with `postatlas train language` (docs/FILTERS.md)")
        options["language_model"] = str(model)  # the flow may run elsewhere (a worker's folder)
    if args.dask and args.dask.startswith("local:"):
        workers = args.dask.removeprefix("local:")
        if not workers.isdigit() or int(workers) < 1:
            raise UserError(f"--dask local:N needs a number of workers of at least 1, got {args.dask!r}")
    if not home.warehouse.exists():
        raise UserError(f"no warehouse at {home.warehouse}: run `postatlas demo` or `postatlas ingest` first")
    prepare_prefect()
    flow_to_run = on_dask(args.dask) if args.dask else curate_flow
    partitions = args.partitions or (2 if args.dask else 0)
    with user_errors(CurateError, WarehouseError, FileNotFoundError):
        result = flow_to_run(options=options, home=str(home), partitions=partitions, full=args.full)
    print_rule_summary(result)
    return EXIT_OK
