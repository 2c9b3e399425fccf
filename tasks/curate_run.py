"""Curate glue: warehouse posts -> the pure rules in tasks/filters -> decisions, curated set, language cache.

Language detection can run first by hash partition of the posts (``detect_partition``, one task each, on Dask
workers when configured). Each partition stages as Parquet the top language per post (``cache_staged_languages``
stores it in ``posts``) and the detector's full answer per distinct text, which the language rule then reads
instead of detecting again. Detection is deterministic, so the warehouse ends the same with any number of workers.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from models.language_id import LanguageModel
from storage import curation, language_models, warehouse
from storage.home import Home
from tasks.filters import (
    ALL_RULES,
    CurateConfig,
    LanguageDetector,
    RuleCount,
    RuleResult,
    StackDetector,
    detection_text,
    make_detector,
    run_rules,
    summarize,
    top_languages,
)
from tasks.locks import warehouse_writer


class CurateError(ValueError):
    """Curate options that cannot work."""


@dataclass(frozen=True)
class CurateResult:
    """What a curate run did: posts read, posts kept, and the per-rule counts in rule order."""

    read: int
    kept: int
    rules: tuple[RuleCount, ...]

    @property
    def filtered(self) -> int:
        """Posts some rule dropped (read = kept + filtered)."""
        return self.read - self.kept


_CLI_TO_CONFIG = {
    "only": "rules",
    "languages": "languages",
    "detector": "detector",
    "min_confidence": "min_confidence",
    "language_model": "language_model",
    "min_letters": "min_letters",
    "too_short": "too_short",
    "min_words": "min_words",
    "per_user_mode": "per_user_mode",
    "home_cities": "home_cities",
    "city_min_population": "city_min_population",
    "require": "require",
    "bbox": "bbox",
    "phash_distance": "phash_distance",
}


def options_from_cli(args: dict) -> dict:
    """The curate options a user gave on the command line, as CurateConfig keyword arguments."""
    options = {key: args[cli] for cli, key in _CLI_TO_CONFIG.items() if args.get(cli) is not None}
    if args.get("per_user_max") is not None:
        mode = args.get("per_user_mode") or CurateConfig.per_user_mode
        options["per_user_cap" if mode == "cap" else "per_user_max"] = args["per_user_max"]
    for key in ("rules", "languages", "home_cities", "require", "bbox"):
        if key in options:
            options[key] = tuple(options[key])
    if "rules" in options:  # keep the documented order whatever order --only lists them in
        unknown = [rule for rule in options["rules"] if rule not in ALL_RULES]
        if unknown:
            raise CurateError(f"unknown rule(s) {', '.join(unknown)}; rules: {', '.join(ALL_RULES)}")
        options["rules"] = tuple(rule for rule in ALL_RULES if rule in options["rules"])
    return options


def make_config(options: dict) -> CurateConfig:
    """A validated CurateConfig from plain options (JSON-able, so Prefect can show and hash them)."""
    known = {f.name for f in fields(CurateConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise CurateError(f"unknown curate option(s): {', '.join(unknown)}")
    try:
        return CurateConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
    except ValueError as error:
        raise CurateError(str(error)) from error


DECISION_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("post_id", pa.string()), ("rule", pa.string()), ("kept", pa.bool_()),
    ("detail", pa.string()), ("lang", pa.string()), ("lang_confidence", pa.float64()), ("lang_detector", pa.string()),
])


def decisions_table(results: list[RuleResult], run_id: str) -> pa.Table:
    """All rules' decisions as rows of filter_decisions; the language rule's carry the language it found."""
    parts = []
    for r in results:
        count = len(r.kept)
        parts.append(pa.table(
            {
                "run_id": pa.array([run_id] * count, pa.string()),
                "post_id": r.post_ids.cast(pa.string()),
                "rule": pa.array([r.rule] * count, pa.string()),
                "kept": r.kept,
                "detail": r.detail.cast(pa.string()),
                "lang": r.lang if r.lang is not None else pa.nulls(count, pa.string()),
                "lang_confidence": r.lang_confidence if r.lang_confidence is not None else pa.nulls(count, pa.float64()),
                "lang_detector": pa.array([r.lang_detector] * count, pa.string()),
            },
            schema=DECISION_SCHEMA,
        ))
    return pa.concat_tables(parts) if parts else DECISION_SCHEMA.empty_table()


def detected_languages(results: list[RuleResult]) -> pa.Table | None:
    """Languages the language rule detected now, to cache in posts (lang, lang_confidence, lang_detector and, for
    the stack, lang_scores)."""
    result = next((r for r in results if r.rule == "language" and r.detected is not None), None)
    if result is None or not result.detected.any():
        return None
    fresh = pa.array(result.detected)
    count = int(result.detected.sum())
    scores = result.lang_scores.filter(fresh) if result.lang_scores is not None else pa.nulls(count, pa.list_(pa.float32()))
    return pa.table({
        "post_id": result.post_ids.cast(pa.string()).filter(fresh),
        "lang": result.lang.filter(fresh),
        "lang_confidence": result.lang_confidence.cast(pa.float64()).filter(fresh),
        "lang_detector": pa.array([result.lang_detector] * count, pa.string()),
        "lang_scores": scores,
    })


def run_curate(options: dict, home: Home, run_id: str, staged: list[str] | None = None) -> CurateResult:
    """Apply the rules to every post in the warehouse and record the outcome; returns the summary.

    ``staged``: the files of language-detection partition tasks, whose answers the language rule reuses.
    """
    config = make_config(options)
    with warehouse_writer(home.warehouse, run_id) as con:
        posts = curation.load_posts_for_curation(con)
    if staged:
        detector = staged_detector(staged, config.detector, config.language_model)
    else:
        detector = load_detector(config.detector, config.language_model) if "language" in config.rules else None
    results = run_rules(posts, config, detector)
    kept_ids = (
        pc.filter(results[-1].post_ids, results[-1].kept) if results else posts["post_id"].combine_chunks()
    )
    summary = summarize(results)
    with warehouse_writer(home.warehouse, run_id) as con:
        curation.write_curation(
            con, run_id, decisions_table(results, run_id), kept_ids.cast(pa.string()), [astuple(c) for c in summary],
            detected_languages(results),
        )
    return CurateResult(posts.num_rows, len(kept_ids), tuple(summary))


def detect_partition(
    home: Home, detector: str, partition: int, partitions: int, run_id: str, language_model: str | None = None
) -> str:
    """Detect the languages of one partition of the posts not yet detected by ``detector``; the staged file."""
    language = load_detector(detector, language_model)
    with warehouse.reader(home.warehouse) as con:
        posts = curation.posts_to_detect(con, language.name, partition, partitions)
    texts = detection_text(posts["text"]) if posts.num_rows else pa.array([], pa.string())
    unique = pc.unique(pc.drop_null(texts)).to_pylist()
    answers = language.detect(unique)
    known = _Answers(language.name, dict(zip(unique, answers, strict=True)), language)
    lang, confidence = top_languages(posts["text"], known) if posts.num_rows else ([], [])
    staged = pa.table({
        "post_id": posts["post_id"],
        "lang": pa.array(lang, pa.string()),
        "lang_confidence": pa.array(confidence, pa.float64()),
        "lang_detector": pa.array([language.name] * posts.num_rows, pa.string()),
    })
    answers_table = pa.table({
        "text": pa.array(unique, pa.string()),
        "langs": pa.array([[code for code, _ in found] for found in answers], pa.list_(pa.string())),
        "probs": pa.array([[p for _, p in found] for found in answers], pa.list_(pa.float64())),
    })
    stem = home.staging / run_id / f"{detector}-{partition:03d}-of-{partitions:03d}"
    curation.write_staged(answers_table, stem.with_name(stem.name + "-answers.parquet"))
    return curation.write_staged(staged, stem.with_name(stem.name + "-languages.parquet"))


def cache_staged_languages(home: Home, staged: list[str], run_id: str) -> int:
    """Store the partitions' detections in ``posts`` (one transaction); the number of posts updated."""
    with warehouse_writer(home.warehouse, run_id) as con:
        return curation.apply_staged_languages(con, staged)


