"""The rule engine and the rules: ``config.rules`` in order, each applied to the posts the rules before it kept.

Every dropped post is counted once, under the first rule that dropped it; "earlier" always means ordered by
``created_at`` (missing last), then ``post_id``. docs/FILTERS.md describes each rule and how it was measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.filters.arrays import as_numpy, contiguous
from tasks.filters.config import DEFAULT_MIN_CONFIDENCE, CurateConfig
from tasks.filters.gazetteer import city_gazetteer, named_cities
from tasks.filters.language import (
    FastDetector,
    LanguageDetector,
    StackDetector,
    detection_text,
    language_probabilities,
    make_detector,
    stage_one_parallel,
)
from tasks.filters.near_duplicates import greedy_near_duplicates, parse_phash
from tasks.filters.text import normalized_text, strip_urls_mentions

POST_SCHEMA = pa.schema(
    [
        ("post_id", pa.string()),
        ("author_id", pa.string()),
        ("text", pa.string()),
        ("hashtags", pa.list_(pa.string())),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("has_image", pa.bool_()),
        ("image_phash", pa.string()),
        ("lang", pa.string()),
        ("lang_confidence", pa.float64()),
        ("lang_detector", pa.string()),
        ("is_repost", pa.bool_()),
        ("repost_of", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("lang_scores", pa.list_(pa.float32())),
    ]
)
OPTIONAL_COLUMNS = ("lang_scores",)  # a cache: absent means nothing cached


@dataclass
class RuleResult:
    """One rule's decision for each post it evaluated; ``detail`` says why a post was dropped (null if kept)."""

    rule: str
    post_ids: pa.Array
    kept: pa.BooleanArray
    detail: pa.StringArray
    lang: pa.StringArray | None = None
    lang_confidence: pa.DoubleArray | None = None
    lang_detector: str | None = None
    lang_scores: pa.ListArray | None = None  # the stack's per-text stage 1, to cache
    detected: np.ndarray | None = None  # posts whose language was detected now (to cache), not read from the cache


def run_rules(posts: pa.Table, config: CurateConfig, detect: LanguageDetector | None = None) -> list[RuleResult]:
    """Apply ``config.rules`` in order, each to the survivors of the previous ones (columns cast to POST_SCHEMA)."""
    for name in OPTIONAL_COLUMNS:
        if name not in posts.column_names:
            posts = posts.append_column(name, pa.nulls(len(posts), POST_SCHEMA.field(name).type))
    missing = [name for name in POST_SCHEMA.names if name not in posts.column_names]
    if missing:
        raise ValueError(f"posts lack columns {missing}")
    posts = posts.select(POST_SCHEMA.names).cast(POST_SCHEMA)
    if pc.count_distinct(posts["post_id"]).as_py() != len(posts):
        raise ValueError("post_id must be unique")
    if detect is not None and detect.name.split(":")[0] != config.detector:
        raise ValueError(f"detector {detect.name!r} given but config.detector is {config.detector!r}")
    results = []
    for name in config.rules:
        if name == "language":
            result = language_rule(posts, config, detect or make_detector(config.detector))
        else:
            kept, detail = _RULES[name](posts, config)
            result = RuleResult(name, posts["post_id"].combine_chunks(), pa.array(kept), detail)
        results.append(result)
        posts = posts.filter(result.kept)
    return results


@dataclass(frozen=True)
class RuleCount:
    """How many posts one rule evaluated, kept and dropped (a row of paper 001's discards table)."""

    rule: str
    evaluated: int
    kept: int
    dropped: int


def summarize(results: list[RuleResult]) -> list[RuleCount]:
    """Per rule: how many posts it evaluated, kept and dropped."""
    summary = []
    for result in results:
        kept = pc.sum(result.kept).as_py() or 0
        summary.append(RuleCount(result.rule, len(result.kept), kept, len(result.kept) - kept))
    return summary


