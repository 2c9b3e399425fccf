"""Bot detection glue (paper 002's application 3): labelled accounts -> cross-validated methods -> the best one
registered -> predictions for the accounts without a gold label, into ``user_predictions``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from models.bots import DEFAULT_METHODS, cross_validate, text_classifier
from storage import learning, model_store, warehouse
from storage.home import Home
from tasks.learn.errors import LearningInputError
from tasks.learn.registry import digest
from tasks.locks import warehouse_writer

KIND = "bots"
MIN_ACCOUNTS_PER_CLASS = 5


@dataclass(frozen=True)
class BotMethodResult:
    """One method's cross-validated scores and its registered model."""

    method: str
    model_id: str
    accuracy: float
    f1: float
    auc: float


@dataclass(frozen=True)
class BotTraining:
    """What `train bots` did: accounts per label, every method's scores, the one `predict bots` will use."""

    task: str
    accounts: dict[str, int]
    methods: list[BotMethodResult] = field(default_factory=list)
    best: str | None = None


@dataclass(frozen=True)
class BotPredictions:
    """What `predict bots` wrote."""

    model_id: str
    accounts: int
    labels: dict[str, int]


def train_bots(home: Home, run_id: str, task: str = "bots", methods: tuple[str, ...] = DEFAULT_METHODS,
               folds: int = 5) -> BotTraining:
    """Cross-validate each method on the labelled accounts, fit it on all of them, register it (its CV scores as
    the 'val' evaluation), and say which validates best."""
    with warehouse.reader(home.warehouse) as con:
        accounts = learning.account_documents(con, task, labelled=True)
    labels = np.array(accounts["label"].to_pylist(), dtype=object)
    counts = {str(label): int((labels == label).sum()) for label in np.unique(labels)}
    if set(counts) != {"bot", "human"} or min(counts.values()) < max(MIN_ACCOUNTS_PER_CLASS, folds):
        raise LearningInputError(
            f"`train bots` needs accounts labelled bot and human in user_labels (task {task!r}), at least "
            f"{max(MIN_ACCOUNTS_PER_CLASS, folds)} of each; found {counts or 'none'}. Load PAN author folders with "
            f"`postatlas ingest pan-authors FOLDER` (a truth.txt beside the XML files gives the labels)."
        )
    documents = accounts["document"].to_pylist()
    is_bot = labels == "bot"
    snapshot = digest(task, accounts["user_id"].to_pylist(), labels.tolist())
    results = []
    for method in methods:
        model_id = f"bots-{method.replace('+', '-')}-{snapshot}"
        scores = cross_validate(documents, is_bot, method, folds)
        pipeline = text_classifier(method).fit(documents, is_bot)
        path = model_store.save_model(home, model_id, {"pipeline": pipeline, "method": method, "task": task})
        evaluation = {"split": "val", "condition": "both", "accuracy": scores.accuracy, "macro_f1": scores.f1,
                      "micro_f1": scores.accuracy, "n": len(documents)}
        with warehouse_writer(home.warehouse, run_id) as con:
            learning.register_model(
                con, model_id=model_id, kind=KIND, task=task, variant=method,
                config={"method": method, "folds": folds, "validation": f"{folds}-fold stratified cross-validation"},
                data_snapshot=snapshot, split_sizes={"train": len(documents)},
                metrics={"cv_accuracy": scores.accuracy, "cv_f1": scores.f1, "cv_auc": scores.auc},
                checkpoint_path=str(path.relative_to(home.root)), run_id=run_id, evaluations=[evaluation],
            )
        results.append(BotMethodResult(method, model_id, scores.accuracy, scores.f1, scores.auc))
    best = max(results, key=lambda r: (r.accuracy, r.auc)).model_id if results else None
    return BotTraining(task, counts, results, best)


def predict_bots(home: Home, run_id: str, model_id: str | None = None, task: str = "bots") -> BotPredictions:
    """Label every account without a gold label with the model that validates best (or ``model_id``)."""
    with warehouse.reader(home.warehouse) as con:
        chosen = model_id or learning.best_model_id(con, KIND, task)
        row = learning.model_row(con, chosen) if chosen else None
        accounts = learning.account_documents(con, task, labelled=False)
    if row is None:
        raise LearningInputError(f"no bot model {'named ' + model_id if model_id else 'yet'}: run `postatlas train "
                                 f"bots` first (`postatlas models` lists the trained ones)")
    pipeline = model_store.load_model(home, row["checkpoint_path"])["pipeline"]
    documents = accounts["document"].to_pylist()
    p_bot = pipeline.predict_proba(documents)[:, 1] if documents else np.zeros(0)
    label = np.where(p_bot >= 0.5, "bot", "human")
    predictions = pa.table({
        "user_id": accounts["user_id"],
        "task": pa.array([task] * len(documents), pa.string()),
        "label": pa.array(label, pa.string()),
        "score": pa.array(np.where(p_bot >= 0.5, p_bot, 1 - p_bot), pa.float64()),
        "model_id": pa.array([chosen] * len(documents), pa.string()),
        "run_id": pa.array([run_id] * len(documents), pa.string()),
    })
    with warehouse_writer(home.warehouse, run_id) as con:
        learning.write_user_predictions(con, predictions, task, chosen)
    return BotPredictions(chosen, len(documents), {name: int((label == name).sum()) for name in ("bot", "human")})
