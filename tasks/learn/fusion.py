"""Paper 003's classifiers: snapshot a labelled set, train a variant (a Recipe), predict the unlabelled posts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from models.encoder_registry import ENCODERS
from models.fusion import VARIANTS, FusionClassifier
from models.fusion_training import (
    CONDITIONS,
    FusionSettings,
    build_model,
    class_probabilities,
    evaluate,
    image_vectors,
    masked,
    subset,
    token_inputs,
    tokenize_texts,
    train_classifier,
)
from models.metrics import classification_scores
from models.settings import Settings
from models.split import assign_splits
from models.text import Vocabulary
from models.training import TrainSettings
from storage import datasets, features, learning, model_store, warehouse
from storage.home import Home
from storage.image_arrays import image_array
from tasks.featurize import EncoderRun, feature_matrix, featurize_posts
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
IMAGE_SETTINGS = ("image_encoder", "image_size", "channels", "image_widths", "hidden", "dropout", "balanced_classes",
                  "image_train", "image_backbone")
# 70 / 15 / 15: a validation split large enough to choose between variants (paper 001's 5% gave ~140 posts on
# MVSA, where two variants' accuracies differ by less than their spread); the test split is the same 15% as before.
FUSION_SPLIT = (0.70, 0.15, 0.15)
ENSEMBLE_MEMBERS = 3


@dataclass(frozen=True)
class FusionTraining:
    """A training run's models (variant -> model id), their evaluation rows, the training set, the settings and the
    HTML report."""

    task: str
    models: dict[str, str]
    evaluations: list[dict[str, Any]]
    dataset: str
    settings: dict[str, Any]
    report_path: str | None = None


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
    split = assign_splits(post_ids, FUSION_SPLIT)
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


def _frozen_features(home: Home, post_ids: list[str], encoders: tuple[str, ...], feature_dir: Path | None,
                     side: str) -> tuple[np.ndarray, np.ndarray]:
    """The feature store's vectors of the encoders side by side (cached next to a training set's snapshot)."""
    name = f"features-{side}-{'+'.join(encoders)}"
    cached = datasets.cached_array(feature_dir, name) if feature_dir else None
    present = datasets.cached_array(feature_dir, f"{name}-present") if feature_dir else None
    if cached is not None and present is not None:
        return cached, np.asarray(present)
    vectors, present = feature_matrix(home, post_ids, encoders)
    if feature_dir:
        vectors = datasets.save_array(feature_dir, name, vectors)
        datasets.save_array(feature_dir, f"{name}-present", present)
    return vectors, present


def _text_inputs(
    home: Home, posts: pa.Table, settings: FusionSettings, vocabulary: Vocabulary | None, feature_dir: Path | None,
    split: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, Vocabulary | None]:
    """Frozen text vectors, token ids (with a vocabulary built on the train rows when none is given), or both
    packed side by side (ids first)."""
    texts = posts.column("text").to_pylist()
    tokens = tokenize_texts(texts, settings.ngrams)
    has_text = np.array([bool(t) for t in tokens], dtype=bool)
    vectors = None
    if settings.frozen_text:
        vectors, present = _frozen_features(home, posts.column("post_id").to_pylist(), settings.frozen_text,
                                            feature_dir, "text")
        has_text |= present
        if settings.token_encoder is None:
            return vectors, has_text, None
    if vocabulary is None:
        rows = np.flatnonzero(split == "train") if split is not None else np.arange(len(tokens))
        vocabulary = Vocabulary.build((tokens[i] for i in rows), min_count=settings.min_count)
    ids, _ = token_inputs(tokens, vocabulary, settings.max_tokens)
    if vectors is not None:
        return np.concatenate([ids.astype(np.float32), np.asarray(vectors)], 1), has_text, vocabulary
    return ids, has_text, vocabulary


def _image_inputs(
    home: Home, posts: pa.Table, settings: FusionSettings, image_model: FusionClassifier | None,
    feature_dir: Path | None, image_model_id: str | None, cache: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Frozen image vectors from the feature store; or pixels for the scratch CNN, or its trained image
    classifier's vectors when an image model is given."""
    if settings.frozen_image:
        return _frozen_features(home, posts.column("post_id").to_pylist(), settings.frozen_image, feature_dir,
                                "image")
    paths = posts.column("image_path").to_pylist()
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
    settings = stored_settings(state)
    model = build_model(state["variant"], settings, len(state["classes"]), len(state["vocabulary"] or ()),
                        state["text_feature_dim"], state["image_feature_dim"], _backbone(settings))
    model.load_state_dict(state["weights"])
    return model.eval(), state


