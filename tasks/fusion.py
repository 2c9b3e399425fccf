"""Glue between the warehouse and paper 003's classifiers: snapshot a labelled set, train a variant, predict."""

from __future__ import annotations

import hashlib
import json
import time
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
from storage import datasets, learning, model_store, warehouse
from storage.home import Home
from storage.image_arrays import image_array
from tasks.locks import warehouse_writer

PREDICT_CHUNK = 20_000
IMAGE_SETTINGS = ("image_size", "channels", "image_widths", "hidden", "dropout", "balanced_classes", "image_train",
                  "image_backbone")


class LearningInputError(ValueError):
    """The warehouse cannot feed the asked-for training or prediction; the message says what to do."""


def _digest(*parts: Any, size: int = 6) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=size).hexdigest()


def prepare_dataset(task: str, home: str, curated_only: bool | None = None, split_task: str | None = None) -> str:
    """Snapshot the task's labelled posts with their split; returns the snapshot folder.

    curated_only None means: the curated posts once `postatlas curate` has run, every post before. The split is
    the hashed 80 / 5 / 15 one, or a predefined one: the posts' labels (train / val / test) in `split_task`.
    """
    store = Home.at(home)
    with warehouse.reader(store.warehouse) as con:
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
    snapshot = _digest(post_ids, labels, posts.column("image_path").to_pylist(), split.tolist(), size=8)
    posts = posts.drop_columns(["given_split"]).append_column("split", pa.array(split.tolist()))
    meta = {
        "task": task, "classes": classes, "snapshot": snapshot, "curated_only": curated_only,
        "posts": posts.num_rows, "split_sizes": _counts(posts.column("split").to_pylist()),
        "label_counts": _counts(labels), "split_task": split_task,
        "with_image": int(sum(p is not None for p in posts.column("image_path").to_pylist())),
    }
    directory = datasets.datasets_root(store.root) / f"fusion-{_slug(task)}-{snapshot}"
    return str(datasets.write_dataset(directory, posts, meta))


def _counts(values: list[str]) -> dict[str, int]:
    unique, counts = np.unique(np.asarray(values, dtype=object).astype(str), return_counts=True)
    return {str(value): int(count) for value, count in zip(unique, counts, strict=True)}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())[:40]


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
    store_home: Path, paths: list[str | None], settings: FusionSettings, image_model: FusionClassifier | None,
    feature_dir: Path | None, image_model_id: str | None, cache: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels, or the frozen image classifier's vectors when an image model is given."""
    pixels, present = image_array(store_home, paths, settings.image_size, settings.channels,
                                  datasets.image_cache(store_home) if cache else None)
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


def load_fusion_model(home: Path, model_id: str) -> tuple[FusionClassifier, dict[str, Any]]:
    """The registered model rebuilt with its weights, and its saved state (settings, classes, vocabulary)."""
    with warehouse.reader(home / "warehouse.duckdb") as con:
        row = learning.model_row(con, model_id)
    if row is None or row["kind"] != "fusion":
        raise LearningInputError(f"no fusion model {model_id!r} in the registry: see `postatlas models`")
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
    return f"fusion-{_slug(task)}-{variant}-{_digest(snapshot, settings, image_model_id)}"


