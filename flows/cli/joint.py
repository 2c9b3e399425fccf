"""Paper 002's commands: `train joint` (the joint embedding of a post's five parts); `embed --model <joint id>`
lives with `embed` in clusters.py."""

from __future__ import annotations

import argparse

from flows.cli.common import (
    EXIT_OK,
    Subcommands,
    UserError,
    add_training_options,
    given,
    positive_int,
    prepare_prefect,
    split_list,
    user_errors,
)
from flows.cli.fusion import learning_errors
from storage.home import Home


def register(commands: Subcommands, train_models: Subcommands, predict_models: Subcommands) -> None:
    """Add `train joint`."""
    from models.joint_options import OBJECTIVES, PARTS

    joint = train_models.add_parser(
        "joint", help="paper 002's joint embedding of text, image, hashtags, user and location")
    joint.add_argument("--parts", type=split_list,
                       help=f"comma-separated from {','.join(PARTS)} (default: every part some post has)")
    joint.add_argument("--objective", choices=OBJECTIVES,
                       help="others (default, measured best): each part against the mean of the post's other "
                       "parts; mean: against the mean of all its parts (paper 002 as written); pairwise: VSE++ "
                       "between exactly two parts (the paper's baseline)")
    joint.add_argument("--hashtags-in-text", action="store_true",
                       help="keep the hashtags' words in the text (the 'VSE++ with hashtags' baseline)")
    joint.add_argument("--text-input", metavar="NAME",
                       help="words (default: word2vec-initialised embeddings + GRU, the paper's) or a frozen "
                       "sentence encoder: e5-small, minilm")
    joint.add_argument("--dimension", type=positive_int, help="joint space size (default 1024)")
    joint.add_argument("--text-hidden", type=positive_int, help="GRU state size (default 1024)")
    joint.add_argument("--word-dimension", type=positive_int, help="word vector size (default 300)")
    joint.add_argument("--user-dimension", type=positive_int, help="node2vec vector size (default 128)")
    joint.add_argument("--margin", type=float, help="triplet margin (default 0.2)")
    joint.add_argument("--epochs", type=positive_int, help="epochs (default 30; x0.1 learning rate after half)")
    joint.add_argument("--batch-size", type=positive_int, help="posts per batch (default 128)")
    joint.add_argument("--learning-rate", type=float, help="Adam learning rate (default 2e-4)")
    joint.add_argument("--validate-every", type=positive_int, metavar="STEPS",
                       help="also validate every this many steps (default: once per epoch)")
    add_training_options(joint)
    joint.add_argument("--retrain", action="store_true",
                       help="train again even when a model of the same data and settings exists")
    joint.set_defaults(handler=cmd_train_joint)
    applications = register_evaluate(commands)
    hashtags = predict_models.add_parser("hashtags", help="recommend hashtags to the posts without one (joint model)")
    hashtags.add_argument("--k", type=positive_int, default=5, help="hashtags per post (default 5)")
    hashtags.add_argument("--model", dest="model_id", metavar="ID", help="joint model id (default: the newest)")
    hashtags.set_defaults(handler=cmd_predict_hashtags)
    evaluate_tags = applications.add_parser(
        "hashtags", help="P/R/F1@1..5 on held-out posts: joint model vs most frequent hashtags and a text classifier")
    evaluate_tags.add_argument("--model", dest="model_id", metavar="ID", help="joint model id (default: the newest)")
    evaluate_tags.set_defaults(handler=cmd_evaluate_hashtags)
    location = predict_models.add_parser(
        "location", help="a city for the posts without coordinates (joint model features and the words)")
    location.add_argument("--model", dest="model_id", metavar="ID", help="joint model id (default: the newest)")
    _location_options(location)
    location.set_defaults(handler=cmd_predict_location)
    evaluate_location = applications.add_parser(
        "location", help="accuracy, Acc@161 km, median km on held-out posts: joint model vs a text-only baseline")
    evaluate_location.add_argument("--model", dest="model_id", metavar="ID",
                                   help="joint model id (default: the newest)")
    _location_options(evaluate_location)
    evaluate_location.set_defaults(handler=cmd_evaluate_location)