def survivors(posts: pa.Table, results: list[RuleResult]) -> pa.Table:
    """The posts that the last rule kept, i.e. that every rule in ``results`` kept."""
    if not results:
        return posts
    return posts.filter(pc.is_in(posts["post_id"], value_set=pc.filter(results[-1].post_ids, results[-1].kept)))


def empty_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop posts without text or with only whitespace."""
    has_text = pc.fill_null(pc.match_substring_regex(posts["text"], r"\S"), False)
    kept = as_numpy(has_text)
    return kept, _detail(kept, "no text")


def min_words_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop posts with fewer than ``min_words`` words (URLs and @mentions removed, hashtags counted)."""
    stripped = pc.utf8_trim_whitespace(strip_urls_mentions(posts["text"]))
    counted = pc.list_value_length(pc.utf8_split_whitespace(stripped))
    words = pc.fill_null(pc.if_else(pc.equal(stripped, ""), 0, counted), 0)
    kept = as_numpy(words) >= config.min_words
    return kept, _detail(kept, pc.cast(words, pa.string()), f" words < {config.min_words}")


def language_rule(posts: pa.Table, config: CurateConfig, detector: LanguageDetector) -> RuleResult:
    """Keep posts whose allowed languages reach the threshold; the stack when it knows every allowed language,
    else fastText (a stack fitted on other languages cannot judge these)."""
    if hasattr(detector, "with_context"):
        if detector.covers(config.languages):
            return _stack_language_rule(posts, config, detector)
        detector = FastDetector()
    return _single_detector_rule(posts, config, detector)


def _single_detector_rule(posts: pa.Table, config: CurateConfig, detector: LanguageDetector) -> RuleResult:
    """One detector per text: keep where p(allowed) reaches the threshold; detect only where the cache cannot tell."""
    threshold = DEFAULT_MIN_CONFIDENCE if config.min_confidence is None else config.min_confidence
    if config.detector != detector.name:  # the stack fell back to fastText: its cache is fastText's
        config = replace(config, detector=detector.name)
    lang = posts["lang"].combine_chunks()
    confidence = as_numpy(pc.fill_null(posts["lang_confidence"], 0.0)).astype(np.float64)
    cached = as_numpy(
        pc.fill_null(pc.and_(pc.equal(posts["lang_detector"], config.detector), pc.is_valid(lang)), False)
    )
    allowed = as_numpy(pc.fill_null(pc.is_in(lang, value_set=pa.array(config.languages)), False))
    undetermined = as_numpy(pc.fill_null(pc.equal(lang, "und"), False))
    low = np.where(allowed, confidence, 0.0)
    high = np.where(allowed, 1.0, np.where(undetermined, 0.0, 1.0 - confidence))
    fresh = ~(cached & ((low >= threshold) | (high < threshold)))
    p_allowed = np.where(low >= threshold, low, high)
    lang_out = lang.to_numpy(zero_copy_only=False)
    if fresh.any():
        found_lang, found_conf, found_p = language_probabilities(
            detection_text(posts["text"].filter(pa.array(fresh))), detector, config.languages, config.processes
        )
        lang_out[fresh], confidence[fresh], p_allowed[fresh] = found_lang, found_conf, found_p
    kept = p_allowed >= threshold
    detail = np.full(len(posts), None, dtype=object)
    detail[~kept] = [
        f"lang={lang_out[i]} p(allowed){'=' if fresh[i] else '<='}{p_allowed[i]:.2f}" for i in np.flatnonzero(~kept)
    ]
    kept, detail = _too_short(posts, config, kept, detail)
    return RuleResult(
        "language",
        posts["post_id"].combine_chunks(),
        pa.array(kept),
        pa.array(detail, pa.string()),
        pa.array(lang_out, pa.string()),
        pa.array(confidence, pa.float64()),
        detector.name,
        detected=fresh,
    )


