"""Paper 001's commands: train the word space and the regression CNN, and the analyses.

The analyses use the newest model of each kind unless `--model` names one, and train one with the defaults first
when there is none (a note says so).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

from flows.cli.common import (
    EXIT_OK,
    Subcommands,
    UserError,
    add_training_options,
    given,
    note,
    positive_int,
    prepare_prefect,
)
from storage.home import Home

AUTO_REGRESSION_SETTINGS: dict = {"train": {"epochs": 10}}
IMAGE_ENCODER_CHOICES = ("efficientnet-lite0", "scratch-cnn")  # models/image_regression.py IMAGE_ENCODERS


def register(commands: Subcommands, train_models: Subcommands, predict_models: Subcommands) -> None:
    """Add `train word-space`, `train image-regression`, `words`, `languages`, `top-words`, `retrieve`, `image-map`."""
    space = train_models.add_parser("word-space", help="paper 001's Word2Vec + TF-IDF word space of the captions")
    space.add_argument("--dimensions", type=positive_int, help="vector size (default 300)")
    space.add_argument("--window", type=positive_int, help="context window in words (default 8)")
    space.add_argument("--epochs", type=positive_int, help="passes over the captions (default 50)")
    space.add_argument("--min-count", type=positive_int, help="words used fewer times are dropped (default 5)")
    space.add_argument("--skip-gram", action="store_true", help="skip-gram instead of CBOW (slower, rare words)")
    add_training_options(space, device=False)
    space.set_defaults(handler=cmd_train_word_space)

    regression = train_models.add_parser("image-regression",
                                         help="paper 001's CNN projecting images into the word space")
    regression.add_argument("--word-space", dest="word_space_id", metavar="ID",
                            help="word-space model id (default: the newest; one is trained when there is none)")
    regression.add_argument("--image-encoder", choices=IMAGE_ENCODER_CHOICES,
                            help="efficientnet-lite0: a head on its frozen stored features (default; posts without "
                            "them are encoded first); scratch-cnn: paper 001's CNN trained from scratch on pixels")
    regression.add_argument("--hidden", type=int, metavar="N",
                            help="hidden units of the head on frozen features, 0 for a linear head (default 512)")
    regression.add_argument("--epochs", type=positive_int, help="most epochs (default 10)")
    regression.add_argument("--image-size", type=positive_int,
                            help="scratch-cnn: image side in pixels (default 64; implies scratch-cnn)")
    regression.add_argument("--grey", action="store_true",
                            help="scratch-cnn: grey images instead of colour (implies scratch-cnn)")
    regression.add_argument("--batch-size", type=positive_int, help="images per batch (default 64)")
    regression.add_argument("--learning-rate", type=float, help="Adam learning rate (default 0.001)")
    add_training_options(regression)

    regression.set_defaults(handler=cmd_train_word_space)

    words = commands.add_parser("words", help="words nearest to a combination of words in the word space")
    words.add_argument("words", nargs="+", help="query words, e.g. barcelona food")
    words.add_argument("--top", type=positive_int, default=10, help="words to show (default 10)")
    words.add_argument("--model", dest="model_id", metavar="ID", help="word-space model id (default: the newest)")

    words.set_defaults(handler=cmd_words)

    languages = commands.add_parser("languages", help="posts per detected language (curated posts)")
    languages.set_defaults(handler=cmd_languages)

    top_words = commands.add_parser("top-words", help="most used words per language")
    top_words.add_argument("--language", help="only this language (ISO 639-1, e.g. es)")
    top_words.add_argument("--top", type=positive_int, default=15, help="words per language (default 15)")
    top_words.add_argument("--model", dest="model_id", metavar="ID",
                           help="word-space model whose vocabulary counts (default: the newest)")

    top_words.set_defaults(handler=cmd_top_words)

    retrieve = commands.add_parser(
        "retrieve", help="nearest posts: images nearest to words (paper 001's word space), or with a joint model "
        "(paper 002) any part of a text, image or post against any part of the stored posts")
    retrieve.add_argument("words", nargs="*", help="query words for the word space, e.g. beer barcelona")
    retrieve.add_argument("--top", type=positive_int, help="posts to return (default 16 for words, 10 otherwise)")
    retrieve.add_argument("--model", dest="model_id", metavar="ID",
                          help="image-regression model id for words, joint model id for --text/--image/--post "
                          "(default: the newest of that kind)")
    from flows.cli.joint import add_retrieve_options

    add_retrieve_options(retrieve)

    retrieve.set_defaults(handler=cmd_retrieve)

    image_map = commands.add_parser("image-map", help="t-SNE map of projected images, with thumbnails")
    image_map.add_argument("--sample", type=positive_int, default=1000, help="posts to map (default 1000)")
    image_map.add_argument("--model", dest="model_id", metavar="ID",
                           help="image-regression model id (default: the newest)")
    image_map.set_defaults(handler=cmd_image_map)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Problems the user can fix become UserError (exit 2 with the message)."""
    from models.word_space import UnknownWords
    from storage.warehouse import WarehouseBusy
    from tasks.learn.errors import LearningInputError

    try:
        yield
    except UnknownWords as error:
        raise UserError(f"{error}; try `postatlas top-words` for words the space knows") from error
    except (LearningInputError, FileNotFoundError, WarehouseBusy, ValueError) as error:
        raise UserError(str(error)) from error


