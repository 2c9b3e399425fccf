"""Paper 003's classifiers: two unimodal baselines and four fusions, every one able to predict with a modality missing.

A batch is a dict of tensors: "text" (token ids or text features), "image" (uint8 pixels or image features),
"has_text" and "has_image" (bool per post), and "label" when training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.settings import Settings

PAPER_VARIANTS = ("image", "text", "late", "early", "joint", "common")
# `probe`: one linear layer over the concatenated inputs (logistic regression on the frozen features), the
# baseline every fusion must beat; `ensemble`: the mean of the other variants' class probabilities.
VARIANTS = (*PAPER_VARIANTS, "probe")
UNIMODAL = ("image", "text")


@dataclass(frozen=True)
class FusionClassifierSettings(Settings):
    """Defaults from the paper's Table 3: h = 100, g = 3 negatives, main-task weight lambda = 3, max fusion."""

    variant: str
    classes: int
    hidden: int = 100
    dropout: float = 0.25
    negatives: int = 3
    main_task_weight: float = 3.0
    pooling: str = "max"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown fusion variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        if self.classes < 2:
            raise ValueError("a classifier needs at least two classes")
        if self.pooling not in ("max", "mean"):
            raise ValueError(f"pooling must be 'max' or 'mean', got {self.pooling!r}")


def _head(input_dim: int, hidden: int, classes: int, dropout: float) -> nn.Module:
    """The paper's low-rank classifier: a hidden layer of size h, then the class scores."""
    return nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, classes))


