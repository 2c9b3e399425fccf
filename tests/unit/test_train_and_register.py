"""The one train-and-register path with a toy recipe on a real DuckDB file: ids, reuse, retrain, resume."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
import torch

from models.settings import Settings
from models.training import TrainSettings, fit
from storage import learning, warehouse
from storage.home import Home
from tasks.learn.registry import Checkpoint, Evaluation, Fitted, Recipe, Snapshot, train_and_register


@dataclass(frozen=True)
class ToySettings(Settings):
    """A linear model's settings."""

    train: TrainSettings = field(default_factory=lambda: TrainSettings(epochs=3, patience=10, progress=False,
                                                                       threads=1))


@dataclass(frozen=True, eq=False)
class ToyRecipe(Recipe[dict[str, np.ndarray], torch.nn.Module]):
    """y = 2x learnt by a linear layer; records what train_and_register asked of it."""

    kind = "toy_model"
    settings: ToySettings
    calls: list[str] = field(default_factory=list)
    fail_after_epoch: int | None = None

    def inputs(self, home: Home) -> dict[str, np.ndarray]:
        """Sixty points on a line."""
        x = np.linspace(-1, 1, 60, dtype=np.float32)[:, None]
        return {"x": x, "y": 2 * x}

    def fit(self, inputs: dict[str, np.ndarray], checkpoint: Checkpoint) -> Fitted[torch.nn.Module]:
        """The shared loop, checkpointed; fails after an epoch when asked to (an interrupted attempt)."""
        self.calls.append("resumed" if checkpoint.last() is not None else "fresh")
        model = torch.nn.Linear(1, 1)

        def save(state: dict[str, Any]) -> None:
            checkpoint.save(state)
            if state["epoch"] == self.fail_after_epoch:
                raise KeyboardInterrupt

        def loss(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return (m(batch["x"]) - batch["y"]).pow(2).mean()

        result = fit(model, inputs, loss, lambda m: 0.0, self.settings.train, save, checkpoint.last())
        return Fitted(model, result, samples=len(inputs["x"]))

    def evaluate(self, fitted: Fitted[torch.nn.Module], inputs: dict[str, np.ndarray]) -> Evaluation:
        """The weight learnt, and one evaluation row."""
        weight = float(fitted.model.weight.detach()[0, 0])
        return Evaluation({"weight": weight}, [{"split": "test", "condition": "both", "accuracy": 1.0,
                                                "macro_f1": 1.0, "micro_f1": 1.0, "n": 60}])

    def on_retrain(self, con: duckdb.DuckDBPyConnection, home: Home, model_id: str) -> None:
        """Record that the hook ran."""
        self.calls.append("on_retrain")


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """A home with a migrated warehouse."""
    store = Home(tmp_path)
    with warehouse.writer(store.warehouse):
        pass
    return store


def _recipe(**changes: Any) -> ToyRecipe:
    return ToyRecipe(ToySettings(), Snapshot("snap", {"train": 60}, "toy-snap"), task="line", **changes)


def test_a_model_is_named_by_its_snapshot_and_settings_and_registered_with_its_metrics(home: Home) -> None:
    """The id is <kind>-<digest>; the registry row holds the config, metrics and evaluation rows."""
    trained = train_and_register(_recipe(), home, "run-1")
    assert trained.model_id.startswith("toy-model-") and not trained.reused
    assert trained.model_id == _recipe().model_id() != ToyRecipe(
        ToySettings(), Snapshot("other", {}, None)).model_id()
    with warehouse.reader(home.warehouse) as con:
        row = learning.model_row(con, trained.model_id)
        rows = learning.evaluation_table(con, [trained.model_id])
    assert (row["kind"], row["task"], row["train_posts"], row["config"]["dataset"]) == ("toy_model", "line", 60,
                                                                                       "toy-snap")
    assert {"weight", "seconds", "fit", "train_samples_per_second"} <= set(row["metrics"])
    assert len(row["metrics"]["fit"]["history"]) == 3 and [r["split"] for r in rows] == ["test"]
    assert home.path(row["checkpoint_path"]).is_file()


def test_a_registered_model_is_reused_unless_retrained(home: Home) -> None:
    """The same id is not trained again; retrain trains from the start and runs on_retrain."""
    first = train_and_register(_recipe(), home, "run-1")
    again = _recipe()
    assert train_and_register(again, home, "run-2").reused and again.calls == []
    retrained = _recipe()
    assert train_and_register(retrained, home, "run-3", retrain=True).model_id == first.model_id
    assert retrained.calls == ["fresh", "on_retrain"]


def test_an_interrupted_fit_resumes_from_its_last_checkpoint(home: Home) -> None:
    """A fit killed after an epoch leaves a checkpoint the next attempt continues from."""
    interrupted = _recipe(fail_after_epoch=1)
    with pytest.raises(KeyboardInterrupt):
        train_and_register(interrupted, home, "run-1")
    resumed = _recipe()
    trained = train_and_register(resumed, home, "run-1")
    assert (interrupted.calls, resumed.calls) == (["fresh"], ["resumed"])
    assert [epoch.epoch for epoch in trained.fitted.result.history] == [1, 2, 3]