def _stack_language_rule(posts: pa.Table, config: CurateConfig, detector) -> RuleResult:
    """The stack: stage 1 per distinct text (cached per post in ``lang_scores``), then the author prior over every
    post this rule sees, in one pass; keep where p(allowed) reaches the model's threshold (or --min-confidence)."""
    labels = detector.labels
    scores = posts["lang_scores"].combine_chunks()
    cached = as_numpy(
        pc.fill_null(
            pc.and_(pc.equal(posts["lang_detector"], detector.name), pc.equal(pc.list_value_length(scores), len(labels))),
            False,
        )
    )
    base = np.zeros((len(posts), len(labels)))
    if cached.any():
        base[cached] = pc.list_flatten(scores.filter(pa.array(cached))).to_numpy().reshape(-1, len(labels))
    texts = detection_text(posts["text"])
    letters = as_numpy(pc.fill_null(pc.count_substring_regex(texts, r"\pL"), 0))
    fresh = ~cached & (letters > 0)
    if fresh.any():
        encoded = pc.dictionary_encode(texts.filter(pa.array(fresh)))
        if isinstance(detector, StackDetector):
            distinct = stage_one_parallel(detector, encoded.dictionary, config.processes)
        else:  # the answers partition tasks staged, as (label, probability) lists
            distinct = _label_matrix(detector.detect(encoded.dictionary.to_pylist()), labels)
        # rounded as the cache stores them (FLOAT), so a cached post decides exactly as a fresh one
        base[fresh] = distinct.astype(np.float32)[as_numpy(encoded.indices)]
    authors = as_numpy(pc.fill_null(pc.dictionary_encode(posts["author_id"].combine_chunks()).indices, -1))
    has_letter = letters > 0
    final = np.zeros_like(base)
    final[has_letter] = detector.with_context(base[has_letter], authors[has_letter].astype(np.int64))
    allowed = [labels.index(language) for language in config.languages]
    p_allowed = final[:, allowed].sum(axis=1)
    best = final.argmax(axis=1)
    lang = np.where(has_letter, np.array(labels, dtype=object)[best], "und")
    confidence = final[np.arange(len(posts)), best]
    threshold = detector.threshold if config.min_confidence is None else config.min_confidence
    kept = p_allowed >= threshold
    detail = np.full(len(posts), None, dtype=object)
    detail[~kept] = [f"lang={lang[i]} p(allowed)={p_allowed[i]:.2f}" for i in np.flatnonzero(~kept)]
    kept, detail = _too_short(posts, config, kept, detail, letters)
    rows = pa.array(base.astype(np.float32).ravel())
    return RuleResult(
        "language",
        posts["post_id"].combine_chunks(),
        pa.array(kept),
        pa.array(detail, pa.string()),
        pa.array(lang, pa.string()),
        pa.array(confidence, pa.float64()),
        detector.name,
        pa.FixedSizeListArray.from_arrays(rows, len(labels)).cast(pa.list_(pa.float32())),
        fresh,
    )


def _label_matrix(found: list[list[tuple[str, float]]], labels: tuple[str, ...]) -> np.ndarray:
    """(label, probability) lists as one row per text, one column per label."""
    column = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(found), len(labels)))
    for row, ranked in enumerate(found):
        for label, probability in ranked:
            matrix[row, column[label]] = probability
    return matrix


