"""Paper 002's bot detection: `train bots` and `predict bots` (accounts from `ingest pan-authors`)."""

from __future__ import annotations

import argparse

from flows.cli.common import EXIT_OK, Subcommands, UserError, prepare_prefect, split_list, user_errors
from storage.home import Home


def register(commands: Subcommands, train_models: Subcommands, predict_models: Subcommands) -> None:
    """Add `train bots` and `predict bots`."""
    train = train_models.add_parser("bots", help="bot / human classifiers of accounts (user_labels task bots)")
    train.add_argument("--methods", type=split_list,
                       help="comma-separated from char+word, char, joint-knn, joint-cnn (default: the char ones, "
                            "and the joint ones when a joint model exists; predict uses the best)")
    train.add_argument("--joint-model", metavar="ID",
                       help="the joint model whose post vectors joint-knn / joint-cnn read (default: the newest)")
    train.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    train.set_defaults(handler=cmd_train_bots)
    predict = predict_models.add_parser("bots", help="label every account without a gold bot label")
    predict.add_argument("--model", help="a bots model id (default: the best by cross-validated accuracy)")
    predict.set_defaults(handler=cmd_predict_bots)


def _check_home(home: Home) -> None:
    if not home.warehouse.exists():
        raise UserError(f"no warehouse at {home.warehouse}: `postatlas ingest pan-authors FOLDER` first")


def cmd_train_bots(args: argparse.Namespace, home: Home) -> int:
    """Train, register, print each method's cross-validated accuracy, F1 and AUC."""
    from models.bots import METHODS

    unknown = [m for m in args.methods or () if m not in METHODS]
    if unknown:
        raise UserError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if args.folds < 2:
        raise UserError(f"--folds needs at least 2, got {args.folds}")
    _check_home(home)
    prepare_prefect()
    from flows.bots import train_bots_flow
    from storage.warehouse import WarehouseBusy
    from tasks.learn.errors import LearningInputError
    from tasks.report import print_bot_training

    with user_errors(LearningInputError, WarehouseBusy):
        result = train_bots_flow(methods=args.methods, folds=args.folds, home=str(home), joint_model=args.joint_model)
    print_bot_training(result)
    return EXIT_OK


def cmd_predict_bots(args: argparse.Namespace, home: Home) -> int:
    """Predict and print how many accounts got each label."""
    _check_home(home)
    prepare_prefect()
    from flows.bots import predict_bots_flow
    from storage.warehouse import WarehouseBusy
    from tasks.learn.errors import LearningInputError
    from tasks.report import print_bot_predictions

    with user_errors(LearningInputError, WarehouseBusy, FileNotFoundError):
        result = predict_bots_flow(model_id=args.model, home=str(home))
    print_bot_predictions(result)
    return EXIT_OK