def load_detector(detector: str, language_model: str | None = None) -> LanguageDetector:
    """``detector``; the stack with the shipped model, or with the one in ``language_model`` (then named
    ``stack:<file stem>``, so that the cache tells the two apart)."""
    if detector != "stack":
        return make_detector(detector)
    try:
        model = LanguageModel.from_arrays(language_models.read_model_arrays(language_model))
    except (OSError, ValueError) as error:
        raise CurateError(f"language model: {error}") from error
    return StackDetector(model, "stack" if language_model is None else f"stack:{Path(language_model).stem}")


class _Answers:
    """A detector that answers from detections made earlier (by text), asking ``fallback`` for the rest."""

    def __init__(self, name: str, answers: dict[str, list[tuple[str, float]]], fallback: LanguageDetector) -> None:
        self.name = name
        self.answers = answers
        self.fallback = fallback

    def __getattr__(self, attribute: str):
        """Anything else (the stack's labels, threshold, context stage) is the fallback's."""
        return getattr(self.fallback, attribute)

    def detect(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """The earlier answer for each text; texts without one are detected by ``fallback`` and remembered."""
        missing = [text for text in texts if text not in self.answers]
        if missing:
            self.answers.update(zip(missing, self.fallback.detect(missing), strict=True))
        return [self.answers[text] for text in texts]


def staged_detector(staged: list[str], detector: str, language_model: str | None = None) -> LanguageDetector:
    """The detector curate's language rule uses after partition tasks ran: their answers, else ``detector``."""
    answers = curation.read_staged_answers([path.replace("-languages.parquet", "-answers.parquet") for path in staged])
    fallback = load_detector(detector, language_model)
    return _Answers(fallback.name, answers, fallback)
