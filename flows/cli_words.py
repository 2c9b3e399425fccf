"""Command-line parsers of paper 001's word space: training it and the regression CNN, and the analyses."""

from __future__ import annotations

import argparse


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def add_word_space_commands(commands: argparse._SubParsersAction, train_models: argparse._SubParsersAction) -> None:
    """Add `train word-space`, `train image-regression`, `words`, `languages`, `top-words`, `retrieve`, `image-map`."""
    space = train_models.add_parser("word-space", help="paper 001's Word2Vec + TF-IDF word space of the captions")
    space.add_argument("--dimensions", type=positive_int, help="vector size (default 300)")
    space.add_argument("--window", type=positive_int, help="context window in words (default 8)")
    space.add_argument("--epochs", type=positive_int, help="passes over the captions (default 50)")
    space.add_argument("--min-count", type=positive_int, help="words used fewer times are dropped (default 5)")
    space.add_argument("--skip-gram", action="store_true", help="skip-gram instead of CBOW (slower, rare words)")
    space.add_argument("--seed", type=int, help="random seed (default 13)")
    space.add_argument("--all-posts", action="store_true", help="every non-deleted post, not only the curated ones")

    regression = train_models.add_parser("image-regression",
                                         help="paper 001's CNN projecting images into the word space")
    regression.add_argument("--word-space", dest="word_space_id", metavar="ID",
                            help="word-space model id (default: the newest; one is trained when there is none)")
    regression.add_argument("--epochs", type=positive_int, help="most epochs (default 10)")
    regression.add_argument("--image-size", type=positive_int, help="image side in pixels (default 64)")
    regression.add_argument("--grey", action="store_true", help="grey images instead of colour")
    regression.add_argument("--batch-size", type=positive_int, help="images per batch (default 64)")
    regression.add_argument("--learning-rate", type=float, help="Adam learning rate (default 0.001)")
    regression.add_argument("--device", help="auto (default: CUDA when present), cpu or cuda")
    regression.add_argument("--seed", type=int, help="random seed (default 13)")
    regression.add_argument("--threads", type=positive_int, help="CPU threads for training (default: every core)")
    regression.add_argument("--all-posts", action="store_true", help="every non-deleted post, not only the curated ones")

    words = commands.add_parser("words", help="words nearest to a combination of words in the word space")
    words.add_argument("words", nargs="+", help="query words, e.g. barcelona food")
    words.add_argument("--top", type=positive_int, default=10, help="words to show (default 10)")
    words.add_argument("--model", dest="model_id", metavar="ID", help="word-space model id (default: the newest)")

    commands.add_parser("languages", help="posts per detected language (curated posts)")

    top_words = commands.add_parser("top-words", help="most used words per language")
    top_words.add_argument("--language", help="only this language (ISO 639-1, e.g. es)")
    top_words.add_argument("--top", type=positive_int, default=15, help="words per language (default 15)")
    top_words.add_argument("--model", dest="model_id", metavar="ID",
                           help="word-space model whose vocabulary counts (default: the newest)")

    retrieve = commands.add_parser("retrieve", help="text-to-image retrieval: images nearest to words")
    retrieve.add_argument("words", nargs="+", help="query words, e.g. beer barcelona")
    retrieve.add_argument("--top", type=positive_int, default=16, help="images to return (default 16)")
    retrieve.add_argument("--model", dest="model_id", metavar="ID",
                          help="image-regression model id (default: the newest)")

    image_map = commands.add_parser("image-map", help="t-SNE map of projected images, with thumbnails")
    image_map.add_argument("--sample", type=positive_int, default=1000, help="posts to map (default 1000)")
    image_map.add_argument("--model", dest="model_id", metavar="ID",
                           help="image-regression model id (default: the newest)")
