"""The one train-and-register path: snapshot -> model id -> registry check -> fit (checkpointed) -> evaluate ->
save -> register.

A model is a ``Recipe``: its settings and data snapshot, how it reads its inputs, fits and evaluates.
``train_and_register`` does the rest the same way for every model, and the helpers here (digests, snapshots,
registry look-ups) are the ones every model's glue shares.
"""

from __future__ import annotations

import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import duckdb
import numpy as np
import pyarrow as pa

from models.settings import Settings
from models.training import FitResult
from storage import datasets, learning, model_store, warehouse
from storage.home import Home
from tasks.learn.errors import LearningInputError
from tasks.locks import warehouse_writer

D = TypeVar("D")
M = TypeVar("M")


def digest(*parts: Any, size: int = 6) -> str:
    """A short hex digest of JSON-able parts: the same parts always give the same digest (model ids, snapshots)."""
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=size).hexdigest()


def slug(text: str) -> str:
    """`text` as a model id or folder name part: lower case, every other character than a letter or digit a dash."""
    return "".join(c if c.isalnum() else "-" for c in text.lower())[:40]


def value_counts(values: Sequence[Any] | np.ndarray) -> dict[str, int]:
    """How often each value occurs, by value as text (split sizes, label counts)."""
    unique, counts = np.unique(np.asarray(values, dtype=object).astype(str), return_counts=True)
    return {str(value): int(count) for value, count in zip(unique, counts, strict=True)}


@dataclass(frozen=True)
class TrainingSet:
    """A snapshot of the posts a model trains on, written under POSTATLAS_HOME/datasets/ (tasks pass this, never
    data frames)."""

    path: Path
    with_image: int


def write_training_set(home: Home, name: str, posts: pa.Table, meta: dict[str, Any]) -> TrainingSet:
    """Write the snapshot (kept as it is when it exists already) and say where it is."""
    path = datasets.write_dataset(home, name, posts, meta)
    return TrainingSet(path, meta["with_image"])


@dataclass(frozen=True)
class Snapshot:
    """What a model learns from: the digest naming the data, its split sizes, and the training set's folder name
    (recorded in the model's config) when there is one."""

    digest: str
    split_sizes: dict[str, int]
    name: str | None = None


def read_training_set(dataset: TrainingSet) -> tuple[pa.Table, dict[str, Any], Snapshot]:
    """A training set's posts, its metadata and the snapshot it names."""
    posts, meta = datasets.read_dataset(dataset.path)
    return posts, meta, Snapshot(meta["snapshot"], meta["split_sizes"], dataset.path.name)


@dataclass(frozen=True)
class Fitted(Generic[M]):
    """A fitted model and how its fit went: the shared loop's history (None for models fitted otherwise) and the
    number of training rows (which adds train_samples_per_second to the metrics)."""

    model: M
    result: FitResult | None = None
    samples: int | None = None


@dataclass(frozen=True)
class Evaluation:
    """What an evaluation adds to the registry: metrics, and rows of `model_evaluations`."""

    metrics: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Trained(Generic[M]):
    """A model in the registry. `reused`: it was there already (same data and settings), nothing else is set."""

    model_id: str
    reused: bool = False
    path: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    fitted: Fitted[M] | None = None


@dataclass(frozen=True)
class Checkpoint:
    """Where a fit saves each epoch's state and what it resumes from (nothing when retraining)."""

    home: Home
    model_id: str
    resume: bool = True

    def save(self, state: dict[str, Any]) -> None:
        """Keep the state of the epoch that just ended."""
        model_store.save_checkpoint(self.home, self.model_id, state)

    def last(self) -> dict[str, Any] | None:
        """The last epoch's state of an interrupted fit of this model, or None."""
        return model_store.load_checkpoint(self.home, self.model_id) if self.resume else None


