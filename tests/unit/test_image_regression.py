"""Paper 001's regression CNN: the cosine loss, training on tiny synthetic images or features, retrieval ranks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.image_regression import (
    ImageRegressor,
    RegressionSettings,
    cosine_loss,
    project_images,
    retrieval_ranks,
    retrieval_scores,
    row_cosines,
    train_regressor,
)
from models.training import TrainSettings

TINY = RegressionSettings(image_encoder="scratch-cnn", image_size=16, channels=1, widths=(8, 16),
                          train=TrainSettings(epochs=15, batch_size=16, device="cpu", progress=False, patience=10, threads=1))


def test_cosine_loss_is_zero_for_identical_directions_and_two_for_opposite_ones() -> None:
    """Cosine loss is zero for identical directions and two for opposite ones."""
    targets = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]])
    assert float(cosine_loss(targets * 4.0, targets)) == pytest.approx(0.0, abs=1e-6)
    assert float(cosine_loss(-targets, targets)) == pytest.approx(2.0, abs=1e-6)
    orthogonal = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 5.0]])
    assert float(cosine_loss(*orthogonal)) == pytest.approx(1.0, abs=1e-6)


def synthetic(count: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bright images regress to one direction, dark ones to another (noise added to both)."""
    rng = np.random.default_rng(seed)
    bright = rng.random(count) < 0.5
    base = np.where(bright, 200, 40)[:, None, None, None]
    images = np.clip(base + rng.normal(0, 20, (count, 1, 16, 16)), 0, 255).astype(np.uint8)
    directions = np.array([[1.0, 0.2, 0.0, 0.0], [0.0, 0.0, 1.0, -0.3]], dtype=np.float32)
    return images, directions[np.where(bright, 0, 1)] * rng.uniform(0.5, 2.0, (count, 1)).astype(np.float32)


def test_training_lowers_the_loss_and_raises_the_validation_cosine_on_cpu() -> None:
    """Training lowers the loss and raises the validation cosine on cpu."""
    images, targets = synthetic()
    split = np.array(["train"] * 80 + ["val"] * 16, dtype=object)
    model = ImageRegressor(targets.shape[1], TINY)
    result = train_regressor(model, {"image": images, "target": targets}, split, TINY.train)
    losses = [report.train_loss for report in result.history]
    assert len(losses) == TINY.train.epochs and losses[-1] < losses[0]
    assert result.best_score > 0.8  # mean validation cosine; ~0.5 for outputs ignoring the image
    outputs = project_images(model, images[80:], device="cpu")
    assert outputs.shape == (16, targets.shape[1])
    assert row_cosines(outputs, targets[80:]).mean() == pytest.approx(result.best_score, abs=1e-4)


def test_training_needs_train_and_validation_rows() -> None:
    """Training needs train and validation rows."""
    images, targets = synthetic(8)
    with pytest.raises(ValueError, match="val 0"):
        train_regressor(ImageRegressor(4, TINY), {"image": images, "target": targets},
                        np.array(["train"] * 8, dtype=object), TINY.train)


def test_retrieval_ranks_put_each_caption_s_own_image_where_it_belongs() -> None:
    """Retrieval ranks put each caption's own image where it belongs."""
    captions = np.eye(4, dtype=np.float32)
    assert retrieval_ranks(captions * 3, captions).tolist() == [1, 1, 1, 1]
    swapped = captions[[1, 0, 2, 3]]  # images 0 and 1 exchanged: caption 0 scores 0 with its own image,
    assert retrieval_ranks(swapped, captions).tolist() == [4, 4, 1, 1]  # tied with every other image: rank last
    scores = retrieval_scores(np.array([1, 2, 30, 12]), k=10)
    assert scores == {"recall_at_10": 0.5, "median_rank": 7.0}


def test_settings_survive_a_plain_dict_round_trip() -> None:
    """Settings survive a plain dict round trip."""
    assert RegressionSettings.from_dict(TINY.as_dict()) == TINY
    partial = RegressionSettings.from_dict({"channels": 1, "train": {"epochs": 3}})
    assert partial.channels == 1 and partial.train.epochs == 3 and partial.train.batch_size == 64
    with pytest.raises(ValueError, match="channels"):
        RegressionSettings(channels=2)


FEATURES = RegressionSettings(image_encoder="efficientnet-lite0", hidden=0, dropout=0.0,
                              train=TrainSettings(epochs=40, batch_size=32, learning_rate=0.01, device="cpu",
                                                  progress=False, patience=40, threads=1))


def synthetic_features(count: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features (count, 24) whose captions (count, 8) are a fixed linear map of them plus a shared direction and
    noise: learnable from the features, nearly indistinguishable by a model that ignores them."""
    rng = np.random.default_rng(seed)
    features = rng.normal(0, 1, (count, 24)).astype(np.float32)
    mapping = rng.normal(0, 1, (24, 8)).astype(np.float32) / 5
    common = np.full(8, 2.0, np.float32)  # caption vectors share a direction, like TF-IDF means of word vectors
    return features, (features @ mapping + common + rng.normal(0, 0.05, (count, 8))).astype(np.float32)


def test_a_head_on_frozen_features_beats_the_same_head_on_shuffled_features() -> None:
    """The regression must read the image features: trained on features whose rows were shuffled (so they no longer
    belong to their captions) it scores far lower on held-out image-to-caption retrieval."""
    features, targets = synthetic_features()
    split = np.array(["train"] * 140 + ["val"] * 30 + ["test"] * 30, dtype=object)
    shuffled = features.copy()
    shuffled[:170] = features[np.random.default_rng(1).permutation(170)]

    def held_out(train_features: np.ndarray) -> tuple[float, dict[str, float]]:
        model = ImageRegressor(8, FEATURES, feature_dim=24)
        result = train_regressor(model, {"image": train_features, "target": targets}, split, FEATURES.train)
        outputs = project_images(model, features[170:], device="cpu")
        return result.best_score, retrieval_scores(retrieval_ranks(targets[170:], outputs), (1, 5))

    learned_cosine, learned = held_out(features)
    blind_cosine, blind = held_out(shuffled)
    assert learned["recall_at_1"] >= 0.5 and learned["median_rank"] <= 2
    assert blind["recall_at_1"] <= 0.2 and blind["median_rank"] >= 5
    assert learned_cosine > blind_cosine


def test_feature_head_shapes_and_settings() -> None:
    """A feature head needs its input size; hidden 0 is one linear layer; unknown encoders are refused."""
    with pytest.raises(ValueError, match="feature dimension"):
        ImageRegressor(8, FEATURES)
    linear = ImageRegressor(8, FEATURES, feature_dim=24)
    assert isinstance(linear.head, torch.nn.Linear) and FEATURES.uses_features
    hidden = ImageRegressor(8, RegressionSettings(hidden=16), feature_dim=24)
    assert project_images(hidden, np.zeros((3, 24), np.float32), device="cpu").shape == (3, 8)
    assert RegressionSettings().image_encoder == "efficientnet-lite0" and not TINY.uses_features
    with pytest.raises(ValueError, match="image_encoder"):
        RegressionSettings(image_encoder="resnet-50")
    assert retrieval_scores(np.array([1, 3, 8]), (1, 5)) == pytest.approx(
        {"recall_at_1": 1 / 3, "recall_at_5": 2 / 3, "median_rank": 3.0})
