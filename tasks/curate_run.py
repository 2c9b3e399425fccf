"""Curate glue: warehouse posts -> the pure rules in tasks/filters -> decisions, curated set, language cache.

Language detection can run first by hash partition of the posts (``detect_partition``, one task each, on Dask
workers when configured). Each partition stages as Parquet the top language per post (``cache_staged_languages``
stores it in ``posts``) and the detector's full answer per distinct text, which the language rule then reads
instead of detecting again. Detection is deterministic, so the warehouse ends the same with any number of workers.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np
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
    incremental,
    make_detector,
    run_rules,
    summarize,
    survivors,
    top_languages,
)
from tasks.filters.near_duplicates import neighbour_probes
from tasks.filters.rules import duplicate_keys
from tasks.locks import warehouse_writer


class CurateError(ValueError):
    """Curate options that cannot work."""


@dataclass(frozen=True)
class CurateResult:
    """What a curate run did: posts decided (read), posts kept of those, and the per-rule counts in rule order.

    An incremental run decides the new and changed posts and the posts whose decisions depend on them
    (``reopened`` of ``read``: their authors' other posts, their text groups, their images' neighbours); ``removed`` posts were deleted since and lost their decisions; ``curated`` is the
    curated set's size after the run. ``full_reason`` says why a run decided everything (None: incremental).
    """

    read: int
    kept: int
    rules: tuple[RuleCount, ...]
    full_reason: str | None = None
    reopened: int = 0
    removed: int = 0
    curated: int = 0

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


@dataclass(frozen=True)
class _Plan:
    """What a curate run decides: every post (``full_reason`` says why) or the changed posts and their groups."""

    full_reason: str | None
    last_change: int
    posts: pa.Table  # the posts decided from the first rule on (every post, or the changed ones and their authors')
    removed: pa.Array  # changed posts that are gone (deleted): their decisions are withdrawn
    changed: int  # changed posts still there


def run_curate(
    options: dict, home: Home, run_id: str, staged: list[str] | None = None, full: bool = False
) -> CurateResult:
    """Decide the posts that changed since the last run (and those whose decisions depend on them) and record the
    outcome, or every post with ``full``, a first run or other options; returns the summary.

    ``staged``: the files of language-detection partition tasks, whose answers the language rule reuses.
    """
    config = make_config(options)
    with warehouse_writer(home.warehouse, run_id) as con:
        plan = _plan(con, config, full)
    if staged:
        detector = staged_detector(staged, config.detector, config.language_model)
    else:
        detector = load_detector(config.detector, config.language_model) if "language" in config.rules else None
    split = incremental.stages(config) if plan.full_reason is None else None
    head = run_rules(plan.posts, split.head if split else config, detector)
    with warehouse_writer(home.warehouse, run_id) as con:
        decided = _decide_groups(con, plan, split, head)
        kept_ids = _kept(decided.results, plan.posts)
        touched = incremental.union(plan.posts["post_id"].combine_chunks(), plan.removed)
        state = curation.CurationState(
            *incremental.fingerprint(config), plan.last_change, decided.text_keys, decided.image_hashes,
            *(_replaced(config, touched, decided) if plan.full_reason is None else ()),
        )
        summary = summarize(decided.results)
        curation.write_curation(con, run_id, decisions_table(decided.results, run_id), kept_ids,
                                [astuple(c) for c in summary], detected_languages(head), state)
        curated = curation.curated_count(con)
    read = plan.posts.num_rows + len(decided.duplicate_extras) + len(decided.image_extras)
    return CurateResult(read, len(kept_ids), tuple(summary), plan.full_reason, read - plan.changed,
                        len(plan.removed), curated)


def _plan(con, config: CurateConfig, full: bool) -> _Plan:
    """Full or incremental, and the posts to decide from the first rule on."""
    last_change, changed = curation.pending_changes(con)
    stored = curation.curate_state(con)
    reason = (
        "--full" if full
        else "first run" if stored is None
        else incremental.full_run_reason(config)
        or ("the options differ from the last run's" if stored != incremental.fingerprint(config)[0] else None)
    )
    if reason is not None:
        posts = curation.load_posts_for_curation(con)
        return _Plan(reason, last_change, posts, pa.array([], pa.string()), posts.num_rows)
    changed_ids = changed["post_id"].combine_chunks()
    authors = incremental.changed_authors(changed) if incremental.needs_authors(config) else None
    posts = curation.load_posts_for_curation(con, changed_ids, authors)
    removed = incremental.without(changed_ids, posts["post_id"].combine_chunks())
    return _Plan(None, last_change, posts, removed, len(changed_ids) - len(removed))


@dataclass(frozen=True)
class _Decided:
    """Every rule's results of a run, the compact state of what the group rules saw, and the posts they reopened."""

    results: list[RuleResult]
    text_keys: pa.Table
    image_hashes: pa.Table
    duplicate_extras: pa.Array
    image_extras: pa.Array