def stored_settings(state: dict[str, Any]) -> FusionSettings:
    """A saved model's settings; models saved before the pretrained encoders used the scratch CNN."""
    return FusionSettings.from_dict({"image_encoder": "scratch-cnn", **state["settings"]})


def frozen_encoders(settings: FusionSettings, with_images: bool = True) -> tuple[str, ...]:
    """The feature-store encoders a model of these settings reads (the image ones only when there are images)."""
    return settings.frozen_text + (settings.frozen_image if with_images else ())


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
        """The variant's training settings; one CPU thread for small heads on stored features unless set.

        Measured here: a head on the stored image features trained 3.1x faster on one thread than on two of a
        busy 2-core machine (thread hand-offs cost more than such small matrix products gain); the scratch CNN and
        the RNNs keep every core.
        """
        chosen = self.settings.image_train if self.variant == "image" else self.settings.train
        light = (not self.settings.scratch_image or self.variant == "text") and self.settings.token_encoder not in (
            "gru", "lstm")
        return replace(chosen, threads=1) if light and chosen.threads is None else chosen

    def inputs(self, home: Home) -> _Inputs:
        """Frozen vectors from the feature store and / or token ids; pixels or the image classifier's vectors for
        the scratch CNN (all cached next to the snapshot)."""
        split = np.asarray(self.posts.column("split").to_pylist(), dtype=object)
        labels = np.array([self.classes.index(label) for label in self.posts.column("label").to_pylist()],
                          dtype=np.int64)
        text, has_text, vocabulary = _text_inputs(home, self.posts, self.settings, None, self.dataset, split)
        image_model = None
        if self.variant not in ("image", "text") and self.settings.scratch_image and self.settings.share_image_encoder:
            if self.image_model_id is None:
                raise LearningInputError(
                    f"variant {self.variant!r} reads the image classifier's vectors: train `image` first")
            image_model, _ = load_fusion_model(home, self.image_model_id)
        arrays: dict[str, np.ndarray] = {"text": text, "has_text": has_text, "label": labels}
        if self.variant != "text":
            image, has_image = _image_inputs(home, self.posts, self.settings, image_model, self.dataset,
                                             self.image_model_id)
            arrays["image"] = image
        else:
            has_image = np.array([bool(p) for p in self.posts.column("image_path").to_pylist()], dtype=bool)
        arrays["has_image"] = has_image
        text_feature_dim = sum(int(ENCODERS[name].dimension or 0) for name in self.settings.frozen_text)
        image_feature_dim = (int(arrays["image"].shape[1])
                             if "image" in arrays and (image_model is not None or self.settings.frozen_image)
                             else None)
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
            rows += [{**row, "classes": self.classes}
                     for row in evaluate(fitted.model, subset(features, chosen), labels[chosen], len(self.classes),
                                         name, self._train_settings().device)]
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


def featurize_training_set(dataset: TrainingSet, encoder: str, home: Home, run_id: str, device: str = "auto"
                           ) -> EncoderRun:
    """Encode the training set's posts the feature store lacks for one frozen encoder."""
    posts, _, _ = read_training_set(dataset)
    return featurize_posts(home, posts.select(["post_id", "text", "image_path"]), encoder, run_id, device)


@dataclass(frozen=True)
class _Predictor:
    """A registered (non-ensemble) fusion model loaded once for prediction, with what its inputs need."""

    model: FusionClassifier
    variant: str
    settings: FusionSettings
    image_model: FusionClassifier | None
    vocabulary: Vocabulary | None


