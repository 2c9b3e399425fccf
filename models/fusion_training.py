"""Training, evaluation and prediction of paper 003's classifiers on in-memory (or memory-mapped) arrays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from models.encoders import (
    EmbeddingBagEncoder,
    FeatureEncoder,
    FrozenBackbone,
    RecurrentEncoder,
    ResNetImageEncoder,
    SentencePlusBagEncoder,
)
from models.fusion import FusionClassifier, FusionClassifierSettings
from models.metrics import classification_scores
from models.settings import Settings
from models.text import CLASSIFIER_TOKENIZER, Vocabulary
from models.training import FitResult, TrainSettings, fit, predict

TEXT_ENCODER_CHOICES = ("bag-max", "bag-mean", "gru", "lstm", "minilm", "minilm+bag")
SENTENCE_ENCODERS = ("minilm", "minilm+bag")
CONDITIONS = ("both", "image_only", "text_only")


@dataclass(frozen=True)
class FusionSettings(Settings):
    """Everything that shapes a fusion model; stored with every model in the registry.

    With share_image_encoder the four fusions read the frozen image vectors of the trained `image` classifier
    (the paper feeds a fixed CNN's features); without it each fusion trains its own CNN end to end.
    """

    text_encoder: str = "bag-max"
    embedding_dim: int = 200
    max_tokens: int = 96
    min_count: int = 1
    ngrams: int = 1
    balanced_classes: bool = False
    image_size: int = 64
    channels: int = 3
    image_widths: tuple[int, ...] = (32, 64, 128)
    hidden: int = 100
    dropout: float = 0.25
    negatives: int = 3
    main_task_weight: float = 3.0
    pooling: str = "max"
    share_image_encoder: bool = True
    image_backbone: str | None = None
    train: TrainSettings = field(default_factory=lambda: TrainSettings(epochs=40, learning_rate=0.003, patience=10))
    image_train: TrainSettings = field(
        default_factory=lambda: TrainSettings(epochs=25, learning_rate=0.001, patience=8))

    def __post_init__(self) -> None:
        if self.text_encoder not in TEXT_ENCODER_CHOICES:
            raise ValueError(f"text encoder must be one of {', '.join(TEXT_ENCODER_CHOICES)}")


def tokenize_texts(texts: Sequence[str | None], ngrams: int = 1) -> list[list[str]]:
    """Tokens, plus word n-grams up to `ngrams` joined by a space (fastText's bag of n-grams)."""
    documents = CLASSIFIER_TOKENIZER.many(texts)
    if ngrams <= 1:
        return documents
    return [tokens + [" ".join(tokens[i : i + n]) for n in range(2, ngrams + 1) for i in range(len(tokens) - n + 1)]
            for tokens in documents]


def token_inputs(
    token_lists: list[list[str]], vocabulary: Vocabulary, max_tokens: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids (n, max_tokens), has_text) where has_text means at least one token."""
    ids = vocabulary.encode(token_lists, max_tokens)
    return ids, np.array([len(tokens) > 0 for tokens in token_lists], dtype=bool)


def build_model(
    variant: str, settings: FusionSettings, classes: int, vocabulary_size: int, text_feature_dim: int,
    image_feature_dim: int | None, backbone: torch.nn.Module | None = None,
) -> FusionClassifier:
    """The variant's network; image_feature_dim set means the image input is precomputed vectors.

    `backbone` is a pretrained image network (settings.image_backbone, loaded by the caller) used frozen in
    place of the CNN trained from scratch.
    """
    head = FusionClassifierSettings(variant, classes, settings.hidden, settings.dropout, settings.negatives,
                                    settings.main_task_weight, settings.pooling)
    text_encoder: torch.nn.Module | None = None
    if variant != "image":
        if settings.text_encoder == "minilm+bag":
            text_encoder = SentencePlusBagEncoder(vocabulary_size, settings.embedding_dim, text_feature_dim,
                                                  settings.max_tokens, settings.dropout)
        elif settings.text_encoder == "minilm":
            text_encoder = torch.nn.Sequential(
                FeatureEncoder(text_feature_dim, settings.dropout), torch.nn.Linear(text_feature_dim,
                                                                                    settings.embedding_dim))
            text_encoder.output_dim = settings.embedding_dim
        elif settings.text_encoder in ("gru", "lstm"):
            text_encoder = RecurrentEncoder(vocabulary_size, settings.embedding_dim, settings.embedding_dim // 2,
                                            settings.text_encoder, settings.dropout)
        else:
            text_encoder = EmbeddingBagEncoder(vocabulary_size, settings.embedding_dim,
                                               settings.text_encoder.removeprefix("bag-"), settings.dropout)
    image_encoder: torch.nn.Module | None = None
    if variant != "text":
        if image_feature_dim is not None:
            image_encoder = FeatureEncoder(image_feature_dim, settings.dropout)
        elif backbone is not None:
            image_encoder = FrozenBackbone(backbone, settings.channels, settings.image_size)
        else:
            image_encoder = ResNetImageEncoder(settings.channels, settings.image_widths,
                                               image_size=settings.image_size)
    return FusionClassifier(head, text_encoder, image_encoder)


def subset(arrays: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The rows as a lazy view: memory maps stay on disk until a batch reads them."""
    return {name: _RowView(array, rows) for name, array in arrays.items()}


class _RowView:
    """Rows of an array selected by index, sliced lazily batch by batch."""

    def __init__(self, array: np.ndarray, rows: np.ndarray) -> None:
        self.array, self.rows = array, np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        return np.asarray(self.array[self.rows[index]])


def _masked(arrays: dict[str, Any], condition: str) -> dict[str, Any]:
    """The same posts with one modality hidden (Table 5's "only the text / only the image is available")."""
    if condition == "both":
        return arrays
    hidden = "has_text" if condition == "image_only" else "has_image"
    return {**arrays, hidden: np.zeros(len(arrays[hidden]), dtype=bool)}


def class_probabilities(model: FusionClassifier, arrays: dict[str, Any], device: str = "auto") -> np.ndarray:
    """Probabilities of the classes, (posts, classes)."""
    return np.exp(predict(model, arrays, device=device))


def evaluate(
    model: FusionClassifier, arrays: dict[str, Any], labels: np.ndarray, classes: int, split: str,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """Scores with both modalities, with only the image and with only the text (NaN for an empty split)."""
    rows = []
    for condition in CONDITIONS:
        if len(labels) == 0:  # e.g. a predefined split without test posts
            rows.append({"split": split, "condition": condition, **classification_scores(labels, labels, classes)})
            continue
        predicted = class_probabilities(model, _masked(arrays, condition), device).argmax(1)
        rows.append({"split": split, "condition": condition, **classification_scores(labels, predicted, classes)})
    return rows


def train_classifier(
    model: FusionClassifier,
    arrays: dict[str, np.ndarray],
    split: np.ndarray,
    settings: TrainSettings,
    save_checkpoint: Callable[[dict[str, Any]], None] | None = None,
    resume_from: dict[str, Any] | None = None,
    balanced_classes: bool = False,
) -> FitResult:
    """Fit on the train rows, stop early on the validation macro-F1; returns the fit history."""
    train_rows, val_rows = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    if len(train_rows) == 0 or len(val_rows) == 0:
        raise ValueError(
            f"need labelled posts in both train and val splits (train {len(train_rows)}, val {len(val_rows)}): "
            "label more posts"
        )
    train, val = subset(arrays, train_rows), subset(arrays, val_rows)
    if balanced_classes:
        model.set_class_weights(torch.as_tensor(np.asarray(arrays["label"])[train_rows]))
    val_labels = np.asarray(arrays["label"])[val_rows]

    def validation_macro_f1(current: torch.nn.Module) -> float:
        # Macro-F1 rather than accuracy: on a small, skewed validation split a model that only predicts the
        # majority class can win on accuracy; and rather than the log-likelihood, which peaks in the first
        # epochs, before the model has learnt to separate the classes.
        predicted = predict(current, {k: v for k, v in val.items() if k != "label"}, device=settings.device).argmax(1)
        return classification_scores(val_labels, predicted, int(model.settings.classes))["macro_f1"]

    return fit(model, train, lambda m, batch: m.loss(batch), validation_macro_f1, settings, save_checkpoint,
               resume_from, description=f"{model.settings.variant}")


def image_vectors(image_classifier: FusionClassifier, pixels: np.ndarray, device: str = "auto") -> np.ndarray:
    """The trained image classifier's encoder output for every image: the fusions' frozen image features."""
    encoder = image_classifier.image_encoder
    return predict(encoder, {"image": pixels}, device=device, forward=lambda m, batch: m(batch["image"]))
