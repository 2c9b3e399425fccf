"""The shared training loop's step decay and gradient clipping (paper 002's schedule), on one weight whose
gradient is known, with plain SGD so that every step is the learning rate times the (clipped) gradient."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from models.training import TrainSettings, fit


class OneWeight(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))


def run(slope: float, **settings) -> list[float]:
    """The weight after each epoch of minimising ``slope * w`` (one batch per epoch)."""
    model = OneWeight()
    seen: list[float] = []

    def score(m: nn.Module) -> float:
        seen.append(float(m.w))
        return -float(m.w)  # better as w falls, so the last epoch is the best one

    options = {"epochs": 3, "batch_size": 1, "learning_rate": 1.0, "optimizer": "sgd", "progress": False,
               "threads": 1, **settings}
    fit(model, {"x": np.zeros((1, 1), dtype=np.float32)}, lambda m, batch: slope * m.w, score,
        TrainSettings(**options))
    return seen


def test_the_learning_rate_decays_after_the_given_epochs() -> None:
    assert run(1.0) == [-1.0, -2.0, -3.0]
    np.testing.assert_allclose(run(1.0, decay_at=(1,)), [-1.0, -1.1, -1.2], rtol=1e-6)
    np.testing.assert_allclose(run(1.0, decay_at=(1, 2), decay_factor=0.5), [-1.0, -1.5, -1.75], rtol=1e-6)
    assert TrainSettings(learning_rate=2e-4, decay_at=(15,)).learning_rate_at(16) == 2e-4 * 0.1


def test_gradients_are_clipped_to_the_norm() -> None:
    assert run(10.0, epochs=1) == [-10.0]
    np.testing.assert_allclose(run(10.0, epochs=2, clip_norm=2.0), [-2.0, -4.0], rtol=1e-6)


def test_validation_inside_an_epoch_keeps_the_best_step() -> None:
    """Four steps per epoch take w to -1, -2, -3, -4; the score peaks at w = -2, which only a validation every
    step sees (the epoch's end is at -4)."""
    def best_weight(**settings) -> float:
        model = OneWeight()
        options = {"epochs": 1, "batch_size": 1, "learning_rate": 1.0, "optimizer": "sgd", "progress": False,
                   "threads": 1, **settings}
        fit(model, {"x": np.zeros((4, 1), dtype=np.float32)}, lambda m, batch: m.w,
            lambda m: -float((m.w + 2) ** 2), TrainSettings(**options))
        return float(model.w)

    assert best_weight() == -4.0
    assert best_weight(validate_every=1) == -2.0
    assert best_weight(validate_every=3) == -3.0
