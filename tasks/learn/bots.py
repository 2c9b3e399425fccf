"""Bot detection glue (paper 002's application 3): labelled accounts -> cross-validated methods -> the best one
registered -> predictions for the accounts without a gold label, into ``user_predictions``.

Text methods read an account as its posts joined; the joint-embedding methods read the vectors a joint model gives
the account's newest ACCOUNT_POSTS posts (computed on the fly, curated or not: curation's per-user cap would drop
most of a bot's posts), oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from models.bots import DEFAULT_METHODS, EMBEDDING_METHODS, classifier, cross_validate
from storage import joint_inputs, learning, model_store, warehouse
from storage.home import Home
from tasks.learn.errors import LearningInputError
from tasks.learn.joint import chosen_joint, joint_post_vectors, load_joint, newest_joint
from tasks.learn.registry import digest
from tasks.locks import warehouse_writer

KIND = "bots"
MIN_ACCOUNTS_PER_CLASS = 5
ACCOUNT_POSTS = 100  # newest posts per account the embedding methods read (a PAN 2019 account has 100)


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
    """What `train bots` did: accounts per label, every method's scores, the model `predict bots` will use (the best
    of every registered one), the joint model read and whether any exists."""

    task: str
    accounts: dict[str, int]
    methods: list[BotMethodResult] = field(default_factory=list)
    best: str | None = None
    joint_model: str | None = None
    without_vectors: int = 0
    joint_available: bool = False


@dataclass(frozen=True)
class BotPredictions:
    """What `predict bots` wrote."""

    model_id: str
    accounts: int
    labels: dict[str, int]


def default_methods(home: Home, joint_model: str | None = None) -> tuple[str, ...]:
    """The text methods, and the joint-embedding ones when a joint model is named or trained."""
    return DEFAULT_METHODS + (EMBEDDING_METHODS if joint_model or newest_joint(home) else ())


def account_vectors(home: Home, joint_model: str, user_ids: list[str], task: str, labelled: bool
                    ) -> list[np.ndarray]:
    """Per account (in ``user_ids`` order) the joint vectors of its newest ACCOUNT_POSTS posts, oldest first;
    posts with no part the model reads are left out (an account may end with none)."""
    loaded = load_joint(home, joint_model)
    with warehouse.reader(home.warehouse) as con:
        posts = joint_inputs.account_posts(con, task, labelled, ACCOUNT_POSTS)
    vectors, usable = joint_post_vectors(home, loaded, posts)
    authors = np.array(posts.column("author_id").to_pylist(), dtype=object)
    empty = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    by_account: dict[str, np.ndarray] = {}
    if len(authors):
        starts = np.flatnonzero(np.r_[True, authors[1:] != authors[:-1]])
        for begin, end in zip(starts, np.r_[starts[1:], len(authors)], strict=True):
            by_account[authors[begin]] = vectors[begin:end][usable[begin:end]]
    return [by_account.get(user, empty) for user in user_ids]


def train_bots(home: Home, run_id: str, task: str = "bots", methods: tuple[str, ...] | None = None,
               folds: int = 5, joint_model: str | None = None) -> BotTraining:
    """Cross-validate each method on the labelled accounts, fit it on all of them, register it (its CV scores as
    the 'val' evaluation), and say which validates best. Default methods: :func:`default_methods`."""
    methods = methods or default_methods(home, joint_model)
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
    user_ids = accounts["user_id"].to_pylist()
    is_bot = labels == "bot"
    snapshot = digest(task, user_ids, labels.tolist())
    inputs: dict[str, list] = {"text": accounts["document"].to_pylist()}
    joint_id = None
    if any(method in EMBEDDING_METHODS for method in methods):
        joint_id = chosen_joint(home, joint_model)
        inputs["joint"] = account_vectors(home, joint_id, user_ids, task, labelled=True)
    results = []
    for method in methods:
        source = "joint" if method in EMBEDDING_METHODS else "text"
        model_snapshot = digest(snapshot, joint_id) if source == "joint" else snapshot
        model_id = f"bots-{method.replace('+', '-')}-{model_snapshot}"
        scores = cross_validate(inputs[source], is_bot, method, folds)
        fitted = classifier(method).fit(inputs[source], is_bot)
        state = {"pipeline": fitted, "method": method, "task": task,
                 "joint_model": joint_id if source == "joint" else None}
        path = model_store.save_model(home, model_id, state)
        evaluation = {"split": "val", "condition": "both", "accuracy": scores.accuracy, "macro_f1": scores.f1,
                      "micro_f1": scores.accuracy, "n": len(user_ids)}
        config = {"method": method, "folds": folds, "validation": f"{folds}-fold stratified cross-validation"}
        if source == "joint":
            config |= {"joint_model": joint_id, "account_posts": ACCOUNT_POSTS}
        with warehouse_writer(home.warehouse, run_id) as con:
            learning.register_model(
                con, model_id=model_id, kind=KIND, task=task, variant=method, config=config,
                data_snapshot=model_snapshot, split_sizes={"train": len(user_ids)},
                metrics={"cv_accuracy": scores.accuracy, "cv_f1": scores.f1, "cv_auc": scores.auc},
                checkpoint_path=str(path.relative_to(home.root)), run_id=run_id, evaluations=[evaluation],
            )
        results.append(BotMethodResult(method, model_id, scores.accuracy, scores.f1, scores.auc))
    with warehouse.reader(home.warehouse) as con:
        best = learning.best_model_id(con, KIND, task)  # across every registered method, as `predict bots` picks
    without = sum(len(posts) == 0 for posts in inputs.get("joint", []))
    return BotTraining(task, counts, results, best, joint_id, without,
                       joint_available=joint_id is not None or newest_joint(home) is not None)


def predict_bots(home: Home, run_id: str, model_id: str | None = None, task: str = "bots") -> BotPredictions:
    """Label every account without a gold label with the model that validates best (or ``model_id``)."""
    with warehouse.reader(home.warehouse) as con:
        chosen = model_id or learning.best_model_id(con, KIND, task)
        row = learning.model_row(con, chosen) if chosen else None
        accounts = learning.account_documents(con, task, labelled=False)
    if row is None or row["kind"] != KIND:
        raise LearningInputError(f"no bot model {'named ' + model_id if model_id else 'yet'}: run `postatlas train "
                                 f"bots` first (`postatlas models` lists the trained ones)")
    state = model_store.load_model(home, row["checkpoint_path"])
    user_ids = accounts["user_id"].to_pylist()
    if not user_ids:
        p_bot = np.zeros(0)
    elif state.get("joint_model"):
        p_bot = state["pipeline"].predict_proba(
            account_vectors(home, state["joint_model"], user_ids, task, labelled=False))[:, 1]
    else:
        p_bot = state["pipeline"].predict_proba(accounts["document"].to_pylist())[:, 1]
    label = np.where(p_bot >= 0.5, "bot", "human")
    predictions = pa.table({
        "user_id": accounts["user_id"],
        "task": pa.array([task] * len(user_ids), pa.string()),
        "label": pa.array(label, pa.string()),
        "score": pa.array(np.where(p_bot >= 0.5, p_bot, 1 - p_bot), pa.float64()),
        "model_id": pa.array([chosen] * len(user_ids), pa.string()),
        "run_id": pa.array([run_id] * len(user_ids), pa.string()),
    })
    with warehouse_writer(home.warehouse, run_id) as con:
        learning.write_user_predictions(con, predictions, task, chosen)
    return BotPredictions(chosen, len(user_ids), {name: int((label == name).sum()) for name in ("bot", "human")})
