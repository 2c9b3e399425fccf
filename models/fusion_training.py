"""Training, evaluation and prediction of paper 003's classifiers on in-memory (or memory-mapped) arrays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from models.encoder_registry import DEFAULT_IMAGE_ENCODER, ENCODERS, parse_combination
from models.encoders import (
    EmbeddingBagEncoder,
    FeatureEncoder,
    FeaturesPlusTokensEncoder,
    FrozenBackbone,
    ProjectedFeatures,
    RecurrentEncoder,
    ResNetImageEncoder,
)
from models.fusion import FusionClassifier, FusionClassifierSettings
from models.metrics import classification_scores
from models.settings import Settings
from models.text import CLASSIFIER_TOKENIZER, Vocabulary
from models.training import FitResult, TrainSettings, fit, predict

DEFAULT_FUSION_TEXT_ENCODER = "e5-small+minilm+bag"
CONDITIONS = ("both", "image_only", "text_only")


@dataclass(frozen=True)
class FusionSettings(Settings):
    """Everything that shapes a fusion model; stored with every model in the registry.

    `text_encoder` and `image_encoder` name encoders of models/encoder_registry.py joined by '+': frozen ones
    read the feature store, at most one trained one (a word bag or RNN; the scratch CNN) learns with the classifier.
    With the scratch CNN and share_image_encoder the four fusions read the frozen image vectors of the trained
    `image` classifier (the paper feeds a fixed CNN's features); without it each fusion trains its own CNN.
    """

    text_encoder: str = DEFAULT_FUSION_TEXT_ENCODER
    image_encoder: str = DEFAULT_IMAGE_ENCODER
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
        parse_combination(self.text_encoder, "text")
        parse_combination(self.image_encoder, "image")

    @property
    def frozen_text(self) -> tuple[str, ...]:
        """The text encoders whose vectors come from the feature store, in order."""
        return tuple(n for n in parse_combination(self.text_encoder, "text") if ENCODERS[n].frozen)

    @property
    def token_encoder(self) -> str | None:
        """The trained text encoder (bag-max, bag-mean, gru, lstm), if any."""
        trained = [n for n in parse_combination(self.text_encoder, "text") if not ENCODERS[n].frozen]
        return trained[0] if trained else None

    @property
    def frozen_image(self) -> tuple[str, ...]:
        """The image encoders whose vectors come from the feature store (none for the scratch CNN)."""
        return tuple(n for n in parse_combination(self.image_encoder, "image") if ENCODERS[n].frozen)

    @property
    def scratch_image(self) -> bool:
        """Whether the image side is the CNN trained from scratch (paper fidelity)."""
        return not self.frozen_image


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
    text_encoder = _text_encoder(variant, settings, vocabulary_size, text_feature_dim) if variant != "image" else None
    image_encoder: torch.nn.Module | None = None
    if variant != "text":
        if image_feature_dim is not None:
            image_encoder = FeatureEncoder(image_feature_dim, settings.dropout)
        elif backbone is not None:
            image_encoder = FrozenBackbone(backbone, settings.channels, settings.image_size)
        elif variant != "probe":
            image_encoder = ResNetImageEncoder(settings.channels, settings.image_widths,
                                               image_size=settings.image_size)
    return FusionClassifier(head, text_encoder, image_encoder)


def _text_encoder(variant: str, settings: FusionSettings, vocabulary_size: int, feature_dim: int) -> torch.nn.Module:
    """Frozen vectors (projected; raw for the probe), a trained token encoder, or both side by side."""
    tokens: torch.nn.Module | None = None
    if settings.token_encoder in ("gru", "lstm"):
        tokens = RecurrentEncoder(vocabulary_size, settings.embedding_dim, settings.embedding_dim // 2,
                                  settings.token_encoder, settings.dropout)
    elif settings.token_encoder is not None:
        tokens = EmbeddingBagEncoder(vocabulary_size, settings.embedding_dim,
                                     settings.token_encoder.removeprefix("bag-"), settings.dropout)
    if not settings.frozen_text:
        return tokens
    if tokens is not None:
        return FeaturesPlusTokensEncoder(tokens, feature_dim, settings.embedding_dim, settings.max_tokens,
                                         settings.dropout)
    if variant == "probe":
        return FeatureEncoder(feature_dim, settings.dropout)
    return ProjectedFeatures(feature_dim, settings.embedding_dim, settings.dropout)


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


def masked(arrays: dict[str, Any], condition: str) -> dict[str, Any]:
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
        predicted = class_probabilities(model, masked(arrays, condition), device).argmax(1)
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
    if resume_from is None:
        model.fit_input_statistics(*_present_training_rows(arrays, train_rows))
    val_labels = np.asarray(arrays["label"])[val_rows]

    def validation_macro_f1(current: torch.nn.Module) -> float:
        # Macro-F1 rather than accuracy: on a small, skewed validation split a model that only predicts the
        # majority class can win on accuracy; and rather than the log-likelihood, which peaks in the first
        # epochs, before the model has learnt to separate the classes.
        predicted = predict(current, {k: v for k, v in val.items() if k != "label"}, device=settings.device).argmax(1)
        return classification_scores(val_labels, predicted, int(model.settings.classes))["macro_f1"]

    return fit(model, train, lambda m, batch: m.loss(batch), validation_macro_f1, settings, save_checkpoint,
               resume_from, description=f"{model.settings.variant}")


def _present_training_rows(arrays: dict[str, Any], train_rows: np.ndarray
                           ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The training rows of the text and image inputs that hold the modality (what standardisation learns from)."""
    chosen = []
    for name in ("text", "image"):
        if name not in arrays:
            chosen.append(None)
            continue
        rows = train_rows[np.asarray(arrays[f"has_{name}"])[train_rows]]
        chosen.append(np.asarray(arrays[name][rows]) if np.asarray(arrays[name]).dtype != np.uint8 else None)
    return chosen[0], chosen[1]


def image_vectors(image_classifier: FusionClassifier, pixels: np.ndarray, device: str = "auto") -> np.ndarray:
    """The trained image classifier's encoder output for every image: the fusions' frozen image features."""
    encoder = image_classifier.image_encoder
    return predict(encoder, {"image": pixels}, device=device, forward=lambda m, batch: m(batch["image"]))
