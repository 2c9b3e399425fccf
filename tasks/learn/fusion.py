"""Paper 003's classifiers: snapshot a labelled set, train a variant (a Recipe), predict the unlabelled posts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from models.fusion import VARIANTS, FusionClassifier
from models.fusion_training import (
    SENTENCE_ENCODERS,
    FusionSettings,
    build_model,
    class_probabilities,
    evaluate,
    image_vectors,
    subset,
    token_inputs,
    tokenize_texts,
    train_classifier,
)
from models.sentence import SENTENCE_DIMENSIONS, encode_sentences
from models.split import assign_splits
from models.text import Vocabulary
from models.training import TrainSettings
from storage import datasets, learning, model_store, warehouse
from storage.home import Home
from storage.image_arrays import image_array
from tasks.learn.errors import LearningInputError
from tasks.learn.registry import (
    Checkpoint,
    Evaluation,
    Fitted,
    Recipe,
    TrainingSet,
    digest,
    read_training_set,
    registered_model,
    slug,
    train_and_register,
    value_counts,
    write_training_set,
)
from tasks.locks import warehouse_writer

KIND = "fusion"
PREDICT_CHUNK = 20_000
IMAGE_SETTINGS = ("image_size", "channels", "image_widths", "hidden", "dropout", "balanced_classes", "image_train",
                  "image_backbone")


@dataclass(frozen=True)
class FusionTraining:
    """A training run's models (variant -> model id), their evaluation rows, the training set and the settings."""

    task: str
    models: dict[str, str]
    evaluations: list[dict[str, Any]]
    dataset: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class FusionPredictions:
    """What `predict fusion` wrote: posts predicted, per label and per modalities present."""

    task: str
    model_id: str
    variant: str
    predicted: int
    labels: dict[str, int]
    modalities: dict[str, int]
    curated_only: bool


def prepare_dataset(task: str, home: Home, curated_only: bool | None = None, split_task: str | None = None
                    ) -> TrainingSet:
    """Snapshot the task's labelled posts with their split.

    curated_only None means: the curated posts once `postatlas curate` has run, every post before. The split is
    the hashed 80 / 5 / 15 one, or a predefined one: the posts' labels (train / val / test) in `split_task`.
    """
    with warehouse.reader(home.warehouse) as con:
        if curated_only is None:
            curated_only = learning.has_curation(con)
        posts = learning.labelled_posts(con, task, curated_only, split_task)
        tasks = learning.label_tasks(con)
    if posts.num_rows == 0:
        known = ", ".join(f"{name} ({count})" for name, count in tasks) or "none"
        raise LearningInputError(
            f"no {'curated ' if curated_only else ''}post carries a label for task {task!r}; label tasks: {known}"
        )
    post_ids = posts.column("post_id").to_pylist()
    labels = posts.column("label").to_pylist()
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise LearningInputError(f"task {task!r} has a single label ({classes[0]!r}): a classifier needs two")
    split = assign_splits(post_ids)
    if split_task is not None:
        given = np.asarray(posts.column("given_split").to_pylist(), dtype=object)
        unknown = sorted({str(v) for v in given if v is not None and v not in ("train", "val", "test")})
        if unknown or all(v is None for v in given):
            raise LearningInputError(
                f"split task {split_task!r} must label the posts train, val or test (found {unknown or 'none'})")
        split = np.where(given == None, split, given)  # noqa: E711 - element-wise over an object array
    snapshot = digest(post_ids, labels, posts.column("image_path").to_pylist(), split.tolist(), size=8)
    posts = posts.drop_columns(["given_split"]).append_column("split", pa.array(split.tolist()))
    meta = {
        "task": task, "classes": classes, "snapshot": snapshot, "curated_only": curated_only,
        "posts": posts.num_rows, "split_sizes": value_counts(posts.column("split").to_pylist()),
        "label_counts": value_counts(labels), "split_task": split_task,
        "with_image": int(sum(p is not None for p in posts.column("image_path").to_pylist())),
    }
    return write_training_set(home, f"fusion-{slug(task)}-{snapshot}", posts, meta)


