"""Paper 003's commands: `train fusion` and `predict fusion`."""

from __future__ import annotations

import argparse
from typing import Any

from flows.cli.common import EXIT_OK, Subcommands, prepare_prefect, split_list, user_errors
from storage.home import Home


def register(commands: Subcommands, train_models: Subcommands, predict_models: Subcommands) -> None:
    """Add `train fusion` and `predict fusion`."""
    fusion = train_models.add_parser("fusion", help="paper 003's classifiers for a label task in post_labels")
    fusion.add_argument("--task", required=True, help="label task, e.g. sentiment (see `postatlas models --tasks`)")
    fusion.add_argument("--variant", type=split_list, default=["all"],
                        help="image, text, late, early, joint, common, probe (a linear layer over the features), "
                        "comma-separated, or all (default; then also `ensemble`, the mean of the best three)")
    fusion.add_argument("--text-encoder",
                        help="text encoders joined by '+': e5-small, minilm (pretrained, frozen), bag-max, bag-mean, "
                        "gru, lstm (trained; at most one) (default e5-small+minilm+bag; paper 003: bag-max)")
    fusion.add_argument("--image-encoder",
                        help="image encoders joined by '+': efficientnet-lite0, ocr (pretrained, frozen) or "
                        "scratch-cnn (trained from scratch, paper 003) (default efficientnet-lite0)")
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
    fusion.set_defaults(handler=cmd_train_fusion)

    predict = predict_models.add_parser("fusion", help="label every curated post that has no gold label")
    predict.add_argument("--task", required=True)
    predict.add_argument("--model", dest="model_id",
                         help="model_id (default: the best model by validation accuracy, an ensemble if it is best)")
    predict.set_defaults(handler=cmd_predict_fusion)


def learning_errors() -> tuple[type[BaseException], ...]:
    """The errors of the learning commands a user can fix (bad task, missing file or package, busy warehouse)."""
    from storage.warehouse import WarehouseBusy
    from tasks.learn.errors import LearningInputError

    return LearningInputError, FileNotFoundError, ImportError, ValueError, WarehouseBusy


def fusion_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options given on the command line; the rest keep FusionSettings' defaults."""
    settings: dict = {}
    train: dict = {}
    image_train: dict = {}
    for name in ("text_encoder", "image_encoder", "image_size", "negatives", "main_task_weight", "ngrams",
                 "image_backbone"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    if args.image_backbone is not None and args.image_encoder is None:
        settings["image_encoder"] = "scratch-cnn"  # a local backbone replaces the CNN trained from scratch
    if args.balanced:
        settings["balanced_classes"] = True
    if args.grey:
        settings["channels"] = 1
    if args.end_to_end:
        settings["share_image_encoder"] = False
    for name in ("batch_size", "device", "seed", "patience"):
        if getattr(args, name) is not None:
            train[name] = image_train[name] = getattr(args, name)
    if args.learning_rate is not None:
        train["learning_rate"] = args.learning_rate
    if args.image_learning_rate is not None:
        image_train["learning_rate"] = args.image_learning_rate
    if args.epochs is not None:
        train["epochs"] = args.epochs
    if args.image_epochs is not None:
        image_train["epochs"] = args.image_epochs
    from models.fusion_training import FusionSettings

    defaults = FusionSettings()
    settings["train"] = {**defaults.train.__dict__, **train}
    settings["image_train"] = {**defaults.image_train.__dict__, **image_train}
    return settings


def cmd_train_fusion(args: argparse.Namespace, home: Home) -> int:
    """Train the fusion variants of a label task and print paper 003's table."""
    prepare_prefect()
    from flows.learn import train_fusion_flow
    from tasks.report import print_fusion_summary

    with user_errors(*learning_errors()):
        result = train_fusion_flow(task_name=args.task, variants=args.variant, home=str(home),
                                   settings=fusion_settings(args), curated_only=False if args.all_posts else None,
                                   retrain=args.retrain, split_task=args.split_task)
    print_fusion_summary(result)
    return EXIT_OK


def cmd_predict_fusion(args: argparse.Namespace, home: Home) -> int:
    """Label every curated post without a gold label."""
    prepare_prefect()
    from flows.learn import predict_fusion_flow
    from tasks.report import print_prediction_summary

    with user_errors(*learning_errors()):
        result = predict_fusion_flow(task_name=args.task, model_id=args.model_id, home=str(home))
    print_prediction_summary(result, str(home.warehouse))
    return EXIT_OK
