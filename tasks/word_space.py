"""Glue between the warehouse and paper 001's word space: train it and the regression CNN, and the analyses.

Training functions take paths, ids, strings and plain dicts (they are Prefect task bodies); the analyses read
the warehouse and the models and write their PNGs under home/reports/word-space/.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from models.fusion_training import subset
from models.image_regression import (
    LOSS,
    ImageRegressor,
    RegressionSettings,
    project_images,
    retrieval_ranks,
    retrieval_scores,
    row_cosines,
    train_regressor,
)
from models.split import assign_splits
from models.text import WORD_SPACE_TOKENIZER
from models.word_space import (
    WordSpace,
    WordSpaceConfig,
    language_counts,
    nearest_rows,
    top_words_by_language,
    train_word_space,
    tsne_map,
)
from storage import learning, model_store, warehouse, word_queries
from storage.datasets import image_cache
from storage.figures import save_figure
from storage.home import Home
from storage.image_arrays import image_array
from storage.word_vectors import load_word_space, save_word_space
from tasks.locks import warehouse_writer
from tasks.plots import bar_chart, contact_sheet, top_words_figure, tsne_thumbnail_map

WORD_SPACE_KIND, REGRESSION_KIND = "word_space", "image_regression"
PROJECT_CHUNK = 10_000
SHEET_PIXELS, THUMBNAIL_PIXELS = 128, 32
MAX_LANGUAGE_PANELS = 6


class WordSpaceInputError(ValueError):
    """The warehouse or the registry cannot feed the asked-for command; the message says what to do."""


def _digest(*parts: Any, size: int = 6) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=size).hexdigest()


def _slug(words: list[str]) -> str:
    return re.sub(r"[^\w]+", "-", "-".join(words).lower()).strip("-")[:60] or "query"


def _save(figure: Figure, name: str, home: Path) -> str:
    """Write a figure under home/reports/word-space/ (emoji the font lacks are drawn as boxes, not warned about)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        return str(save_figure(figure, word_queries.report_dir(home) / name))


def _read_posts(home: Path, curated_only: bool | None) -> tuple[pa.Table, bool]:
    """The posts with a text (curated ones once `curate` has run, unless curated_only says otherwise)."""
    with warehouse.reader(Home.at(home).warehouse) as con:
        if curated_only is None:
            curated_only = learning.has_curation(con)
        posts = word_queries.word_space_posts(con, curated_only)
    if posts.num_rows == 0:
        raise WordSpaceInputError(
            f"no {'curated ' if curated_only else ''}post with a text in the warehouse: run `postatlas demo`, or "
            "`postatlas ingest` then `postatlas curate` (or pass --all-posts)"
        )
    return posts, curated_only


def _tokenize(texts: list[str | None]) -> list[list[str]]:
    return [WORD_SPACE_TOKENIZER(text) for text in tqdm(texts, desc="tokenizing", unit="post", leave=False)]


def _counts(values: np.ndarray) -> dict[str, int]:
    unique, counts = np.unique(values.astype(str), return_counts=True)
    return {str(value): int(count) for value, count in zip(unique, counts, strict=True)}


# ----------------------------------------------------------------------------- training


def train_space(home: str, run_id: str, settings: dict[str, Any], curated_only: bool | None = None) -> dict[str, Any]:
    """Train Word2Vec + TF-IDF on the train split's captions, save it under models/<id>/ and register it."""
    store = Home.at(home)
    config = WordSpaceConfig(**settings)
    posts, curated_only = _read_posts(store.root, curated_only)
    post_ids = posts.column("post_id").to_pylist()
    tokens = _tokenize(posts.column("text").to_pylist())
    split = assign_splits(post_ids)
    has_tokens = np.array([bool(t) for t in tokens], dtype=bool)
    train_rows = np.flatnonzero((split == "train") & has_tokens)
    started = time.perf_counter()
    try:
        space = train_word_space([tokens[i] for i in train_rows], config)
    except ValueError as error:
        raise WordSpaceInputError(f"{error}: lower --min-count or add posts") from error
    seconds = time.perf_counter() - started
    snapshot = _digest(post_ids, size=8)
    model_id = f"word-space-{_digest(snapshot, asdict(config), run_id)}"
    directory = save_word_space(space, model_store.model_dir(store.root, model_id))
    metrics = {"vocabulary": len(space.vectors), "posts": len(train_rows), "tokens": int(sum(len(tokens[i]) for i in
               train_rows)), "dimensions": space.dimensions, "seconds": seconds}
    with warehouse_writer(store.warehouse, run_id) as con:
        learning.register_model(
            con, model_id=model_id, kind=WORD_SPACE_KIND, task=None, variant="skip-gram" if config.skip_gram else
            "cbow", config={**asdict(config), "curated_only": curated_only, "tokenizer": asdict(WORD_SPACE_TOKENIZER)},
            data_snapshot=snapshot, split_sizes=_counts(split[has_tokens]), metrics=metrics,
            checkpoint_path=str(directory.relative_to(store.root)), run_id=run_id,
        )
    return {"model_id": model_id, "path": str(directory), "curated_only": curated_only, "posts_read": len(post_ids),
            **metrics}