def _text_inputs(
    texts: list[str | None], settings: FusionSettings, vocabulary: Vocabulary | None, feature_dir: Path | None,
    split: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, Vocabulary | None]:
    """Token ids (with a vocabulary built on the train rows when none is given), sentence vectors, or both."""
    tokens = tokenize_texts(texts, settings.ngrams)
    has_text = np.array([bool(t) for t in tokens], dtype=bool)
    sentences = None
    if settings.text_encoder in SENTENCE_ENCODERS:
        sentences = datasets.cached_array(feature_dir, "text-minilm") if feature_dir else None
        if sentences is None:
            sentences = encode_sentences([t or "" for t in texts], progress=True)
            if feature_dir:
                sentences = datasets.save_array(feature_dir, "text-minilm", sentences)
        if settings.text_encoder == "minilm":
            return sentences, has_text, None
    if vocabulary is None:
        rows = np.flatnonzero(split == "train") if split is not None else np.arange(len(tokens))
        vocabulary = Vocabulary.build((tokens[i] for i in rows), min_count=settings.min_count)
    ids, has_text = token_inputs(tokens, vocabulary, settings.max_tokens)
    if sentences is not None:
        return np.concatenate([ids.astype(np.float32), np.asarray(sentences)], 1), has_text, vocabulary
    return ids, has_text, vocabulary