def _too_short(
    posts: pa.Table, config: CurateConfig, kept: np.ndarray, detail: np.ndarray, letters: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Posts with fewer than ``min_letters`` letters: decided by the detector, kept, or dropped (``too_short``)."""
    if config.too_short == "detect" or config.min_letters <= 0:
        return kept, detail
    if letters is None:
        letters = as_numpy(pc.fill_null(pc.count_substring_regex(detection_text(posts["text"]), r"\pL"), 0))
    short = letters < config.min_letters
    if config.too_short == "keep":
        return kept | short, np.where(short, None, detail)
    return kept & ~short, np.where(short, f"too short to tell (< {config.min_letters} letters)", detail)


def per_user_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop all posts of heavy authors ("drop") or each author's posts beyond the earliest few ("cap")."""
    author, counts = _codes(posts["author_id"])
    total = np.zeros(len(author), dtype=np.int64)
    known = author >= 0  # posts without an author (MVSA, bulk tables) count as their own
    total[known] = counts[author[known]]
    if config.per_user_mode == "drop":
        kept = total <= config.per_user_max
        return kept, _detail(kept, "user has ", pa.array(total).cast(pa.string()), f" posts > {config.per_user_max}")
    order = chronological(posts)
    by_author = order[np.argsort(author[order], kind="stable")]
    sorted_author = author[by_author]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_author)) + 1]
    rank = np.empty(len(posts), dtype=np.int64)
    rank[by_author] = np.arange(len(posts)) - np.repeat(starts, np.diff(np.r_[starts, len(posts)]))
    kept = (author < 0) | (rank < config.per_user_cap)
    return kept, _detail(
        kept, "user has ", pa.array(total).cast(pa.string()), f" posts, beyond the first {config.per_user_cap}"
    )


def city_spam_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop posts whose text or hashtags name a non-home city (whole words, accents folded)."""
    gazetteer = city_gazetteer(config.city_min_population, tuple(config.home_cities))
    named = named_cities(posts["text"], posts["hashtags"], gazetteer)
    kept = np.equal(named, None)
    return kept, _detail(kept, "names city '", pa.array(named, pa.string()), "'")


def require_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop posts missing any component in ``config.require``."""
    present = {
        "image": lambda: as_numpy(pc.fill_null(posts["has_image"], False)),
        "coordinates": lambda: _has_coordinates(posts),
        "hashtags": lambda: as_numpy(pc.fill_null(pc.greater(pc.list_value_length(posts["hashtags"]), 0), False)),
        "text": lambda: as_numpy(pc.fill_null(pc.match_substring_regex(posts["text"], r"\S"), False)),
    }
    combination = np.zeros(len(posts), dtype=np.int64)
    for bit, name in enumerate(config.require):
        combination |= (~present[name]()).astype(np.int64) << bit
    labels = [
        "missing " + ", ".join(name for bit, name in enumerate(config.require) if code >> bit & 1)
        for code in range(1 << len(config.require))
    ]
    kept = combination == 0
    return kept, _detail(kept, pa.array(labels).take(pa.array(combination)))


def bbox_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop posts outside ``config.bbox``; those without coordinates per ``bbox_keep_missing``."""
    if config.bbox is None:
        return np.ones(len(posts), dtype=bool), pa.nulls(len(posts), pa.string())
    min_lon, min_lat, max_lon, max_lat = config.bbox
    lon = as_numpy(pc.fill_null(posts["lon"], np.nan))
    lat = as_numpy(pc.fill_null(posts["lat"], np.nan))
    located = _has_coordinates(posts)
    in_lon = (lon >= min_lon) & (lon <= max_lon) if min_lon <= max_lon else (lon >= min_lon) | (lon <= max_lon)
    inside = in_lon & (lat >= min_lat) & (lat <= max_lat)
    kept = np.where(located, inside, config.bbox_keep_missing)
    reason = np.where(located, "outside bbox", "no coordinates")
    return kept, _detail(kept, pa.array(reason, pa.string()))


def duplicate_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop reposts, then posts whose normalised text equals an earlier post's."""
    repost = as_numpy(pc.fill_null(posts["is_repost"], False))
    codes, _ = _codes(duplicate_keys(posts))
    order = chronological(posts)
    first = np.full(len(posts), -1, dtype=np.int64)
    distinct, first_seen = np.unique(codes[order], return_index=True)
    first[distinct[distinct >= 0]] = order[first_seen[distinct >= 0]]
    original = np.where(codes >= 0, first[codes], -1)
    duplicate = (original >= 0) & (original != np.arange(len(posts)))
    kept = ~repost & ~duplicate
    post_ids = posts["post_id"].combine_chunks()
    of_post = post_ids.take(pa.array(np.maximum(original, 0))) if len(posts) else post_ids
    repost_of = pc.binary_join_element_wise("repost", posts["repost_of"].combine_chunks(), " of ", null_handling="skip")
    reason = pc.if_else(pa.array(repost), repost_of, pc.binary_join_element_wise("duplicate of ", of_post, ""))
    return kept, _detail(kept, reason)


