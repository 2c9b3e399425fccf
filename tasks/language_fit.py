"""Fit the stacked language identifier on labelled posts in the warehouse (`postatlas train language`)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from models.language_id import balanced_accuracy, fit_language_model
from storage import warehouse
from storage.home import Home
from storage.language_models import default_model_path, language_training_rows, write_model_arrays

LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
NOT_LANGUAGES = ("und", "other", "mixed", "ambiguous")


class LanguageFitError(ValueError):
    """The labels cannot fit a model (too few, or the languages to keep are not among them)."""


@dataclass(frozen=True)
class LanguageFit:
    """What `train language` fitted and how it scored out of fold (folds grouped by author)."""

    path: str
    candidates: tuple[str, ...]
    keep: tuple[str, ...]
    examples: dict[str, int]
    threshold: float
    balanced_accuracy: dict[str, float] = field(default_factory=dict)  # per stage
    recall: dict[str, float] = field(default_factory=dict)  # per language, final stage


def choose_candidates(labels: list[str], min_examples: int) -> tuple[str, ...]:
    """Single-language labels with at least ``min_examples`` posts, most frequent first."""
    counts = Counter(label for label in labels if LANGUAGE_CODE.match(label or "") and label not in NOT_LANGUAGES)
    return tuple(label for label, count in counts.most_common() if count >= min_examples)


def fit_language(
    home: Home, task: str, keep: tuple[str, ...], out: str | None = None, min_examples: int = 20
) -> LanguageFit:
    """Fit on the posts labelled with ``task`` and save the model (default ``models/language/<task>.npz``)."""
    with warehouse.reader(home.warehouse) as con:
        rows = language_training_rows(con, task)
    labels = rows["label"].to_pylist()
    candidates = choose_candidates(labels, min_examples)
    missing = [language for language in keep if language not in candidates]
    if len(candidates) < 2 or missing:
        raise LanguageFitError(
            f"label task {task!r} has {len(rows)} posts; languages with >= {min_examples} posts: "
            f"{', '.join(candidates) or 'none'}; the languages to keep need to be among them (missing: "
            f"{', '.join(missing) or 'none'}). Load labels with `postatlas ingest table ... --label {task}=COLUMN`."
        )
    model, report = fit_language_model(rows["text"].to_pylist(), labels, rows["author_id"].to_pylist(), candidates, keep)
    path = write_model_arrays(model.arrays(), out or default_model_path(home, task))
    kept_class = np.isin(np.array(candidates), keep)
    should_keep = kept_class[report.labels]
    threshold = float(model.threshold)
    stages = (("character n-grams", report.char), ("text: fastText + CLD2 + n-grams (stage 1)", report.base),
              ("text + the author's other posts (stage 2)", report.context))
    scores = {f"{stage}, p >= 0.50": balanced_accuracy(probabilities[:, kept_class].sum(axis=1), should_keep, 0.5)
              for stage, probabilities in stages}
    scores[f"stage 2, tuned threshold p >= {threshold:.2f}"] = balanced_accuracy(
        report.context[:, kept_class].sum(axis=1), should_keep, threshold)
    predicted = report.context.argmax(axis=1)
    recall = {language: float((predicted[report.labels == i] == i).mean()) for i, language in enumerate(candidates)}
    examples = {language: int((report.labels == i).sum()) for i, language in enumerate(candidates)}
    return LanguageFit(str(path), candidates, keep, examples, threshold, scores, recall)