def joint_settings(args: argparse.Namespace) -> dict:
    """The JointSettings given on the command line (``parts`` only when given: otherwise the data decides)."""
    from models.encoder_registry import FROZEN, spec
    from models.joint import JointSettings

    if args.text_input not in (None, "words") and (args.text_input not in FROZEN
                                                    or spec(args.text_input).modality != "text"):
        raise UserError(f"--text-input is words or a frozen text encoder ({', '.join(n for n in FROZEN if spec(n).modality == 'text')}), "
                        f"got {args.text_input!r}")
    overrides = given(args, ("parts", "objective", "text_input", "dimension", "text_hidden", "word_dimension",
                              "user_dimension", "margin", "epochs", "batch_size", "learning_rate", "validate_every",
                              "device", "threads", "seed"))
    if args.hashtags_in_text:
        overrides["hashtags_in_text"] = True
    if "parts" in overrides:
        overrides["parts"] = tuple(overrides["parts"])
    try:
        settings = JointSettings().with_overrides(overrides).with_decay_at_half()
    except ValueError as error:
        raise UserError(str(error)) from error
    values = settings.as_dict()
    if "parts" not in overrides:
        values.pop("parts")
    return values


def cmd_train_joint(args: argparse.Namespace, home: Home) -> int:
    """Train the joint model and print posts per part and its retrieval scores."""
    if not home.warehouse.exists():
        raise UserError(f"no warehouse at {home.warehouse}: run `postatlas ingest` first")
    settings = joint_settings(args)
    prepare_prefect()
    from flows.joint import train_joint_flow
    from tasks.report import print_joint_training

    with user_errors(*learning_errors()):
        result = train_joint_flow(home=str(home), settings=settings, curated_only=False if args.all_posts else None,
                                  retrain=args.retrain, device=args.device or "auto")
    print_joint_training(result)
    return EXIT_OK


def add_retrieve_options(retrieve: argparse.ArgumentParser) -> None:
    """`retrieve`'s joint-model options (the command itself lives with paper 001's word space)."""
    from models.joint_options import TARGETS

    query = retrieve.add_mutually_exclusive_group()
    query.add_argument("--text", help="a text: its text part against the stored posts' --target part")
    query.add_argument("--image", metavar="PATH", help="an image file: its image part against the --target part")
    query.add_argument("--post", metavar="POST_ID", help="a stored post: its --query-part against the --target part")
    retrieve.add_argument("--query-part", choices=TARGETS,
                          help="with --post: which of its parts asks (default its text, else its mean of parts)")
    retrieve.add_argument("--target", choices=TARGETS,
                          help="the part of the stored posts to rank (default: image for --text, text for "
                          "--image, post = the mean of parts for --post)")
    retrieve.add_argument("--device", default="auto", help="where the query is encoded: auto (default), cpu, cuda")


def joint_query_given(args: argparse.Namespace) -> bool:
    """Whether `retrieve` was asked a joint-model query."""
    return any(getattr(args, name) is not None for name in ("text", "image", "post"))


def cmd_joint_retrieve(args: argparse.Namespace, home: Home) -> int:
    """Print the nearest posts of a joint-model query."""
    import textwrap
    from pathlib import Path

    from tasks.learn.joint_retrieval import retrieve
    from tasks.report import print_rows

    if args.image is not None and not Path(args.image).is_file():
        raise UserError(f"no image file at {args.image}")
    target = args.target or ("image" if args.text is not None else "text" if args.image is not None else "post")
    with user_errors(*learning_errors()):
        result = retrieve(home, args.model_id, target, args.top or 10, text=args.text,
                          image=Path(args.image) if args.image else None, post_id=args.post,
                          query_part=args.query_part, device=args.device)
    print_rows(("rank", "post_id", "score", "image", "text"), [
        (hit.rank, hit.post_id, f"{hit.score:.3f}", hit.image or "",
         textwrap.shorten(" ".join((hit.text or "").split()), width=60, placeholder=" ..."))
        for hit in result.hits
    ], f"Posts whose {result.target} is nearest to {result.query} among {result.searched} vectors "
       f"(model {result.model_id})")
    return EXIT_OK