def duplicate_keys(posts: pa.Table) -> pa.Array:
    """What the duplicate rule compares: the normalised text; null for reposts and posts without text."""
    repost = pc.fill_null(posts["is_repost"], False)
    key = normalized_text(posts["text"])
    return contiguous(pc.if_else(pc.or_(repost, pc.fill_null(pc.equal(key, ""), True)), pa.scalar(None, pa.string()), key))


def near_duplicate_image_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop posts whose image hash is within ``phash_distance`` bits of an earlier kept post's."""
    order = chronological(posts)
    hashed = as_numpy(pc.fill_null(pc.and_(posts["has_image"], pc.is_valid(posts["image_phash"])), False))[order]
    rows = order[hashed]
    hashes = parse_phash(posts["image_phash"].take(pa.array(rows)))
    dropped_by = greedy_near_duplicates(hashes, config.phash_distance)
    kept = np.ones(len(posts), dtype=bool)
    kept[rows] = dropped_by < 0
    by_row = np.full(len(posts), -1, dtype=np.int64)
    by_row[rows] = np.where(dropped_by >= 0, rows[np.maximum(dropped_by, 0)], -1)
    bits = np.zeros(len(posts), dtype=np.int64)
    bits[rows] = np.bitwise_count(hashes ^ hashes[np.maximum(dropped_by, 0)])
    post_ids = posts["post_id"].combine_chunks()
    by_id = post_ids.take(pa.array(np.maximum(by_row, 0))) if len(posts) else post_ids
    return kept, _detail(kept, "image within ", pa.array(bits).cast(pa.string()), " bits of ", by_id)


def chronological(posts: pa.Table) -> np.ndarray:
    """Row indices by created_at (missing last), then post_id."""
    keys = [("created_at", "ascending", "at_end"), ("post_id", "ascending", "at_end")]
    return as_numpy(pc.sort_indices(posts.select(["created_at", "post_id"]), keys)).astype(np.int64)


def _has_coordinates(posts: pa.Table) -> np.ndarray:
    """Whether lat and lon are both present and not NaN."""
    lat = as_numpy(pc.fill_null(posts["lat"], np.nan))
    lon = as_numpy(pc.fill_null(posts["lon"], np.nan))
    return ~np.isnan(lat) & ~np.isnan(lon)


def _codes(values: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integer code per value (-1 for null) and the number of rows per code."""
    encoded = contiguous(pc.dictionary_encode(values))
    codes = as_numpy(pc.fill_null(encoded.indices, -1)).astype(np.int64)
    return codes, np.bincount(codes[codes >= 0], minlength=len(encoded.dictionary))


def _detail(kept: np.ndarray, *parts: str | pa.Array) -> pa.Array:
    """Concatenate ``parts`` element-wise into a reason for dropped rows; null where kept."""
    pieces = [pa.scalar(part, pa.string()) if isinstance(part, str) else part for part in parts]
    joined = pc.binary_join_element_wise(*pieces, "") if len(pieces) > 1 else pieces[0]
    return contiguous(pc.if_else(pa.array(kept, pa.bool_()), pa.scalar(None, pa.string()), joined))


_RULES: dict[str, Callable[[pa.Table, CurateConfig], tuple[np.ndarray, pa.Array]]] = {
    "empty": empty_rule,
    "min_words": min_words_rule,
    "per_user": per_user_rule,
    "city_spam": city_spam_rule,
    "require": require_rule,
    "bbox": bbox_rule,
    "duplicate": duplicate_rule,
    "near_duplicate_image": near_duplicate_image_rule,
}
