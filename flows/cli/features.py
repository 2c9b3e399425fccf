"""`postatlas featurize`: fill the feature store with the frozen pretrained encoders."""

from __future__ import annotations

import argparse

from flows.cli.common import EXIT_OK, Subcommands, UserError, prepare_prefect, split_list, user_errors
from storage.home import Home


def register(commands: Subcommands) -> None:
    """Add `featurize`."""
    from models.encoder_registry import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER, FROZEN

    featurize = commands.add_parser(
        "featurize", help="encode posts with pretrained encoders (each post once) into the view post_features")
    featurize.add_argument("--encoder", dest="encoders", type=split_list,
                           help=f"comma-separated, from {', '.join(FROZEN)} "
                           f"(default {DEFAULT_TEXT_ENCODER},{DEFAULT_IMAGE_ENCODER})")
    featurize.add_argument("--all-posts", action="store_true",
                           help="every post, not only the curated ones (the default once `curate` has run)")
    featurize.add_argument("--device", default="auto", help="auto (default: CUDA when present), cpu or cuda")
    featurize.set_defaults(handler=cmd_featurize)


def cmd_featurize(args: argparse.Namespace, home: Home) -> int:
    """Encode what is missing and print, per encoder, what was done."""
    from models.encoder_registry import FROZEN
    from models.pretrained import MissingEncoderPackage

    unknown = [name for name in args.encoders or () if name not in FROZEN]
    if unknown:
        raise UserError(f"unknown or trained encoder(s) {', '.join(unknown)}; featurize knows {', '.join(FROZEN)}")
    if not home.warehouse.exists():
        raise UserError(f"no warehouse at {home.warehouse}: run `postatlas demo` or `postatlas ingest` first")
    prepare_prefect()
    from flows.features import featurize_flow
    from storage.warehouse import WarehouseBusy
    from tasks.report import print_featurize_summary

    with user_errors(MissingEncoderPackage, WarehouseBusy):
        result = featurize_flow(encoders=args.encoders, home=str(home), curated_only=False if args.all_posts else None,
                                device=args.device)
    print_featurize_summary(result, str(home.warehouse))
    return EXIT_OK