def _space_settings(args: argparse.Namespace) -> dict:
    """The WordSpaceSettings fields given on the command line (the rest keep paper 001's defaults)."""
    settings = given(args, ("dimensions", "window", "epochs", "min_count", "seed"))
    if args.skip_gram:
        settings["skip_gram"] = True
    return settings


def _regression_settings(args: argparse.Namespace) -> dict:
    """The RegressionSettings given on the command line; the training loop's go under `train`."""
    settings = given(args, ("image_size", "image_encoder", "hidden"))
    if args.grey:
        settings["channels"] = 1
    pixel_options = [flag for flag, used in (("--image-size", args.image_size is not None), ("--grey", args.grey))
                     if used]
    if pixel_options and args.image_encoder is None:
        note(f"{' and '.join(pixel_options)} apply to the CNN trained on pixels: training scratch-cnn "
             "(--image-encoder scratch-cnn)")
        settings["image_encoder"] = "scratch-cnn"
    elif pixel_options and args.image_encoder != "scratch-cnn":
        raise UserError(f"{' and '.join(pixel_options)} only apply to --image-encoder scratch-cnn")
    if args.hidden is not None and args.hidden < 0:
        raise UserError("--hidden must be 0 (a linear head) or more")
    settings["train"] = given(args, ("epochs", "batch_size", "learning_rate", "device", "seed", "threads"))
    return settings


def _train_space(home: Home, settings: dict, curated_only: bool | None) -> str:
    from flows.words import train_word_space_flow
    from tasks.report import print_rows

    result = train_word_space_flow(home=str(home), settings=settings, curated_only=curated_only)
    print_rows(("", "value"), [
        ("model_id", result.model_id),
        ("posts", f"{result.posts} captions of the train split ({result.posts_read} "
                  f"{'curated ' if result.curated_only else ''}posts read)"),
        ("vocabulary", f"{result.vocabulary} words x {result.dimensions} dimensions"),
        ("tokens", result.tokens),
        ("seconds", f"{result.seconds:.1f}"),
        ("saved", result.path),
    ], "Word space trained")
    return result.model_id


def _train_regression(home: Home, word_space_id: str | None, settings: dict, curated_only: bool | None) -> str:
    from flows.words import train_image_regression_flow
    from tasks.report import print_rows

    result = train_image_regression_flow(word_space_id=word_space_id, home=str(home), settings=settings,
                                         curated_only=curated_only)
    sizes = result.split_sizes
    print_rows(("", "value"), [
        ("model_id", result.model_id),
        ("word space", result.word_space_model_id),
        ("image encoder", result.image_encoder + (" (CNN trained from scratch on pixels)"
                                                  if result.image_encoder == "scratch-cnn" else
                                                  f" (frozen features, {result.features_encoded} posts encoded now)")),
        ("posts", f"{result.posts} with an image and a caption vector (train {sizes.get('train', 0)}, "
                  f"val {sizes.get('val', 0)}, test {sizes.get('test', 0)})"),
        ("val mean cosine", f"{result.val_mean_cosine:.3f} (best epoch {result.best_epoch} of "
                            f"{result.epochs})"),
        ("test mean cosine", f"{result.test_mean_cosine:.3f}"),
        ("test recall@10", f"{result.test_recall_at_10:.3f} (chance {result.test_recall_at_10_chance:.3f}, "
                           f"{result.test_images} test images)"),
        ("test median rank", f"{result.test_median_rank:.1f}"),
        ("image->caption", f"recall@1 {result.test_image_to_caption_recall_at_1:.3f}, "
                           f"@5 {result.test_image_to_caption_recall_at_5:.3f}, "
                           f"@10 {result.test_image_to_caption_recall_at_10:.3f}, "
                           f"median rank {result.test_image_to_caption_median_rank:.1f}"),
        ("device, seconds", f"{result.device}, {result.seconds:.1f}"),
    ], "Image regression trained (loss: 1 - cosine)")
    return result.model_id


def _word_space_for(home: Home, model_id: str | None) -> str:
    """The named word space, else the newest, else a new one trained with the defaults."""
    from tasks.learn.registry import newest_model
    from tasks.learn.word_space import WORD_SPACE_KIND

    chosen = model_id or newest_model(home, WORD_SPACE_KIND)
    if chosen is None:
        note("no word-space model yet: training one with the defaults first (`postatlas train word-space`)")
        prepare_prefect()
        chosen = _train_space(home, {}, None)
    return chosen