def _predictor(home: Home, model_id: str) -> _Predictor:
    """Load a fusion model, its image classifier (scratch CNN runs) and its vocabulary."""
    model, state = load_fusion_model(home, model_id)
    image_model = load_fusion_model(home, state["image_model_id"])[0] if state["image_model_id"] else None
    vocabulary = Vocabulary(tuple(state["vocabulary"])) if state["vocabulary"] else None
    return _Predictor(model, state["variant"], stored_settings(state), image_model, vocabulary)


def _predictors(home: Home, model_id: str) -> list[_Predictor]:
    """The model itself, or an ensemble's members."""
    row = registered_model(home, model_id, KIND, "fusion model")
    if row["variant"] != "ensemble":
        return [_predictor(home, model_id)]
    members = model_store.load_model(home, row["checkpoint_path"])["members"]
    return [_predictor(home, member) for member in members]


def _model_probabilities(home: Home, predictor: _Predictor, posts: pa.Table, conditions: tuple[str, ...] = ("both",)
                         ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Class probabilities of one model for the posts under each condition, and which posts have a text and an
    image. The posts' frozen features must be in the store."""
    settings = predictor.settings
    text, has_text, _ = _text_inputs(home, posts, settings, predictor.vocabulary, None)
    arrays = {"text": text, "has_text": has_text}
    if predictor.variant != "text":
        arrays["image"], arrays["has_image"] = _image_inputs(home, posts, settings, predictor.image_model, None,
                                                             None, cache=False)
    else:
        arrays["has_image"] = np.array([bool(p) for p in posts.column("image_path").to_pylist()], dtype=bool)
    device = settings.train.device
    probabilities = {c: class_probabilities(predictor.model, masked(arrays, c), device) for c in conditions}
    return probabilities, has_text, arrays["has_image"]


def mean_probabilities(home: Home, predictors: list[_Predictor], posts: pa.Table,
                       conditions: tuple[str, ...] = ("both",)) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Class probabilities of a model, or the mean of an ensemble's members', with which posts have each modality."""
    results = [_model_probabilities(home, predictor, posts, conditions) for predictor in predictors]
    mean = {c: np.mean([r[0][c] for r in results], axis=0) for c in conditions}
    return mean, np.any([r[1] for r in results], axis=0), np.any([r[2] for r in results], axis=0)


@dataclass(frozen=True)
class EnsembleSettings(Settings):
    """The members of an ensemble (fusion model ids): its probabilities are the mean of theirs."""

    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class _HeldOut:
    """The ensemble's held-out posts: labels, split, and each member's probabilities under every condition."""

    labels: np.ndarray
    split: np.ndarray
    members: list[dict[str, np.ndarray]]


@dataclass(frozen=True, eq=False)
class EnsembleRecipe(Recipe[_HeldOut, None]):
    """The mean of the best variants' class probabilities, evaluated like a variant and chosen when it is best."""

    kind = KIND
    settings: EnsembleSettings
    classes: list[str]
    posts: pa.Table

    def model_id(self) -> str:
        """fusion-<task>-ensemble-<digest of the snapshot and the members>."""
        return f"fusion-{slug(self.task or '')}-ensemble-{digest(self.snapshot.digest, list(self.settings.members))}"

    def inputs(self, home: Home) -> _HeldOut:
        """The members' probabilities of the validation and test posts."""
        held_out = self.posts.filter(pa.array([s in ("val", "test") for s in self.posts.column("split").to_pylist()]))
        labels = np.array([self.classes.index(label) for label in held_out.column("label").to_pylist()], np.int64)
        members = [_model_probabilities(home, _predictor(home, member), held_out, CONDITIONS)[0]
                   for member in self.settings.members]
        return _HeldOut(labels, np.asarray(held_out.column("split").to_pylist(), dtype=object), members)

    def fit(self, inputs: _HeldOut, checkpoint: Checkpoint) -> Fitted[None]:
        """Nothing to fit: the members are trained."""
        return Fitted(None)

    def evaluate(self, fitted: Fitted[None], inputs: _HeldOut) -> Evaluation:
        """Validation and test scores of the mean probabilities, with both modalities and with one missing."""
        rows = []
        for name in ("val", "test"):
            chosen = inputs.split == name
            for condition in CONDITIONS:
                mean = np.mean([member[condition][chosen] for member in inputs.members], axis=0)
                predicted = mean.argmax(1) if chosen.any() else np.zeros(0, np.int64)
                rows.append({"split": name, "condition": condition, "classes": self.classes,
                             **classification_scores(inputs.labels[chosen], predicted, len(self.classes))})
        metrics = {f"{row['split']}_{row['condition']}_{key}": row[key] for row in rows
                   for key in ("accuracy", "macro_f1", "micro_f1")}
        return Evaluation(metrics, rows)

    def state(self, fitted: Fitted[None], inputs: _HeldOut) -> dict[str, Any]:
        """The members and what predicting needs."""
        return {"settings": self.settings.as_dict(), "task": self.task, "variant": "ensemble",
                "classes": self.classes, "members": list(self.settings.members)}


def train_ensemble(dataset: TrainingSet, model_ids: dict[str, str], home: Home, run_id: str) -> str | None:
    """Register the ensemble of the ENSEMBLE_MEMBERS variants with the best validation accuracy; its model id
    (None with fewer than two variants)."""
    with warehouse.reader(home.warehouse) as con:
        scores = {row["model_id"]: row["accuracy"] for row in learning.evaluation_table(con, list(model_ids.values()))
                  if row["split"] == "val" and row["condition"] == "both" and row["accuracy"] is not None}
    ranked = sorted((model_id for model_id in model_ids.values() if model_id in scores),
                    key=lambda model_id: (-scores[model_id], model_id))[:ENSEMBLE_MEMBERS]
    if len(ranked) < 2:
        return None
    posts, meta, snapshot = read_training_set(dataset)
    recipe = EnsembleRecipe(EnsembleSettings(tuple(sorted(ranked))), snapshot, meta["classes"], posts,
                            task=meta["task"], variant="ensemble")
    return train_and_register(recipe, home, run_id).model_id


def predict_posts(task: str, home: Home, run_id: str, model_id: str | None = None) -> FusionPredictions:
    """Predict the task for every (curated) post without a gold label with the best model by validation accuracy
    (an ensemble when it measured best); the posts' missing features are encoded first. Returns what was written."""
    with warehouse.reader(home.warehouse) as con:
        chosen = model_id or learning.best_model_id(con, KIND, task)
        if chosen is None:
            raise LearningInputError(
                f"no fusion model for task {task!r}: run `postatlas train fusion --task {task}` first")
        curated_only = learning.has_curation(con)
        posts = learning.posts_to_predict(con, task, curated_only)
    row = registered_model(home, chosen, KIND, "fusion model")
    state = model_store.load_model(home, row["checkpoint_path"])
    if state["task"] != task:
        raise LearningInputError(f"model {chosen} was not trained for task {task!r}")
    predictors = _predictors(home, chosen)
    encoders = sorted({name for predictor in predictors for name in frozen_encoders(predictor.settings)})
    for encoder in encoders:  # streams the posts chunk by chunk itself; afterwards prediction only reads
        featurize_posts(home, posts.select(["post_id", "text", "image_path"]), encoder, run_id)
    classes = np.asarray(state["classes"], dtype=object)
    parts = []
    for begin in range(0, posts.num_rows, PREDICT_CHUNK):
        chunk = posts.slice(begin, PREDICT_CHUNK)
        by_condition, has_text, has_image = mean_probabilities(home, predictors, chunk)
        scores = by_condition["both"]
        best = scores.argmax(1)
        modalities = np.where(has_text & has_image, "text+image",
                              np.where(has_text, "text", np.where(has_image, "image", "none")))
        parts.append(pa.table({
            "post_id": chunk.column("post_id"),
            "label": pa.array(classes[best].tolist()),
            "score": pa.array(scores[np.arange(len(best)), best].astype(float)),
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
        if encoders:
            features.refresh_view(con, home)
    by_label = value_counts(table.column("label").to_pylist()) if written else {}
    by_modalities = value_counts(table.column("modalities").to_pylist()) if written else {}
    return FusionPredictions(task, chosen, state["variant"], written, by_label, by_modalities, curated_only)
