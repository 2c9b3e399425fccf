"""Paper 001's regression CNN: images projected into the word space by regressing their captions' vectors.

The paper trained a GoogleNet with a sigmoid cross-entropy loss on the caption vectors; here the TF-IDF-weighted
caption vector is regressed with 1 - cosine similarity as the loss, since the word space is only ever queried by
direction (cosine), never by length. The image side is either a frozen pretrained encoder's stored features
(`image_encoder` = efficientnet-lite0, the default: a small head is trained on them) or a small ResNet trained
from scratch on the pixels (`scratch-cnn`, paper fidelity).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.encoders import FeatureEncoder, ResNetImageEncoder
from models.fusion_training import subset
from models.settings import Settings
from models.training import Arrays, FitResult, TrainSettings, fit, predict

LOSS = "1 - cosine similarity"
SCRATCH_CNN = "scratch-cnn"
FEATURE_ENCODERS = ("efficientnet-lite0",)
IMAGE_ENCODERS = (*FEATURE_ENCODERS, SCRATCH_CNN)
DEFAULT_IMAGE_ENCODER = "efficientnet-lite0"


@dataclass(frozen=True)
class RegressionSettings(Settings):
    """The image encoder, then for `scratch-cnn` the image shape and CNN widths, for a frozen encoder the head
    (`hidden` units, 0 for a linear layer; dropout on the features), and the training loop's settings
    (`train.epochs` defaults to 10)."""

    image_encoder: str = DEFAULT_IMAGE_ENCODER
    image_size: int = 64
    channels: int = 3
    widths: tuple[int, ...] = (32, 64, 128)
    hidden: int = 512
    dropout: float = 0.2
    train: TrainSettings = field(default_factory=lambda: TrainSettings(epochs=10))

    def __post_init__(self) -> None:
        if self.image_encoder not in IMAGE_ENCODERS:
            raise ValueError(f"image_encoder must be one of {', '.join(IMAGE_ENCODERS)}, got {self.image_encoder!r}")
        if self.hidden < 0 or not 0 <= self.dropout < 1:
            raise ValueError(f"hidden must be >= 0 and dropout in [0, 1), got {self.hidden} and {self.dropout}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (colour), got {self.channels}")
        if self.image_size < 8:
            raise ValueError(f"image_size must be at least 8 pixels, got {self.image_size}")

    @property
    def uses_features(self) -> bool:
        """Whether the input is a frozen encoder's stored features rather than pixels."""
        return self.image_encoder != SCRATCH_CNN


class ImageRegressor(nn.Module):
    """Images to the word space's dimension: a ResNetImageEncoder on uint8 pixels then a linear layer
    (`scratch-cnn`), or, for a frozen encoder, its float features (n, feature_dim) through dropout and a head
    (linear, or one hidden ReLU layer)."""

    def __init__(self, output_dim: int, settings: RegressionSettings = RegressionSettings(),
                 feature_dim: int | None = None) -> None:
        super().__init__()
        if settings.uses_features:
            if not feature_dim:
                raise ValueError(f"the {settings.image_encoder} head needs its feature dimension")
            self.encoder: nn.Module = FeatureEncoder(feature_dim, settings.dropout)
            hidden = settings.hidden
            self.head: nn.Module = (nn.Linear(feature_dim, output_dim) if hidden == 0 else nn.Sequential(
                nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Dropout(settings.dropout), nn.Linear(hidden, output_dim)))
        else:
            self.encoder = ResNetImageEncoder(settings.channels, settings.widths, image_size=settings.image_size)
            self.head = nn.Linear(self.encoder.output_dim, output_dim)
        self.output_dim, self.feature_dim = output_dim, feature_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Word-space vectors of a batch of images (pixels, or the frozen encoder's features)."""
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
    """(n, d) float32 word-space vectors of uint8 images (n, C, H, W), or of features (n, feature_dim)."""
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


def retrieval_scores(ranks: np.ndarray, k: int | tuple[int, ...] = 10) -> dict[str, float]:
    """Recall@k for each k (share of queries whose own item is in the top k) and the median rank."""
    ks = (k,) if isinstance(k, int) else k
    if len(ranks) == 0:
        return {**{f"recall_at_{n}": float("nan") for n in ks}, "median_rank": float("nan")}
    return {**{f"recall_at_{n}": float((ranks <= n).mean()) for n in ks}, "median_rank": float(np.median(ranks))}
