"""Paper 001's training flows: the word space (Word2Vec + TF-IDF) and the regression CNN into it.

Tasks take the home, ids and settings; results are persisted, so a retried run skips what finished, and a
regression CNN interrupted mid-way resumes from its last epoch's checkpoint.
"""

from __future__ import annotations

from prefect import flow, task

from models.image_regression import RegressionSettings
from models.word_space import WordSpaceSettings
from storage.home import Home
from tasks.learn.errors import LearningInputError
from tasks.learn.registry import newest_model
from tasks.learn.word_space import (
    REGRESSION_KIND,
    WORD_SPACE_KIND,
    RegressionTraining,
    WordSpaceTraining,
    train_regression,
    train_space,
)
from tasks.ledger import tracked_run
from tasks.locks import WRITE_RETRY

train_word_space_task = task(name="train-word-space", timeout_seconds=24 * 3600, persist_result=True,
                             **WRITE_RETRY)(train_space)
train_image_regression_task = task(name="train-image-regression", timeout_seconds=24 * 3600, persist_result=True,
                                   **WRITE_RETRY)(train_regression)
newest_model_task = task(name="newest-model", timeout_seconds=600)(newest_model)


@flow(name="train-word-space")
def train_word_space_flow(home: str | None = None, settings: dict | None = None,
                          curated_only: bool | None = None) -> WordSpaceTraining:
    """Train and register a word space on the (curated) posts' captions of the train split."""
    store = Home.at(home)
    with tracked_run(store, "train-word-space", {"settings": settings or {}, "curated_only": curated_only}) as run:
        config = WordSpaceSettings.from_dict(settings or {})
        result = train_word_space_task(store, run.run_id, config, curated_only)
        run.counts = {"read": result.posts_read, "written": 1}
    return result


@flow(name="train-image-regression")
def train_image_regression_flow(word_space_id: str | None = None, home: str | None = None,
                                settings: dict | None = None, curated_only: bool | None = None
                                ) -> RegressionTraining:
    """Train, evaluate and register the regression CNN into a word space (the newest one unless named)."""
    store = Home.at(home)
    chosen = word_space_id or newest_model_task(store, WORD_SPACE_KIND)
    if chosen is None:
        raise LearningInputError("no word-space model yet: run `postatlas train word-space` first")
    parameters = {"word_space_id": chosen, "settings": settings or {}, "curated_only": curated_only,
                  "kind": REGRESSION_KIND}
    with tracked_run(store, "train-image-regression", parameters) as run:
        config = RegressionSettings.from_dict(settings or {})
        result = train_image_regression_task(store, run.run_id, config, chosen, curated_only)
        run.counts = {"read": result.posts, "images": result.posts, "written": 1}
    return result
