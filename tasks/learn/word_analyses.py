"""Paper 001's questions to the word space: nearest words, languages, top words, text-to-image retrieval, image map.

Each reads the warehouse and the models, writes its PNG under home/reports/word-space/ and returns what it shows.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from models.image_regression import project_images
from models.word_space import language_counts, nearest_rows, top_words_by_language, tsne_map
from storage import word_queries
from storage.figures import save_figure
from storage.home import Home
from storage.image_arrays import image_array
from storage.reports import save_html
from storage.word_queries import REPORT_FOLDER
from tasks.learn.errors import LearningInputError
from tasks.learn.word_report import image_map_page, retrieval_page
from tasks.learn.word_space import (
    image_inputs,
    load_regressor,
    load_space,
    read_posts,
    regression_word_space,
    tokenize,
)
from tasks.ledger import current_run_id
from tasks.plots import bar_chart, contact_sheet, top_words_figure, tsne_thumbnail_map

PROJECT_CHUNK = 10_000
SHEET_PIXELS, THUMBNAIL_PIXELS, MAP_PANEL_PIXELS = 128, 32, 112
MAX_LANGUAGE_PANELS = 6


@dataclass(frozen=True)
class NearestWords:
    """The words nearest to a query, with their cosine similarity, and the chart."""

    model_id: str
    words: list[tuple[str, float]]
    png: str


@dataclass(frozen=True)
class LanguageCounts:
    """Posts per detected language, most first, and the chart."""

    languages: list[tuple[str, int]]
    posts: int
    curated_only: bool
    png: str


@dataclass(frozen=True)
class TopWords:
    """Per language (most posts first), the vocabulary words used by most posts with their post counts."""

    model_id: str
    languages: dict[str, list[tuple[str, int]]]
    curated_only: bool
    png: str


@dataclass(frozen=True)
class RetrievalHit:
    """One retrieved post: its rank, cosine score, image file and caption."""

    rank: int
    post_id: str
    score: float
    image: str
    text: str | None


@dataclass(frozen=True)
class Retrieval:
    """The posts whose projected images are nearest to a query, and their contact sheet (None without a hit)."""

    model_id: str
    word_space_model_id: str
    searched: int
    hits: list[RetrievalHit]
    png: str | None
    html: str | None = None


@dataclass(frozen=True)
class ImageMap:
    """The t-SNE map of a sample's projected images."""

    model_id: str
    points: int
    sampled: int
    png: str
    html: str | None = None


def _file_part(words: list[str]) -> str:
    """Query words as part of a PNG's name."""
    return re.sub(r"[^\w]+", "-", "-".join(words).lower()).strip("-")[:60] or "query"