def _image_inputs(
    home: Home, paths: list[str | None], settings: FusionSettings, image_model: FusionClassifier | None,
    feature_dir: Path | None, image_model_id: str | None, cache: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels, or the frozen image classifier's vectors when an image model is given."""
    pixels, present = image_array(home, paths, settings.image_size, settings.channels, cache)
    if image_model is None:
        return pixels, present
    name = f"image-vectors-{image_model_id}"
    cached = datasets.cached_array(feature_dir, name) if feature_dir else None
    if cached is None:
        cached = image_vectors(image_model, pixels, device=settings.train.device)
        if feature_dir:
            cached = datasets.save_array(feature_dir, name, cached)
    return cached, present


def _backbone(settings: FusionSettings) -> torch.nn.Module | None:
    """The optional pretrained image network, from its local TorchScript file."""
    return model_store.load_pretrained_network(settings.image_backbone) if settings.image_backbone else None


def load_fusion_model(home: Home, model_id: str) -> tuple[FusionClassifier, dict[str, Any]]:
    """The registered model rebuilt with its weights, and its saved state (settings, classes, vocabulary)."""
    row = registered_model(home, model_id, KIND, "fusion model")
    state = model_store.load_model(home, row["checkpoint_path"])
    settings = FusionSettings.from_dict(state["settings"])
    model = build_model(state["variant"], settings, len(state["classes"]), len(state["vocabulary"] or ()),
                        state["text_feature_dim"], state["image_feature_dim"], _backbone(settings))
    model.load_state_dict(state["weights"])
    return model.eval(), state


def fusion_model_id(task: str, variant: str, snapshot: str, settings: dict[str, Any], image_model_id: str | None
                    ) -> str:
    """Fixed by what the model learns from: the same data and settings name the same model.

    The image classifier depends on the image settings only, so runs that vary the text side share it.
    """
    if variant == "image":
        settings = {key: settings[key] for key in IMAGE_SETTINGS if key in settings}
    settings = {key: value for key, value in settings.items() if value is not None}  # options left unset
    return f"fusion-{slug(task)}-{variant}-{digest(snapshot, settings, image_model_id)}"


@dataclass(frozen=True)
class _Inputs:
    """A training set as the classifier reads it."""

    arrays: dict[str, np.ndarray]
    split: np.ndarray
    vocabulary: Vocabulary | None
    text_feature_dim: int
    image_feature_dim: int | None


@dataclass(frozen=True, eq=False)
class FusionRecipe(Recipe[_Inputs, FusionClassifier]):
    """One of paper 003's variants trained on a labelled training set."""

    kind = KIND
    settings: FusionSettings
    classes: list[str]
    posts: pa.Table
    dataset: Path
    image_model_id: str | None

    @classmethod
    def from_training_set(cls, dataset: TrainingSet, variant: str, settings: FusionSettings,
                          image_model_id: str | None) -> FusionRecipe:
        """The recipe of `variant` on the snapshot (the image classifier's id for the fusions that read it)."""
        if variant not in VARIANTS:
            raise LearningInputError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)} or all")
        posts, meta, snapshot = read_training_set(dataset)
        return cls(settings, snapshot, meta["classes"], posts, dataset.path, image_model_id, task=meta["task"],
                   variant=variant)

    def model_id(self) -> str:
        """See `fusion_model_id`."""
        return fusion_model_id(self.task, self.variant, self.snapshot.digest, self.settings.as_dict(),
                               self.image_model_id)

    def config(self) -> dict[str, Any]:
        """The settings, the image classifier read and the training set."""
        return {**super().config(), "image_model_id": self.image_model_id}

    def _train_settings(self) -> TrainSettings:
        return self.settings.image_train if self.variant == "image" else self.settings.train

    def inputs(self, home: Home) -> _Inputs:
        """Token ids or sentence vectors, and pixels or the image classifier's vectors (cached by the snapshot)."""
        split = np.asarray(self.posts.column("split").to_pylist(), dtype=object)
        labels = np.array([self.classes.index(label) for label in self.posts.column("label").to_pylist()],
                          dtype=np.int64)
        texts, paths = self.posts.column("text").to_pylist(), self.posts.column("image_path").to_pylist()
        text, has_text, vocabulary = _text_inputs(texts, self.settings, None, self.dataset, split)
        image_model = None
        if self.variant not in ("image", "text") and self.settings.share_image_encoder:
            if self.image_model_id is None:
                raise LearningInputError(
                    f"variant {self.variant!r} reads the image classifier's vectors: train `image` first")
            image_model, _ = load_fusion_model(home, self.image_model_id)
        arrays: dict[str, np.ndarray] = {"text": text, "has_text": has_text, "label": labels}
        if self.variant != "text":
            image, has_image = _image_inputs(home, paths, self.settings, image_model, self.dataset,
                                             self.image_model_id)
        else:
            image, has_image = None, np.array([bool(p) for p in paths], dtype=bool)
        arrays["has_image"] = has_image
        if image is not None:
            arrays["image"] = image
        text_feature_dim = SENTENCE_DIMENSIONS if self.settings.text_encoder in SENTENCE_ENCODERS else 0
        image_feature_dim = int(image.shape[1]) if image_model is not None else None
        return _Inputs(arrays, split, vocabulary, text_feature_dim, image_feature_dim)

    def fit(self, inputs: _Inputs, checkpoint: Checkpoint) -> Fitted[FusionClassifier]:
        """Train on the train split, stopping early on the validation macro-F1."""
        model = build_model(self.variant, self.settings, len(self.classes), len(inputs.vocabulary or ()),
                            inputs.text_feature_dim, inputs.image_feature_dim,
                            _backbone(self.settings) if inputs.image_feature_dim is None else None)
        result = train_classifier(model, inputs.arrays, inputs.split, self._train_settings(),
                                  save_checkpoint=checkpoint.save, resume_from=checkpoint.last(),
                                  balanced_classes=self.settings.balanced_classes)
        return Fitted(model, result, samples=int((inputs.split == "train").sum()))

    def evaluate(self, fitted: Fitted[FusionClassifier], inputs: _Inputs) -> Evaluation:
        """Validation and test scores with both modalities, only the image and only the text (paper 003, Table 5)."""
        labels = inputs.arrays["label"]
        features = {k: v for k, v in inputs.arrays.items() if k != "label"}
        rows = []
        for name in ("val", "test"):
            chosen = np.flatnonzero(inputs.split == name)
            rows += evaluate(fitted.model, subset(features, chosen), labels[chosen], len(self.classes), name,
                             self._train_settings().device)
        metrics = {f"{row['split']}_{row['condition']}_{key}": row[key] for row in rows
                   for key in ("accuracy", "macro_f1", "micro_f1")}
        return Evaluation(metrics, rows)

    def state(self, fitted: Fitted[FusionClassifier], inputs: _Inputs) -> dict[str, Any]:
        """Weights and settings, and what rebuilding the network needs (classes, vocabulary, input sizes)."""
        return {
            **super().state(fitted, inputs), "task": self.task, "variant": self.variant, "classes": self.classes,
            "vocabulary": list(inputs.vocabulary.tokens) if inputs.vocabulary else None,
            "image_model_id": self.image_model_id, "text_feature_dim": inputs.text_feature_dim,
            "image_feature_dim": inputs.image_feature_dim,
        }