class FusionClassifier(nn.Module):
    """One of the six variants over a text encoder and an image encoder (each an nn.Module with output_dim)."""

    def __init__(
        self, settings: FusionClassifierSettings, text_encoder: nn.Module | None, image_encoder: nn.Module | None
    ) -> None:
        super().__init__()
        self.settings = settings
        # Per-class weights of the classification loss (ones unless set_class_weights is called before training).
        self.register_buffer("class_weights", torch.ones(settings.classes))
        variant = settings.variant
        if variant != "image" and text_encoder is None:
            raise ValueError(f"variant {variant!r} needs a text encoder")
        if variant not in ("text", "probe") and image_encoder is None:
            raise ValueError(f"variant {variant!r} needs an image encoder")
        self.text_encoder = text_encoder if variant != "image" else None
        self.image_encoder = image_encoder if variant != "text" else None
        text_dim = text_encoder.output_dim if self.text_encoder is not None else 0
        image_dim = image_encoder.output_dim if self.image_encoder is not None else 0
        self.image_projection: nn.Module | None = None
        self.text_projection: nn.Module | None = None
        if variant in ("joint", "common"):
            # Both vectors are mapped into one space of the text's size (the paper maps only the larger one):
            # a learnt map on the text side too keeps the max pooling from being decided by raw embedding scales.
            self.image_projection = nn.Linear(image_dim, text_dim)
            self.text_projection = nn.Linear(text_dim, text_dim)
        if variant == "late":
            self.text_head = _head(text_dim, settings.hidden, settings.classes, settings.dropout)
            self.image_head = _head(image_dim, settings.hidden, settings.classes, settings.dropout)
        else:
            fused_dim = {"image": image_dim, "text": text_dim, "early": image_dim + text_dim,
                         "probe": image_dim + text_dim}.get(variant, text_dim)
            self.head = (nn.Linear(fused_dim, settings.classes) if variant == "probe"
                         else _head(fused_dim, settings.hidden, settings.classes, settings.dropout))

    def modality_vectors(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The text vector and the (projected, for joint and common) image vector of every post."""
        text = self.text_encoder(batch["text"]) if self.text_encoder is not None else None
        image = self.image_encoder(batch["image"]) if self.image_encoder is not None else None
        if image is not None and self.image_projection is not None:
            image = self.image_projection(image)
        if text is not None and self.text_projection is not None:
            text = self.text_projection(text)
        return text, image

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Log-probabilities of the classes, (batch, classes)."""
        return self._log_probabilities(batch, *self.modality_vectors(batch))

    def _log_probabilities(
        self, batch: dict[str, torch.Tensor], text: torch.Tensor | None, image: torch.Tensor | None
    ) -> torch.Tensor:
        has_text = batch["has_text"].unsqueeze(-1)
        has_image = batch["has_image"].unsqueeze(-1)
        variant = self.settings.variant
        if variant == "late":
            # Two classifiers; the product of the probabilities of the modalities present.
            text_scores = F.log_softmax(self.text_head(text), -1)
            image_scores = F.log_softmax(self.image_head(image), -1)
            combined = text_scores * has_text + image_scores * has_image
            return F.log_softmax(combined, -1)
        if variant == "text":
            fused = text * has_text
        elif variant == "image":
            fused = image * has_image
        elif variant == "early":
            fused = torch.cat([image * has_image, text * has_text], -1)
        elif variant == "probe":
            fused = torch.cat([text * has_text] + ([image * has_image] if image is not None else []), -1)
        else:
            fused = self._pool(text, image, has_text, has_image)
        return F.log_softmax(self.head(fused), -1)

    def _pool(
        self, text: torch.Tensor, image: torch.Tensor, has_text: torch.Tensor, has_image: torch.Tensor
    ) -> torch.Tensor:
        """Component-wise max (or mean) over the modalities present; zeros when neither is."""
        if self.settings.pooling == "mean":
            count = (has_text.float() + has_image.float()).clamp(min=1)
            return (text * has_text + image * has_image) / count
        stacked = torch.stack(
            [text.masked_fill(~has_text, float("-inf")), image.masked_fill(~has_image, float("-inf"))]
        )
        pooled = stacked.amax(0)
        return torch.where(has_text | has_image, pooled, torch.zeros_like(pooled))

    def fit_input_statistics(self, text: np.ndarray | None, image: np.ndarray | None) -> None:
        """Let encoders of frozen features standardise them with the training rows' statistics."""
        for encoder, rows in ((self.text_encoder, text), (self.image_encoder, image)):
            if encoder is not None and rows is not None and hasattr(encoder, "fit_statistics"):
                encoder.fit_statistics(rows)

    def set_class_weights(self, labels: torch.Tensor) -> None:
        """Weigh each class by n / (classes x its count), so rare classes count as much as common ones."""
        counts = torch.bincount(labels, minlength=self.settings.classes).float().clamp(min=1)
        self.class_weights.copy_(counts.sum() / (self.settings.classes * counts))

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Negative log-likelihood; `common` adds the auxiliary ranking loss (paper eq. 14)."""
        text, image = self.modality_vectors(batch)
        labels = batch["label"]
        settings = self.settings
        if settings.variant == "late":
            weights = self.class_weights
            text_loss = F.nll_loss(F.log_softmax(self.text_head(text), -1), labels, weights, reduction="none")
            image_loss = F.nll_loss(F.log_softmax(self.image_head(image), -1), labels, weights, reduction="none")
            return (text_loss * batch["has_text"] + image_loss * batch["has_image"]).mean()
        main = F.nll_loss(self._log_probabilities(batch, text, image), labels, self.class_weights)
        if settings.variant != "common":
            return main
        return settings.main_task_weight * main + ranking_loss(
            image, text, labels, batch["has_image"], batch["has_text"], settings.negatives
        )


def ranking_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    labels: torch.Tensor,
    has_image: torch.Tensor,
    has_text: torch.Tensor,
    negatives: int,
) -> torch.Tensor:
    """Eq. 13: -sum_j log(e^-d+ / (e^-d+ + e^-d-_j)) = sum_j softplus(d+ - d-_j).

    d is the squared distance of the L2-normalised vectors (2 - 2 cos, in [0, 4]): the paper leaves d open, and on
    raw vectors the loss grows with their scale and swamps the classification loss. The g negative texts of a
    post are drawn at random from the batch's posts of another class.
    """
    valid_negative = (labels.unsqueeze(0) != labels.unsqueeze(1)) & has_text.unsqueeze(0)
    anchors = has_image & has_text & valid_negative.any(1)
    if not bool(anchors.any()):
        return image.sum() * 0.0
    weights = valid_negative[anchors].float()
    negative_index = torch.multinomial(weights, negatives, replacement=True)
    image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    anchor_image, positive_text = image[anchors], text[anchors]
    positive = (anchor_image - positive_text).pow(2).sum(-1, keepdim=True)
    negative = (anchor_image.unsqueeze(1) - text[negative_index]).pow(2).sum(-1)
    return F.softplus(positive - negative).sum(1).mean()