def load_space(home: Path, model_id: str) -> WordSpace:
    """A registered word space (UserError-style message when the id is not one)."""
    with warehouse.reader(Home.at(home).warehouse) as con:
        row = learning.model_row(con, model_id)
    if row is None or row["kind"] != WORD_SPACE_KIND:
        raise WordSpaceInputError(f"no word-space model {model_id!r} in the registry: see `postatlas models`")
    directory = home / row["checkpoint_path"]
    if not directory.exists():
        raise WordSpaceInputError(f"word space files {directory} are missing: run `postatlas train word-space`")
    return load_word_space(directory)


def newest_model(home: Path, kind: str) -> str | None:
    """The newest registered model of a kind (None when there is none or no warehouse yet)."""
    path = Home.at(home).warehouse
    if not path.exists():
        return None
    with warehouse.reader(path) as con:
        return word_queries.newest_model_id(con, kind)


def train_regression(
    home: str, run_id: str, settings: dict[str, Any], word_space_id: str, curated_only: bool | None = None
) -> dict[str, Any]:
    """Train the regression CNN (image -> TF-IDF caption vector), evaluate on test, save and register it."""
    store = Home.at(home)
    config = RegressionSettings.from_dict(settings)
    space = load_space(store.root, word_space_id)
    posts, curated_only = _read_posts(store.root, curated_only)
    posts = posts.filter(pc.is_valid(posts.column("image_path")))
    targets, has_vector = space.caption_vectors(_tokenize(posts.column("text").to_pylist()))
    posts, targets = posts.filter(pa.array(has_vector)), targets[has_vector]
    if posts.num_rows == 0:
        raise WordSpaceInputError("no post has both a stored image and a caption word in the word space: "
                                  "add posts with images, or retrain the word space with a lower --min-count")
    post_ids = posts.column("post_id").to_pylist()
    pixels, present = image_array(store.root, posts.column("image_path").to_pylist(), config.image_size,
                                  config.channels, image_cache(store.root))
    split = np.where(present, assign_splits(post_ids), "absent").astype(object)
    snapshot = _digest([p for p, ok in zip(post_ids, present, strict=True) if ok], word_space_id, size=8)
    model_id = f"image-regression-{_digest(snapshot, config.as_dict(), run_id)}"
    model = ImageRegressor(space.dimensions, config)
    arrays = {"image": pixels, "target": targets}
    started = time.perf_counter()
    try:
        result = train_regressor(
            model, arrays, split, config.train,
            save_checkpoint=lambda state: model_store.save_checkpoint(store.root, model_id, state),
            resume_from=model_store.load_checkpoint(store.root, model_id),
        )
    except ValueError as error:
        raise WordSpaceInputError(str(error)) from error
    seconds = time.perf_counter() - started
    test_rows = np.flatnonzero(split == "test")
    outputs = project_images(model, subset(arrays, test_rows)["image"], device=config.train.device)
    test_targets = targets[test_rows]
    ranks = retrieval_ranks(outputs, test_targets)
    test = retrieval_scores(ranks)
    metrics = {
        "val_mean_cosine": result.best_score, "best_epoch": result.best_epoch, "epochs": len(result.history),
        "device": result.device, "seconds": seconds,
        "test_mean_cosine": float(row_cosines(outputs, test_targets).mean()) if len(test_rows) else float("nan"),
        "test_recall_at_10": test["recall_at_10"], "test_median_rank": test["median_rank"],
        "test_images": len(test_rows), "test_recall_at_10_chance": min(10, len(test_rows)) / max(len(test_rows), 1),
        "fit": result.as_dict(),
    }
    path = model_store.save_model(store.root, model_id, {
        "weights": model.state_dict(), "settings": config.as_dict(), "word_space_model_id": word_space_id,
        "output_dim": space.dimensions,
    })
    with warehouse_writer(store.warehouse, run_id) as con:
        learning.register_model(
            con, model_id=model_id, kind=REGRESSION_KIND, task=None, variant=None,
            config={**config.as_dict(), "word_space_model_id": word_space_id, "loss": LOSS,
                    "target": "TF-IDF-weighted mean of the caption's word vectors", "curated_only": curated_only},
            data_snapshot=snapshot, split_sizes=_counts(split[present]), metrics=metrics,
            checkpoint_path=str(path.relative_to(store.root)), run_id=run_id,
        )
    return {"model_id": model_id, "word_space_model_id": word_space_id, "posts": int(present.sum()),
            "split_sizes": _counts(split[present]), **{k: v for k, v in metrics.items() if k != "fit"}}