def train_variant(
    dataset_dir: str, variant: str, settings: dict[str, Any], home: str, run_id: str,
    image_model_id: str | None = None, retrain: bool = False,
) -> str:
    """Train one variant on the snapshot (resuming an interrupted attempt), evaluate and register it.

    A model already trained on the same snapshot with the same settings is reused unless `retrain`.
    """
    store = Home.at(home)
    directory = Path(dataset_dir)
    posts, meta = datasets.read_dataset(directory)
    config = FusionSettings.from_dict(settings)
    if variant not in VARIANTS:
        raise LearningInputError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)} or all")
    model_id = fusion_model_id(meta["task"], variant, meta["snapshot"], settings, image_model_id)
    with warehouse.reader(store.warehouse) as con:
        done = learning.trained_model_exists(con, model_id)
    if done and not retrain:
        return model_id
    classes = meta["classes"]
    split = np.asarray(posts.column("split").to_pylist(), dtype=object)
    labels = np.array([classes.index(label) for label in posts.column("label").to_pylist()], dtype=np.int64)
    texts, paths = posts.column("text").to_pylist(), posts.column("image_path").to_pylist()
    text, has_text, vocabulary = _text_inputs(texts, config, None, directory, split)
    image_model = None
    if variant not in ("image", "text") and config.share_image_encoder:
        if image_model_id is None:
            raise LearningInputError(f"variant {variant!r} reads the image classifier's vectors: train `image` first")
        image_model, _ = load_fusion_model(store.root, image_model_id)
    arrays: dict[str, np.ndarray] = {"text": text, "has_text": has_text, "label": labels}
    if variant != "text":
        image, has_image = _image_inputs(store.root, paths, config, image_model, directory, image_model_id)
    else:
        image, has_image = None, np.array([bool(p) for p in paths], dtype=bool)
    arrays["has_image"] = has_image
    if image is not None:
        arrays["image"] = image
    image_feature_dim = int(image.shape[1]) if image_model is not None else None
    text_feature_dim = SENTENCE_DIMENSIONS if config.text_encoder in SENTENCE_ENCODERS else 0
    model = build_model(variant, config, len(classes), len(vocabulary or ()), text_feature_dim, image_feature_dim,
                        _backbone(config) if image_feature_dim is None else None)
    train_config = config.image_train if variant == "image" else config.train
    started = time.perf_counter()
    result = train_classifier(
        model, arrays, split, train_config,
        save_checkpoint=lambda state: model_store.save_checkpoint(store.root, model_id, state),
        resume_from=None if retrain else model_store.load_checkpoint(store.root, model_id),
        balanced_classes=config.balanced_classes,
    )
    seconds = time.perf_counter() - started
    features = {k: v for k, v in arrays.items() if k != "label"}
    evaluations = []
    for name in ("val", "test"):
        rows = np.flatnonzero(split == name)
        evaluations += evaluate(model, subset(features, rows), labels[rows], len(classes), name, train_config.device)
    path = model_store.save_model(store.root, model_id, {
        "weights": model.state_dict(), "task": meta["task"], "variant": variant, "classes": classes, "settings": config.as_dict(),
        "vocabulary": list(vocabulary.tokens) if vocabulary else None, "image_model_id": image_model_id,
        "text_feature_dim": text_feature_dim, "image_feature_dim": image_feature_dim,
    })
    trained = int((split == "train").sum())
    metrics = {
        "fit": result.as_dict(), "seconds": seconds,
        "train_samples_per_second": trained * len(result.history) / seconds if seconds else None,
        **{f"{row['split']}_{row['condition']}_{key}": row[key] for row in evaluations
           for key in ("accuracy", "macro_f1", "micro_f1")},
    }
    with warehouse_writer(store.warehouse, run_id) as con:
        learning.register_model(
            con, model_id=model_id, kind="fusion", task=meta["task"], variant=variant,
            config={**config.as_dict(), "image_model_id": image_model_id, "dataset": directory.name},
            data_snapshot=meta["snapshot"], split_sizes=meta["split_sizes"], metrics=metrics,
            checkpoint_path=str(path.relative_to(store.root)), run_id=run_id, evaluations=evaluations,
        )
    return model_id


def predict_posts(task: str, home: str, run_id: str, model_id: str | None = None) -> dict[str, Any]:
    """Predict the task for every (curated) post without a gold label; returns what was written."""
    store = Home.at(home)
    with warehouse.reader(store.warehouse) as con:
        chosen = model_id or learning.best_model_id(con, "fusion", task)
        if chosen is None:
            raise LearningInputError(
                f"no fusion model for task {task!r}: run `postatlas train fusion --task {task}` first")
        curated_only = learning.has_curation(con)
        posts = learning.posts_to_predict(con, task, curated_only)
    model, state = load_fusion_model(store.root, chosen)
    if state["task"] != task:
        raise LearningInputError(f"model {chosen} was not trained for task {task!r}")
    settings = FusionSettings.from_dict(state["settings"])
    image_model = load_fusion_model(store.root, state["image_model_id"])[0] if state["image_model_id"] else None
    vocabulary = Vocabulary(tuple(state["vocabulary"])) if state["vocabulary"] else None
    classes = np.asarray(state["classes"], dtype=object)
    parts = []
    for begin in range(0, posts.num_rows, PREDICT_CHUNK):
        chunk = posts.slice(begin, PREDICT_CHUNK)
        text, has_text, _ = _text_inputs(chunk.column("text").to_pylist(), settings, vocabulary, None)
        arrays = {"text": text, "has_text": has_text}
        if state["variant"] != "text":
            arrays["image"], arrays["has_image"] = _image_inputs(
                store.root, chunk.column("image_path").to_pylist(), settings, image_model, None, None, cache=False)
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
    with warehouse_writer(store.warehouse, run_id) as con:
        written = learning.write_predictions(con, table, task, chosen)
    by_label = _counts(table.column("label").to_pylist()) if written else {}
    by_modalities = _counts(table.column("modalities").to_pylist()) if written else {}
    return {"task": task, "model_id": chosen, "variant": state["variant"], "predicted": written,
            "labels": by_label, "modalities": by_modalities, "curated_only": curated_only}