def _decide_groups(con, plan: _Plan, split: incremental.RuleStages | None, head: list[RuleResult]) -> _Decided:
    """The duplicate and near_duplicate_image rules over the head rules' survivors and, in an incremental run, the
    other members of every text group and image component that a changed post is or was in."""
    none = pa.array([], pa.string())
    results = list(head)
    if split is None:  # a full run: run_rules applied every rule already
        dup_input = _input_of(plan.posts, head, "duplicate")
        near_input = _input_of(plan.posts, head, "near_duplicate_image")
        return _Decided(results, _text_keys(dup_input), _image_table(near_input), none, none)
    touched = incremental.union(plan.posts["post_id"].combine_chunks(), plan.removed)
    duplicate_extras, image_extras = none, none
    seen = survivors(plan.posts, head)
    text_keys = _text_keys(None)
    if split.duplicate is not None:
        keys = duplicate_keys(plan.posts) if plan.posts.num_rows else pa.array([], pa.string())
        duplicate_extras = incremental.without(curation.posts_sharing_text_keys(con, keys, touched), touched)
        seen = _concat(seen, curation.load_posts_for_curation(con, duplicate_extras))
        results += run_rules(seen, split.duplicate)
        text_keys = _text_keys(seen)
        seen = survivors(seen, results[-1:])
    image_table = _image_table(None)
    if split.near_duplicate_image is not None:
        reopened = incremental.union(touched, duplicate_extras)
        component = _image_component(con, reopened, plan.posts, seen, split.near_duplicate_image.phash_distance)
        image_extras = incremental.without(component, reopened)
        seen = _concat(seen, curation.load_posts_for_curation(con, image_extras))
        results += run_rules(seen, split.near_duplicate_image)
        image_table = _image_table(seen)
    return _Decided(results, text_keys, image_table, duplicate_extras, image_extras)


def _image_component(con, reopened: pa.Array, posts: pa.Table, seen: pa.Table, max_distance: int) -> pa.Array:
    """The posts the near_duplicate_image rule saw that are linked, image to image within ``max_distance`` bits,
    to an image a reopened post has or had: the components its decisions must be made over again."""
    _, current = incremental.image_hashes(_concat(posts, seen))
    stored = curation.stored_image_hashes(con, reopened).to_numpy(zero_copy_only=False).astype(np.uint64)
    hashes: set[int] = set()
    frontier = incremental.new_hashes(np.concatenate([current, stored]), hashes)
    found = []
    while len(frontier):
        near = curation.images_near(con, pa.table(neighbour_probes(frontier, max_distance)), max_distance)
        found.append(near["post_id"].combine_chunks())
        frontier = incremental.new_hashes(near["phash"].to_numpy().astype(np.uint64), hashes)
    return incremental.union(*found)


def _replaced(config: CurateConfig, touched: pa.Array, decided: _Decided) -> tuple:
    """An incremental run's rows to replace: every rule of the posts decided from the start, the group rules of
    the posts reopened by one (CurationState's last four fields)."""
    def pairs(post_ids: pa.Array, rules: tuple[str, ...]) -> pa.Table:
        return pa.table({"post_id": pa.array(np.repeat(post_ids.to_numpy(zero_copy_only=False), len(rules)), pa.string()),
                         "rule": pa.array(list(rules) * len(post_ids), pa.string())})

    group_rules = tuple(rule for rule in config.rules if rule in incremental.GROUP_RULES)
    decisions = pa.concat_tables([
        pairs(touched, config.rules), pairs(decided.duplicate_extras, group_rules),
        pairs(decided.image_extras, ("near_duplicate_image",)),
    ])
    reopened = incremental.union(touched, decided.duplicate_extras)
    everything = incremental.union(reopened, decided.image_extras)
    return decisions, everything, reopened, everything


def _input_of(posts: pa.Table, results: list[RuleResult], rule: str) -> pa.Table:
    """The posts ``rule`` evaluated in a full run (none when it did not run)."""
    result = next((r for r in results if r.rule == rule), None)
    if result is None:
        return posts.schema.empty_table()
    return posts.filter(pc.is_in(posts["post_id"], value_set=result.post_ids))


def _text_keys(posts: pa.Table | None) -> pa.Table:
    """(post_id, key) of the posts the duplicate rule saw that have a key."""
    if posts is None or not posts.num_rows:
        return pa.table({"post_id": pa.array([], pa.string()), "key": pa.array([], pa.string())})
    table = pa.table({"post_id": posts["post_id"].combine_chunks().cast(pa.string()), "key": duplicate_keys(posts)})
    return table.filter(pc.is_valid(table["key"]))


def _image_table(posts: pa.Table | None) -> pa.Table:
    """(post_id, phash) of the images the near_duplicate_image rule saw."""
    if posts is None or not posts.num_rows:
        return pa.table({"post_id": pa.array([], pa.string()), "phash": pa.array([], pa.uint64())})
    post_ids, hashes = incremental.image_hashes(posts)
    return pa.table({"post_id": post_ids, "phash": pa.array(hashes, pa.uint64())})


def _concat(first: pa.Table, second: pa.Table) -> pa.Table:
    """Two tables of posts as one (columns of the first)."""
    if not second.num_rows:
        return first
    return pa.concat_tables([first, second.select(first.column_names).cast(first.schema)])


def _kept(results: list[RuleResult], posts: pa.Table) -> pa.Array:
    """The posts the last rule kept (every post decided when no rule ran)."""
    if not results:
        return posts["post_id"].combine_chunks().cast(pa.string())
    return pc.filter(results[-1].post_ids, results[-1].kept).cast(pa.string())


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