def _regression_row(home: Path, model_id: str) -> dict[str, Any]:
    with warehouse.reader(Home.at(home).warehouse) as con:
        row = learning.model_row(con, model_id)
    if row is None or row["kind"] != REGRESSION_KIND:
        raise WordSpaceInputError(f"no image-regression model {model_id!r} in the registry: see `postatlas models`")
    return row


def regression_word_space(home: Path, model_id: str) -> str:
    """The id of the word space a regression CNN was trained to project into."""
    return _regression_row(home, model_id)["config"]["word_space_model_id"]


def load_regressor(home: Path, model_id: str) -> tuple[ImageRegressor, RegressionSettings]:
    """A registered regression CNN with its weights, and its settings."""
    state = model_store.load_model(home, _regression_row(home, model_id)["checkpoint_path"])
    settings = RegressionSettings.from_dict(state["settings"])
    model = ImageRegressor(state["output_dim"], settings)
    model.load_state_dict(state["weights"])
    return model.eval(), settings


# ----------------------------------------------------------------------------- analyses


def nearest_words(home: Path, model_id: str, words: list[str], top: int) -> dict[str, Any]:
    """The words nearest to the combination of `words` and their bar chart (UnknownWords when one is unknown)."""
    space = load_space(home, model_id)
    pairs = space.nearest_words(words, topn=top)
    figure = bar_chart([(word, round(score, 3)) for word, score in pairs],
                       f"Words nearest to {' + '.join(words)}", "cosine similarity")
    png = _save(figure, f"words-{_slug(words)}.png", home)
    return {"model_id": model_id, "words": pairs, "png": png}


def languages(home: Path, curated_only: bool | None = None) -> dict[str, Any]:
    """Posts per detected language and their bar chart."""
    posts, curated_only = _read_posts(home, curated_only)
    counts = language_counts(lang or "unknown" for lang in posts.column("lang").to_pylist())
    figure = bar_chart(counts, f"Posts per language ({'curated' if curated_only else 'all'} posts)", "posts")
    png = _save(figure, "languages.png", home)
    return {"languages": counts, "posts": posts.num_rows, "curated_only": curated_only, "png": png}


def top_words(home: Path, model_id: str, language: str | None, top: int) -> dict[str, Any]:
    """Per language, the vocabulary words used by most posts; one panel per language (the largest six)."""
    space = load_space(home, model_id)
    posts, curated_only = _read_posts(home, None)
    vocabulary = space.vectors.key_to_index
    tokens = [[t for t in text if t in vocabulary] for text in _tokenize(posts.column("text").to_pylist())]
    langs = [lang or "unknown" for lang in posts.column("lang").to_pylist()]
    ranking = top_words_by_language(tokens, langs, top=top)
    if language is not None:
        if language not in ranking:
            raise WordSpaceInputError(f"no post in language {language!r}; languages: {', '.join(ranking)}")
        ranking = {language: ranking[language]}
    shown = dict(list(ranking.items())[:MAX_LANGUAGE_PANELS])
    name = f"top-words-{_slug([language])}.png" if language else "top-words.png"
    png = _save(top_words_figure(shown), name, home)
    return {"model_id": model_id, "languages": ranking, "curated_only": curated_only, "png": png}