def register_evaluate(commands: Subcommands) -> Subcommands:
    """Add `evaluate` and its `retrieval` subcommand; returns the subcommands for more applications."""
    evaluate = commands.add_parser("evaluate", help="paper 002's applications scored against their baselines")
    applications = evaluate.add_subparsers(dest="application", required=True, metavar="APPLICATION")
    retrieval = applications.add_parser(
        "retrieval", help="image <-> text R@1/5/10 and median rank on held-out posts, joint model vs VSE++")
    retrieval.add_argument("--model", dest="model_id", metavar="ID", help="joint model id (default: the newest)")
    retrieval.add_argument("--no-baselines", action="store_true",
                           help="only the joint model (do not train the two VSE++ baselines)")
    retrieval.add_argument("--retrain", action="store_true", help="train the baselines again")
    retrieval.set_defaults(handler=cmd_evaluate_retrieval)
    return applications


def cmd_evaluate_retrieval(args: argparse.Namespace, home: Home) -> int:
    """Train (or reuse) the baselines on the joint model's snapshot and print Tables 2 and 3's columns."""
    if not home.warehouse.exists():
        raise UserError(f"no warehouse at {home.warehouse}: run `postatlas ingest` first")
    prepare_prefect()
    from flows.joint import evaluate_retrieval_flow
    from tasks.report import print_retrieval_comparison

    with user_errors(*learning_errors()):
        result = evaluate_retrieval_flow(home=str(home), model_id=args.model_id, baselines=not args.no_baselines,
                                         retrain=args.retrain)
    print_retrieval_comparison(result)
    return EXIT_OK


def _needs_warehouse(home: Home) -> None:
    if not home.warehouse.exists():
        raise UserError(f"no warehouse at {home.warehouse}: run `postatlas ingest` first")


def cmd_predict_hashtags(args: argparse.Namespace, home: Home) -> int:
    """Recommend hashtags and say how many posts got them."""
    _needs_warehouse(home)
    prepare_prefect()
    from flows.joint import predict_hashtags_flow
    from tasks.report import print_hashtag_predictions

    with user_errors(*learning_errors()):
        result = predict_hashtags_flow(home=str(home), model_id=args.model_id, k=args.k)
    print_hashtag_predictions(result)
    return EXIT_OK


def cmd_evaluate_hashtags(args: argparse.Namespace, home: Home) -> int:
    """Score the recommendations on held-out posts beside the baselines."""
    _needs_warehouse(home)
    prepare_prefect()
    from flows.joint import evaluate_hashtags_flow
    from tasks.report import print_application_scores

    with user_errors(*learning_errors()):
        result = evaluate_hashtags_flow(home=str(home), model_id=args.model_id)
    print_application_scores(result)
    return EXIT_OK


def _location_options(parser: argparse.ArgumentParser) -> None:
    from models.joint_options import LOCATION_CLASSIFIERS as CLASSIFIERS
    from models.joint_options import LOCATION_DECISIONS as DECISIONS

    parser.add_argument("--classifier", choices=CLASSIFIERS, default="linear",
                        help="over the joint features: logistic regression (default, measured best) or the paper's "
                             "random forest (slow with hundreds of cities)")
    parser.add_argument("--decision", choices=DECISIONS, default="nearby",
                        help="nearby (default): the city with the most probability within 161 km; city: the most "
                             "probable city")


def cmd_predict_location(args: argparse.Namespace, home: Home) -> int:
    """Predict cities and say how many posts got one."""
    _needs_warehouse(home)
    prepare_prefect()
    from flows.joint import predict_location_flow
    from tasks.report import print_location_predictions

    with user_errors(*learning_errors()):
        result = predict_location_flow(home=str(home), model_id=args.model_id, classifier=args.classifier,
                                       decision=args.decision)
    print_location_predictions(result)
    return EXIT_OK


def cmd_evaluate_location(args: argparse.Namespace, home: Home) -> int:
    """Score location prediction on held-out posts beside the text-only baseline."""
    _needs_warehouse(home)
    prepare_prefect()
    from flows.joint import evaluate_location_flow
    from tasks.report import print_application_scores

    with user_errors(*learning_errors()):
        result = evaluate_location_flow(home=str(home), model_id=args.model_id, classifier=args.classifier,
                                        decision=args.decision)
    print_application_scores(result)
    return EXIT_OK
