"""Paper 001's regression CNN: images projected into the word space by regressing their captions' vectors.

The paper trained a GoogleNet with a sigmoid cross-entropy loss on the caption vectors; here a small ResNet
trained from scratch regresses the TF-IDF-weighted caption vector with 1 - cosine similarity as the loss, since
the word space is only ever queried by direction (cosine), never by length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.encoders import ResNetImageEncoder
from models.fusion_training import subset
from models.settings import Settings
from models.training import Arrays, FitResult, TrainSettings, fit, predict

LOSS = "1 - cosine similarity"


@dataclass(frozen=True)
class RegressionSettings(Settings):
    """Image shape, CNN widths and the training loop's settings; `train.epochs` defaults to 10."""

    image_size: int = 64
    channels: int = 3
    widths: tuple[int, ...] = (32, 64, 128)
    train: TrainSettings = field(default_factory=lambda: TrainSettings(epochs=10))

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (colour), got {self.channels}")
        if self.image_size < 8:
            raise ValueError(f"image_size must be at least 8 pixels, got {self.image_size}")


class ImageRegressor(nn.Module):
    """A ResNetImageEncoder followed by a linear layer to the word space's dimension."""

    def __init__(self, output_dim: int, settings: RegressionSettings = RegressionSettings()) -> None:
        super().__init__()
        self.encoder = ResNetImageEncoder(settings.channels, settings.widths, image_size=settings.image_size)
        self.head = nn.Linear(self.encoder.output_dim, output_dim)
        self.output_dim = output_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Word-space vectors of a batch of images."""
        return self.head(self.encoder(images))


def cosine_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cosine(output, target) over the batch: 0 when every output points like its target."""
    return (1 - F.cosine_similarity(outputs.float(), targets.float(), dim=1, eps=1e-8)).mean()


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of `a` with the same row of `b` (0 where either row is zero)."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.einsum("ij,ij->i", a, b)
    return np.divide(dots, norms, out=np.zeros_like(dots, dtype=np.float64), where=norms > 0)


def project_images(model: ImageRegressor, pixels: np.ndarray, device: str = "auto", batch_size: int = 256) -> np.ndarray:
    """(n, d) float32 word-space vectors of uint8 images (n, C, H, W)."""
    return predict(model, {"image": pixels}, batch_size=batch_size, device=device,
                   forward=lambda m, batch: m(batch["image"]))


def train_regressor(
    model: ImageRegressor,
    arrays: Arrays,
    split: np.ndarray,
    settings: TrainSettings,
    save_checkpoint: Callable[[dict[str, Any]], None] | None = None,
    resume_from: dict[str, Any] | None = None,
) -> FitResult:
    """Fit `image` -> `target` on the train rows with the cosine loss; keeps the epoch with the best mean
    validation cosine."""
    train_rows, val_rows = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    if len(train_rows) == 0 or len(val_rows) == 0:
        raise ValueError(
            f"need posts with an image and a caption vector in both train and val splits (train {len(train_rows)}, "
            f"val {len(val_rows)}): add posts with images"
        )
    val = subset(arrays, val_rows)
    val_targets = np.asarray(val["target"][np.arange(len(val_rows))])

    def mean_validation_cosine(current: nn.Module) -> float:
        outputs = project_images(current, val["image"], device=settings.device)
        return float(row_cosines(outputs, val_targets).mean())

    return fit(model, subset(arrays, train_rows), lambda m, batch: cosine_loss(m(batch["image"]), batch["target"]),
               mean_validation_cosine, settings, save_checkpoint, resume_from, description="image regression")


def retrieval_ranks(image_vectors: np.ndarray, caption_vectors: np.ndarray) -> np.ndarray:
    """1-based rank of image i among all images (by cosine) when querying with caption i; ties count against."""
    def unit(matrix: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return np.divide(matrix, norms, out=np.zeros_like(matrix, dtype=np.float64), where=norms > 0)

    scores = unit(caption_vectors) @ unit(image_vectors).T
    own = np.diag(scores)
    return (scores >= own[:, np.newaxis]).sum(axis=1)


def retrieval_scores(ranks: np.ndarray, k: int = 10) -> dict[str, float]:
    """Recall@k (share of captions whose own image is in the top k) and the median rank."""
    if len(ranks) == 0:
        return {f"recall_at_{k}": float("nan"), "median_rank": float("nan")}
    return {f"recall_at_{k}": float((ranks <= k).mean()), "median_rank": float(np.median(ranks))}