def _save(figure: Figure, name: str, home: Home) -> str:
    """Write a figure under home/reports/word-space/ (emoji the font lacks are drawn as boxes, not warned about)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        return str(save_figure(figure, word_queries.report_dir(home) / name))


def nearest_words(home: Home, model_id: str, words: list[str], top: int) -> NearestWords:
    """The words nearest to the combination of `words` and their bar chart (UnknownWords when one is unknown)."""
    space = load_space(home, model_id)
    pairs = space.nearest_words(words, topn=top)
    figure = bar_chart([(word, round(score, 3)) for word, score in pairs],
                       f"Words nearest to {' + '.join(words)}", "cosine similarity")
    return NearestWords(model_id, pairs, _save(figure, f"words-{_file_part(words)}.png", home))


def languages(home: Home, curated_only: bool | None = None) -> LanguageCounts:
    """Posts per detected language and their bar chart."""
    posts, curated_only = read_posts(home, curated_only, published=True)
    counts = language_counts(lang or "unknown" for lang in posts.column("lang").to_pylist())
    figure = bar_chart(counts, f"Posts per language ({'curated' if curated_only else 'all'} posts)", "posts")
    return LanguageCounts(counts, posts.num_rows, curated_only, _save(figure, "languages.png", home))


def top_words(home: Home, model_id: str, language: str | None, top: int) -> TopWords:
    """Per language, the vocabulary words used by most posts; one panel per language (the largest six)."""
    space = load_space(home, model_id)
    posts, curated_only = read_posts(home, None, published=True)
    vocabulary = space.vectors.key_to_index
    tokens = [[t for t in text if t in vocabulary] for text in tokenize(posts.column("text").to_pylist())]
    langs = [lang or "unknown" for lang in posts.column("lang").to_pylist()]
    ranking = top_words_by_language(tokens, langs, top=top)
    if language is not None:
        if language not in ranking:
            raise LearningInputError(f"no post in language {language!r}; languages: {', '.join(ranking)}")
        ranking = {language: ranking[language]}
    shown = dict(list(ranking.items())[:MAX_LANGUAGE_PANELS])
    name = f"top-words-{_file_part([language])}.png" if language else "top-words.png"
    return TopWords(model_id, ranking, curated_only, _save(top_words_figure(shown), name, home))


def image_vectors(home: Home, model_id: str, post_ids: list[str], paths: list[str]) -> np.ndarray:
    """The regression CNN's vectors of these posts' images (zero rows for unreadable images), computed in chunks
    and cached next to the model by the post id list."""
    cached = word_queries.cached_image_vectors(home, model_id, post_ids)
    if cached is not None:
        return cached
    model, settings = load_regressor(home, model_id)
    vectors = np.zeros((len(post_ids), model.output_dim), dtype=np.float32)
    chunks = range(0, len(post_ids), PROJECT_CHUNK)
    run_id = current_run_id()
    for begin in tqdm(chunks, desc="projecting images", unit="chunk", leave=False):
        end = begin + PROJECT_CHUNK
        images, present, _ = image_inputs(home, settings, post_ids[begin:end], paths[begin:end], run_id,
                                          cache=False, progress=False)
        chunk = project_images(model, images, device=settings.train.device)
        vectors[begin : begin + len(present)][present] = chunk[present]
    word_queries.save_image_vectors(home, model_id, post_ids, vectors)
    return vectors


def _posts_with_images(home: Home) -> pa.Table:
    posts, _ = read_posts(home, None, published=True)
    posts = posts.filter(pc.is_valid(posts.column("image_path")))
    if posts.num_rows == 0:
        raise LearningInputError("no post has a stored image: ingest posts with images (e.g. `postatlas demo`)")
    return posts


def _pictures(home: Home, paths: list[str], size: int) -> list[np.ndarray]:
    """Images as H x W x 3 uint8 arrays for figures."""
    pixels, _ = image_array(home, paths, size, 3, progress=False)
    return list(np.ascontiguousarray(pixels.transpose(0, 2, 3, 1)))


def retrieve(home: Home, model_id: str, words: list[str], top: int) -> Retrieval:
    """Text-to-image retrieval: the posts whose projected images are nearest to the words' query vector."""
    word_space_id = regression_word_space(home, model_id)
    query = load_space(home, word_space_id).query_vector(words)
    posts = _posts_with_images(home)
    post_ids, paths = posts.column("post_id").to_pylist(), posts.column("image_path").to_pylist()
    vectors = image_vectors(home, model_id, post_ids, paths)
    rows, scores = nearest_rows(vectors, query, top)
    texts = posts.column("text").to_pylist()
    hits = [RetrievalHit(rank, post_ids[row], float(score), str(home.path(paths[row])), texts[row])
            for rank, (row, score) in enumerate(zip(rows, scores, strict=True), start=1)]
    png = html = None
    if hits:
        pictures = _pictures(home, [paths[row] for row in rows], SHEET_PIXELS)
        figure = contact_sheet(pictures, [f"{hit.rank}. {hit.text}" for hit in hits])
        png = _save(figure, f"retrieve-{_file_part(words)}.png", home)
        langs = [posts.column("lang")[int(row)].as_py() for row in rows]
        page = retrieval_page(words, model_id, word_space_id, len(post_ids), hits, langs, pictures)
        html = str(save_html(home, REPORT_FOLDER, f"retrieve-{_file_part(words)}", page))
    return Retrieval(model_id, word_space_id, len(post_ids), hits, png, html)


def _sample_order(post_ids: list[str]) -> np.ndarray:
    """A fixed pseudo-random order of the posts, decided by their ids alone."""
    keys = [hashlib.blake2b(post_id.encode(), digest_size=8).digest() for post_id in post_ids]
    return np.array(sorted(range(len(post_ids)), key=keys.__getitem__), dtype=np.int64)


def image_map(home: Home, model_id: str, sample: int) -> ImageMap:
    """t-SNE map of the projected images of a deterministic sample of posts, thumbnails drawn, coloured by language."""
    posts = _posts_with_images(home)
    chosen = np.sort(_sample_order(posts.column("post_id").to_pylist())[:sample])
    posts = posts.take(pa.array(chosen))
    post_ids, paths = posts.column("post_id").to_pylist(), posts.column("image_path").to_pylist()
    vectors = image_vectors(home, model_id, post_ids, paths)
    keep = np.flatnonzero(np.linalg.norm(vectors, axis=1) > 0)
    if len(keep) < 4:
        raise LearningInputError(f"only {len(keep)} readable images in the sample: a map needs 4 (raise --sample)")
    xy = tsne_map(vectors[keep])
    langs = [posts.column("lang")[int(i)].as_py() or "unknown" for i in keep]
    figure = tsne_thumbnail_map(xy, _pictures(home, [paths[i] for i in keep], THUMBNAIL_PIXELS), langs)
    png = _save(figure, "image-map.png", home)
    mapped = posts.take(pa.array(keep))
    page = image_map_page(model_id, xy, mapped, _pictures(home, [paths[i] for i in keep], MAP_PANEL_PIXELS),
                          len(post_ids))
    return ImageMap(model_id, len(keep), len(post_ids), png, str(save_html(home, REPORT_FOLDER, "image-map", page)))