def image_vectors(home: Path, model_id: str, post_ids: list[str], paths: list[str]) -> np.ndarray:
    """The regression CNN's vectors of these posts' images (zero rows for unreadable images), computed in chunks
    and cached next to the model by the post id list."""
    cached = word_queries.cached_image_vectors(home, model_id, post_ids)
    if cached is not None:
        return cached
    model, settings = load_regressor(home, model_id)
    vectors = np.zeros((len(post_ids), model.output_dim), dtype=np.float32)
    chunks = range(0, len(post_ids), PROJECT_CHUNK)
    for begin in tqdm(chunks, desc="projecting images", unit="chunk", leave=False):
        pixels, present = image_array(home, paths[begin : begin + PROJECT_CHUNK], settings.image_size,
                                      settings.channels, None, progress=False)
        chunk = project_images(model, pixels, device=settings.train.device)
        vectors[begin : begin + len(present)][present] = chunk[present]
    word_queries.save_image_vectors(home, model_id, post_ids, vectors)
    return vectors


def _posts_with_images(home: Path) -> pa.Table:
    posts, _ = _read_posts(home, None)
    posts = posts.filter(pc.is_valid(posts.column("image_path")))
    if posts.num_rows == 0:
        raise WordSpaceInputError("no post has a stored image: ingest posts with images (e.g. `postatlas demo`)")
    return posts


def _pictures(home: Path, paths: list[str], size: int) -> list[np.ndarray]:
    """Images as H x W x 3 uint8 arrays for figures."""
    pixels, _ = image_array(home, paths, size, 3, None, progress=False)
    return list(np.ascontiguousarray(pixels.transpose(0, 2, 3, 1)))


def retrieve(home: Path, model_id: str, words: list[str], top: int) -> dict[str, Any]:
    """Text-to-image retrieval: the posts whose projected images are nearest to the words' query vector."""
    word_space_id = regression_word_space(home, model_id)
    query = load_space(home, word_space_id).query_vector(words)
    posts = _posts_with_images(home)
    post_ids, paths = posts.column("post_id").to_pylist(), posts.column("image_path").to_pylist()
    vectors = image_vectors(home, model_id, post_ids, paths)
    rows, scores = nearest_rows(vectors, query, top)
    texts = posts.column("text").to_pylist()
    hits = [{"rank": rank, "post_id": post_ids[row], "score": float(score), "image": str(home / paths[row]),
             "text": texts[row]} for rank, (row, score) in enumerate(zip(rows, scores, strict=True), start=1)]
    png = None
    if hits:
        figure = contact_sheet(_pictures(home, [paths[row] for row in rows], SHEET_PIXELS),
                               [f"{hit['rank']}. {hit['text']}" for hit in hits])
        png = _save(figure, f"retrieve-{_slug(words)}.png", home)
    return {"model_id": model_id, "word_space_model_id": word_space_id, "searched": len(post_ids), "hits": hits,
            "png": png}


def _sample_order(post_ids: list[str]) -> np.ndarray:
    """A fixed pseudo-random order of the posts, decided by their ids alone."""
    keys = [hashlib.blake2b(post_id.encode(), digest_size=8).digest() for post_id in post_ids]
    return np.array(sorted(range(len(post_ids)), key=keys.__getitem__), dtype=np.int64)


def image_map(home: Path, model_id: str, sample: int) -> dict[str, Any]:
    """t-SNE map of the projected images of a deterministic sample of posts, thumbnails drawn, coloured by language."""
    posts = _posts_with_images(home)
    chosen = np.sort(_sample_order(posts.column("post_id").to_pylist())[:sample])
    posts = posts.take(pa.array(chosen))
    post_ids, paths = posts.column("post_id").to_pylist(), posts.column("image_path").to_pylist()
    vectors = image_vectors(home, model_id, post_ids, paths)
    keep = np.flatnonzero(np.linalg.norm(vectors, axis=1) > 0)
    if len(keep) < 4:
        raise WordSpaceInputError(f"only {len(keep)} readable images in the sample: a map needs 4 (raise --sample)")
    xy = tsne_map(vectors[keep])
    langs = [posts.column("lang")[int(i)].as_py() or "unknown" for i in keep]
    figure = tsne_thumbnail_map(xy, _pictures(home, [paths[i] for i in keep], THUMBNAIL_PIXELS), langs)
    png = _save(figure, "image-map.png", home)
    return {"model_id": model_id, "points": len(keep), "sampled": len(post_ids), "png": png}
