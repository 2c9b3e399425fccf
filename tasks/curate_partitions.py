"""Language detection by hash partition of the posts: the part of curate that scales out (Dask workers).

Each partition task reads its posts read-only, detects their languages and stages the result as Parquet: the
top language per post (cached in ``posts``) and the detector's full answer per distinct text, which curate's
language rule then reads instead of detecting again. Detection is deterministic, so the warehouse ends the same
with any number of workers.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from storage import curation, warehouse
from storage.home import Home
from tasks.curate import DETECTORS, LanguageDetector, detection_text, top_languages
from tasks.locks import warehouse_writer


def detect_partition(home: str, detector: str, partition: int, partitions: int, run_id: str) -> str:
    """Detect the languages of one partition of the posts not yet detected by ``detector``; the staged file."""
    paths = Home.at(home)
    with warehouse.reader(paths.warehouse) as con:
        posts = curation.posts_to_detect(con, detector, partition, partitions)
    language = DETECTORS[detector]()
    texts = detection_text(posts["text"]) if posts.num_rows else pa.array([], pa.string())
    unique = pc.unique(pc.drop_null(texts)).to_pylist()
    answers = language.detect(unique)
    lang, confidence = top_languages(posts["text"], _Answers(language.name, dict(zip(unique, answers)), language)) \
        if posts.num_rows else ([], [])
    staged = pa.table({
        "post_id": posts["post_id"],
        "lang": pa.array(lang, pa.string()),
        "lang_confidence": pa.array(confidence, pa.float64()),
        "lang_detector": pa.array([detector] * posts.num_rows, pa.string()),
    })
    answers_table = pa.table({
        "text": pa.array(unique, pa.string()),
        "langs": pa.array([[code for code, _ in found] for found in answers], pa.list_(pa.string())),
        "probs": pa.array([[p for _, p in found] for found in answers], pa.list_(pa.float64())),
    })
    stem = paths.root / "staging" / run_id / f"{detector}-{partition:03d}-of-{partitions:03d}"
    curation.write_staged(answers_table, stem.with_name(stem.name + "-answers.parquet"))
    return curation.write_staged(staged, stem.with_name(stem.name + "-languages.parquet"))


def cache_staged_languages(home: str, staged: list[str], run_id: str) -> int:
    """Store the partitions' detections in ``posts`` (one transaction); the number of posts updated."""
    paths = Home.at(home)
    with warehouse_writer(paths.warehouse, run_id) as con:
        con.execute("BEGIN")
        updated = curation.apply_staged_languages(con, staged)
        con.execute("COMMIT")
    return updated


class _Answers:
    """A detector that answers from detections made earlier (by text), asking ``fallback`` for the rest."""

    def __init__(self, name: str, answers: dict[str, list[tuple[str, float]]], fallback: LanguageDetector) -> None:
        self.name = name
        self.answers = answers
        self.fallback = fallback

    def detect(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        missing = [text for text in texts if text not in self.answers]
        if missing:
            self.answers.update(zip(missing, self.fallback.detect(missing)))
        return [self.answers[text] for text in texts]


def staged_detector(staged: list[str], detector: str) -> LanguageDetector:
    """The detector curate's language rule uses after partition tasks ran: their answers, else ``detector``."""
    answers: dict[str, list[tuple[str, float]]] = {}
    for path in staged:
        table = pq.read_table(path.replace("-languages.parquet", "-answers.parquet"))
        for text, langs, probs in zip(*(table[c].to_pylist() for c in ("text", "langs", "probs"))):
            answers[text] = list(zip(langs, probs))
    return _Answers(detector, answers, DETECTORS[detector]())
