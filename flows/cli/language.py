"""`postatlas train language`: fit the stacked language identifier that `curate --detector stack` uses."""

from __future__ import annotations

import argparse

from flows.cli.common import EXIT_OK, Subcommands, UserError, prepare_prefect, split_list, user_errors
from storage.home import Home


def register(commands: Subcommands, train_models: Subcommands, predict_models: Subcommands) -> None:
    """Add `train language`."""
    language = train_models.add_parser(
        "language", help="fit the stack language identifier on posts with gold language labels (post_labels)")
    language.add_argument("--labels", default="lang", help="label task holding each post's language (default lang)")
    language.add_argument("--languages", type=split_list, default=["es", "ca", "en"],
                          help="the languages curate will keep: the threshold is tuned for them (default es,ca,en)")
    language.add_argument("--out", help="model file (default POSTATLAS_HOME/models/language/<labels>.npz); "
                                        "use it with `curate --language-model FILE`")
    language.set_defaults(handler=cmd_train_language)


def cmd_train_language(args: argparse.Namespace, home: Home) -> int:
    """Fit, save, and print the out-of-fold scores per stage and the recall per language."""
    if not home.warehouse.exists():
        raise UserError(f"no warehouse at {home.warehouse}: ingest labelled posts first (see docs/FILTERS.md)")
    prepare_prefect()
    from flows.language import train_language_flow
    from storage.warehouse import WarehouseBusy
    from tasks.language_fit import LanguageFitError
    from tasks.report import print_language_fit

    with user_errors(LanguageFitError, WarehouseBusy):
        result = train_language_flow(task=args.labels, keep=args.languages, out=args.out, home=str(home))
    print_language_fit(result)
    return EXIT_OK