@dataclass(frozen=True, eq=False)
class Recipe(ABC, Generic[D, M]):
    """One model for ``train_and_register``: its settings and snapshot, how it reads its inputs, fits, evaluates.

    A subclass (a frozen dataclass too) sets `kind` (the registry's `kind`), narrows `settings` to its Settings
    class, and implements `inputs`, `fit` and `evaluate`. The defaults name the model `<kind>-<digest of the snapshot
    and the settings>`, save a PyTorch model's weights with its settings as models/<id>/model.pt, and register it in
    `models` with `task` and `variant`. `reuse = False` trains a new model every time even when the id is
    registered (ids that hold a run id).
    """

    kind: ClassVar[str]
    reuse: ClassVar[bool] = True
    settings: Settings
    snapshot: Snapshot
    task: str | None = field(default=None, kw_only=True)
    variant: str | None = field(default=None, kw_only=True)

    def identity(self) -> tuple[Any, ...]:
        """What, besides the snapshot, names the model: the same data and identity give the same model id."""
        return (self.settings.as_dict(),)

    def model_id(self) -> str:
        """`<kind>-<digest>`, fixed by the snapshot and the identity."""
        return f"{self.kind.replace('_', '-')}-{digest(self.snapshot.digest, *self.identity())}"

    def config(self) -> dict[str, Any]:
        """The registry's `config` of the model: its settings and the training set it read."""
        dataset = {"dataset": self.snapshot.name} if self.snapshot.name else {}
        return {**self.settings.as_dict(), **dataset}

    @abstractmethod
    def inputs(self, home: Home) -> D:
        """The arrays the fit and the evaluation read (only built when the model is trained)."""

    @abstractmethod
    def fit(self, inputs: D, checkpoint: Checkpoint) -> Fitted[M]:
        """Train the model, saving a checkpoint every epoch and resuming from the last one."""

    @abstractmethod
    def evaluate(self, fitted: Fitted[M], inputs: D) -> Evaluation:
        """Score the fitted model (held-out splits)."""

    def state(self, fitted: Fitted[M], inputs: D) -> dict[str, Any]:
        """What the model file holds: the weights and the settings (subclasses add what rebuilding it needs)."""
        return {"weights": fitted.model.state_dict(), "settings": self.settings.as_dict()}

    def save(self, home: Home, model_id: str, fitted: Fitted[M], inputs: D) -> Path:
        """Write the model's file (models/<id>/model.pt); returns its path."""
        return model_store.save_model(home, model_id, self.state(fitted, inputs))

    def on_retrain(self, con: duckdb.DuckDBPyConnection, home: Home, model_id: str) -> None:
        """Inside the registering transaction when retraining replaced an id's weights: drop what the old weights
        produced (nothing by default)."""

    def register(self, con: duckdb.DuckDBPyConnection, home: Home, run_id: str, trained: Trained[M]) -> None:
        """Add the model and its evaluation rows to the registry (`models`, `model_evaluations`)."""
        learning.register_model(
            con, model_id=trained.model_id, kind=self.kind, task=self.task, variant=self.variant,
            config=self.config(), data_snapshot=self.snapshot.digest, split_sizes=self.snapshot.split_sizes,
            metrics=trained.metrics, checkpoint_path=str(trained.path.relative_to(home.root)), run_id=run_id,
            evaluations=trained.evaluations,
        )


def train_and_register(recipe: Recipe[D, M], home: Home, run_id: str, retrain: bool = False) -> Trained[M]:
    """Train the recipe's model and register it, or reuse the registered one of the same id unless `retrain`.

    The fit resumes from the last epoch's checkpoint of an interrupted attempt (not when retraining); the metrics
    are the evaluation's plus `seconds` of the fit and, for the shared loop, its history (`fit`) and
    `train_samples_per_second`. Registering is one transaction.
    """
    model_id = recipe.model_id()
    if recipe.reuse and not retrain:
        with warehouse.reader(home.warehouse) as con:
            if learning.trained_model_exists(con, model_id):
                return Trained(model_id, reused=True)
    inputs = recipe.inputs(home)
    started = time.perf_counter()
    fitted = recipe.fit(inputs, Checkpoint(home, model_id, resume=not retrain))
    seconds = time.perf_counter() - started
    evaluation = recipe.evaluate(fitted, inputs)
    path = recipe.save(home, model_id, fitted, inputs)
    trained = Trained(model_id, path=path, metrics={**evaluation.metrics, **_fit_metrics(fitted, seconds)},
                      evaluations=evaluation.rows, fitted=fitted)
    with warehouse_writer(home.warehouse, run_id) as con:
        if retrain:
            recipe.on_retrain(con, home, model_id)
        recipe.register(con, home, run_id, trained)
    return trained


def _fit_metrics(fitted: Fitted[Any], seconds: float) -> dict[str, Any]:
    metrics: dict[str, Any] = {"seconds": seconds}
    if fitted.result is not None:
        metrics["fit"] = fitted.result.as_dict()
        if fitted.samples is not None:
            epochs = len(fitted.result.history)
            metrics["train_samples_per_second"] = fitted.samples * epochs / seconds if seconds else None
    return metrics


def registered_model(home: Home, model_id: str, kind: str, name: str) -> dict[str, Any]:
    """A model's registry row; a LearningInputError naming it (`name`, e.g. "fusion model") when it is not one of
    that kind."""
    with warehouse.reader(home.warehouse) as con:
        row = learning.model_row(con, model_id)
    if row is None or row["kind"] != kind:
        raise LearningInputError(f"no {name} {model_id!r} in the registry: see `postatlas models`")
    return row


def newest_model(home: Home, kind: str, variant_suffix: str = "", excluded_suffix: str | None = None) -> str | None:
    """The newest registered model of a kind, of a variant ending so when given and not ending with
    ``excluded_suffix`` (None when there is none or no warehouse yet)."""
    if not home.warehouse.exists():
        return None
    with warehouse.reader(home.warehouse) as con:
        return learning.newest_model_id(con, kind, variant_suffix, excluded_suffix)