def train_variant(
    dataset: TrainingSet, variant: str, settings: FusionSettings, home: Home, run_id: str,
    image_model_id: str | None = None, retrain: bool = False,
) -> str:
    """Train one variant on the snapshot (resuming an interrupted attempt), evaluate and register it; its model id.

    A model already trained on the same snapshot with the same settings is reused unless `retrain`.
    """
    recipe = FusionRecipe.from_training_set(dataset, variant, settings, image_model_id)
    return train_and_register(recipe, home, run_id, retrain).model_id


def evaluations(home: Home, model_ids: list[str]) -> list[dict[str, Any]]:
    """The evaluation rows of these models (validation and test, every condition)."""
    with warehouse.reader(home.warehouse) as con:
        return learning.evaluation_table(con, model_ids)


def predict_posts(task: str, home: Home, run_id: str, model_id: str | None = None) -> FusionPredictions:
    """Predict the task for every (curated) post without a gold label; returns what was written."""
    with warehouse.reader(home.warehouse) as con:
        chosen = model_id or learning.best_model_id(con, KIND, task)
        if chosen is None:
            raise LearningInputError(
                f"no fusion model for task {task!r}: run `postatlas train fusion --task {task}` first")
        curated_only = learning.has_curation(con)
        posts = learning.posts_to_predict(con, task, curated_only)
    model, state = load_fusion_model(home, chosen)
    if state["task"] != task:
        raise LearningInputError(f"model {chosen} was not trained for task {task!r}")
    settings = FusionSettings.from_dict(state["settings"])
    image_model = load_fusion_model(home, state["image_model_id"])[0] if state["image_model_id"] else None
    vocabulary = Vocabulary(tuple(state["vocabulary"])) if state["vocabulary"] else None
    classes = np.asarray(state["classes"], dtype=object)
    parts = []
    for begin in range(0, posts.num_rows, PREDICT_CHUNK):
        chunk = posts.slice(begin, PREDICT_CHUNK)
        text, has_text, _ = _text_inputs(chunk.column("text").to_pylist(), settings, vocabulary, None)
        arrays = {"text": text, "has_text": has_text}
        if state["variant"] != "text":
            arrays["image"], arrays["has_image"] = _image_inputs(
                home, chunk.column("image_path").to_pylist(), settings, image_model, None, None, cache=False)
        else:
            arrays["has_image"] = np.array([bool(p) for p in chunk.column("image_path").to_pylist()], dtype=bool)
        probabilities = class_probabilities(model, arrays, settings.train.device)
        best = probabilities.argmax(1)
        modalities = np.where(has_text & arrays["has_image"], "text+image",
                              np.where(has_text, "text", np.where(arrays["has_image"], "image", "none")))
        parts.append(pa.table({
            "post_id": chunk.column("post_id"),
            "label": pa.array(classes[best].tolist()),
            "score": pa.array(probabilities[np.arange(len(best)), best].astype(float)),
            "modalities": pa.array(modalities.tolist(), pa.string()),
        }))
    now = datetime.now(UTC)
    table = pa.concat_tables(parts) if parts else pa.table(
        {"post_id": pa.array([], pa.string()), "label": pa.array([], pa.string()),
         "score": pa.array([], pa.float64()), "modalities": pa.array([], pa.string())})
    table = table.append_column("run_id", pa.array([run_id] * table.num_rows, pa.string()))
    table = table.append_column("created_at", pa.array([now] * table.num_rows, pa.timestamp("us", tz="UTC")))
    with warehouse_writer(home.warehouse, run_id) as con:
        written = learning.write_predictions(con, table, task, chosen)
    by_label = value_counts(table.column("label").to_pylist()) if written else {}
    by_modalities = value_counts(table.column("modalities").to_pylist()) if written else {}
    return FusionPredictions(task, chosen, state["variant"], written, by_label, by_modalities, curated_only)
