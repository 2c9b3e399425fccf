"""Paper 001's training flows: the word space (Word2Vec + TF-IDF) and the regression CNN into it.

Tasks take paths, ids and plain dicts only; results are persisted, so a retried run skips what finished, and a
regression CNN interrupted mid-way resumes from its last epoch's checkpoint.
"""

from __future__ import annotations

from prefect import flow, task

from storage.home import Home
from tasks.ledger import tracked_run
from tasks.locks import WRITE_RETRY
from tasks.word_space import (
    REGRESSION_KIND,
    WORD_SPACE_KIND,
    WordSpaceInputError,
    newest_model,
    train_regression,
    train_space,
)

train_word_space_task = task(name="train-word-space", timeout_seconds=24 * 3600, persist_result=True,
                             **WRITE_RETRY)(train_space)
train_image_regression_task = task(name="train-image-regression", timeout_seconds=24 * 3600, persist_result=True,
                                   **WRITE_RETRY)(train_regression)


@flow(name="train-word-space")
def train_word_space_flow(home: str | None = None, settings: dict | None = None,
                          curated_only: bool | None = None) -> dict:
    """Train and register a word space on the (curated) posts' captions of the train split."""
    store = Home.at(home)
    with tracked_run(store, "train-word-space", {"settings": settings or {}, "curated_only": curated_only}) as run:
        result = train_word_space_task(str(store.root), run.run_id, settings or {}, curated_only)
        run.counts = {"read": result["posts_read"], "written": 1}
    return result


@flow(name="train-image-regression")
def train_image_regression_flow(word_space_id: str | None = None, home: str | None = None,
                                settings: dict | None = None, curated_only: bool | None = None) -> dict:
    """Train, evaluate and register the regression CNN into a word space (the newest one unless named)."""
    store = Home.at(home)
    chosen = word_space_id or newest_model(store.root, WORD_SPACE_KIND)
    if chosen is None:
        raise WordSpaceInputError("no word-space model yet: run `postatlas train word-space` first")
    parameters = {"word_space_id": chosen, "settings": settings or {}, "curated_only": curated_only,
                  "kind": REGRESSION_KIND}
    with tracked_run(store, "train-image-regression", parameters) as run:
        result = train_image_regression_task(str(store.root), run.run_id, settings or {}, chosen, curated_only)
        run.counts = {"read": result["posts"], "images": result["posts"], "written": 1}
    return result