def _regressor_for(home: Home, model_id: str | None) -> str:
    """The named regression CNN, else the newest, else a new one (10 epochs) into the newest word space."""
    from tasks.learn.registry import newest_model
    from tasks.learn.word_space import REGRESSION_KIND

    chosen = model_id or newest_model(home, REGRESSION_KIND)
    if chosen is None:
        space = _word_space_for(home, None)
        note(f"no image-regression model yet: training one ({AUTO_REGRESSION_SETTINGS['train']['epochs']} epochs) "
              f"into {space} first (`postatlas train image-regression`)")
        prepare_prefect()
        chosen = _train_regression(home, space, AUTO_REGRESSION_SETTINGS, None)
    return chosen


def cmd_train_word_space(args: argparse.Namespace, home: Home) -> int:
    """`train word-space` and `train image-regression`."""
    prepare_prefect()
    curated_only = False if args.all_posts else None
    with _user_errors():
        if args.model == "word-space":
            _train_space(home, _space_settings(args), curated_only)
        else:
            _train_regression(home, _word_space_for(home, args.word_space_id), _regression_settings(args),
                              curated_only)
    return EXIT_OK


def _query_words(words: list[str]) -> list[str]:
    """Words as the tokenizer writes them: lower case, hashtags without `#`."""
    return [word.lower().lstrip("#") for word in words]


def cmd_words(args: argparse.Namespace, home: Home) -> int:
    """Print the words nearest to a combination of words."""
    from tasks.learn.word_analyses import nearest_words
    from tasks.report import print_rows

    with _user_errors():
        words = _query_words(args.words)
        result = nearest_words(home, _word_space_for(home, args.model_id), words, args.top)
    print_rows(("word", "similarity"), [(word, f"{score:.3f}") for word, score in result.words],
               f"Words nearest to {' + '.join(words)} (model {result.model_id})")
    print(f"chart: {result.png}")
    return EXIT_OK


def cmd_languages(args: argparse.Namespace, home: Home) -> int:
    """Print the posts per detected language."""
    from tasks.learn.word_analyses import languages
    from tasks.report import print_rows

    with _user_errors():
        result = languages(home)
    total = result.posts
    print_rows(("language", "posts", "share %"), [(lang, n, f"{100 * n / total:.1f}") for lang, n in
                                                  result.languages],
               f"Posts per language ({total} {'curated ' if result.curated_only else ''}posts)")
    print(f"chart: {result.png}")
    return EXIT_OK


def cmd_top_words(args: argparse.Namespace, home: Home) -> int:
    """Print the most used words per language."""
    from tasks.learn.word_analyses import MAX_LANGUAGE_PANELS, top_words
    from tasks.report import print_rows

    with _user_errors():
        result = top_words(home, _word_space_for(home, args.model_id), args.language, args.top)
    shown = list(result.languages.items())[:MAX_LANGUAGE_PANELS]
    longest = max(len(pairs) for _, pairs in shown)
    rows = [(rank + 1, *(f"{pairs[rank][0]} ({pairs[rank][1]})" if rank < len(pairs) else "" for _, pairs in shown))
            for rank in range(longest)]
    print_rows(("rank", *(language for language, _ in shown)), rows,
               f"Top words per language: word (posts using it), vocabulary of {result.model_id}")
    print(f"chart: {result.png}")
    return EXIT_OK


def cmd_retrieve(args: argparse.Namespace, home: Home) -> int:
    """Print the images nearest to words (text-to-image retrieval), or a joint model's nearest posts."""
    from flows.cli.joint import cmd_joint_retrieve, joint_query_given
    from tasks.learn.word_analyses import retrieve
    from tasks.report import print_rows

    if joint_query_given(args):
        if args.words:
            raise UserError("give query words (word space) or --text / --image / --post (joint model), not both")
        return cmd_joint_retrieve(args, home)
    if not args.words:
        raise UserError("give query words, or --text, --image or --post for a joint model")
    with _user_errors():
        words = _query_words(args.words)
        result = retrieve(home, _regressor_for(home, args.model_id), words, args.top or 16)
    print_rows(("rank", "post_id", "score", "image", "text"), [
        (hit.rank, hit.post_id, f"{hit.score:.3f}", hit.image,
         textwrap.shorten(" ".join((hit.text or "").split()), width=50, placeholder=" ..."))
        for hit in result.hits
    ], f"Images nearest to {' + '.join(words)} among {result.searched} posts with images "
       f"(model {result.model_id})")
    if result.png:
        print(f"contact sheet: {result.png}")
    if result.html:
        print(f"interactive page: {result.html}")
    return EXIT_OK


def cmd_image_map(args: argparse.Namespace, home: Home) -> int:
    """Draw the t-SNE map of projected images."""
    from tasks.learn.word_analyses import image_map

    with _user_errors():
        result = image_map(home, _regressor_for(home, args.model_id), args.sample)
    print(f"t-SNE map of {result.points} projected images ({result.sampled} posts sampled, "
          f"model {result.model_id})")
    print(f"map: {result.png}")
    if result.html:
        print(f"interactive map: {result.html}")
    return EXIT_OK
