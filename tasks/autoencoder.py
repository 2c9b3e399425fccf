"""Glue between the warehouse and paper 000's correlational autoencoder: snapshot, train, register, embed."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from scipy import sparse
from tqdm.auto import tqdm

from models.corrnet import (
    AutoencoderConfig,
    CorrNetAutoencoder,
    content_bags,
    content_vocabulary,
    corrnet_loss,
    embed,
    reconstruction_error,
)
from models.split import assign_splits
from models.text import WORD_SPACE_TOKENIZER, Vocabulary
from models.training import TrainConfig, fit
from models.word_space import WordSpaceConfig, train_word_space
from storage import datasets, learning, model_store, warehouse
from storage import embeddings as embedding_store
from storage.home import Home
from storage.image_arrays import image_array
from storage.word_vectors import load_pretrained_vectors
from tasks.fusion import LearningInputError
from tasks.locks import warehouse_writer

KIND = "autoencoder"
EMBED_CHUNK = 20_000
BAG_CHUNK = 50_000


@dataclass(frozen=True)
class AutoencoderSettings:
    """The network (paper 000's sizes by default), its training (RMSprop, lr 0.001) and the word vectors.

    Word vectors: word2vec trained from scratch on the training posts (the paper used pretrained 400-d Twitter
    vectors; `word_vectors` takes such a file from a local path, word2vec text or binary format).
    """

    model: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=20, batch_size=32, learning_rate=0.001, optimizer="rmsprop", patience=4))
    word_dimensions: int = 400
    word_epochs: int = 20
    word_min_count: int = 2
    word_vectors: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AutoencoderSettings:
        values = dict(values)
        if isinstance(values.get("model"), dict):
            values["model"] = _dataclass_from(AutoencoderConfig, values["model"])
        if isinstance(values.get("train"), dict):
            values["train"] = TrainConfig(**values["train"])
        return cls(**values)

    def with_overrides(self, overrides: dict[str, Any]) -> AutoencoderSettings:
        """Flat overrides (e.g. from the command line) applied to the field of whichever part has that name."""
        model_names = {f.name for f in fields(AutoencoderConfig)}
        train_names = {f.name for f in fields(TrainConfig)}
        own = {f.name for f in fields(self)} - {"model", "train"}
        unknown = set(overrides) - model_names - train_names - own
        if unknown:
            raise ValueError(f"unknown autoencoder setting(s): {', '.join(sorted(unknown))}")
        return replace(
            self,
            model=replace(self.model, **{k: v for k, v in overrides.items() if k in model_names}),
            train=replace(self.train, **{k: v for k, v in overrides.items() if k in train_names}),
            **{k: v for k, v in overrides.items() if k in own},
        )


def _dataclass_from(cls: type, values: dict[str, Any]) -> Any:
    known = {f.name: f for f in fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known})


def _digest(*parts: Any, size: int = 6) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=size).hexdigest()


def prepare_posts(home: str, curated_only: bool | None = None) -> str:
    """Snapshot the posts to train on (curated ones once `curate` has run) with their split; returns the folder."""
    store = Home.at(home)
    with warehouse.reader(store.warehouse) as con:
        if curated_only is None:
            curated_only = learning.has_curation(con)
        posts = learning.posts_with_content(con, curated_only)
    if posts.num_rows < 10:
        raise LearningInputError(
            f"only {posts.num_rows} {'curated ' if curated_only else ''}posts with a text or an image: the "
            "autoencoder needs at least 10 (ingest or collect more, or check `postatlas curate`)")
    post_ids = posts.column("post_id").to_pylist()
    split = assign_splits(post_ids)
    paths = posts.column("image_path").to_pylist()
    snapshot = _digest(post_ids, paths, posts.column("text_hash").to_pylist(), size=8)
    posts = posts.append_column("split", pa.array(split.tolist()))
    meta = {"snapshot": snapshot, "curated_only": curated_only, "posts": posts.num_rows,
            "split_sizes": {name: int((split == name).sum()) for name in ("train", "val", "test")},
            "with_image": int(sum(p is not None for p in paths))}
    directory = datasets.datasets_root(store.root) / f"autoencoder-{snapshot}"
    return str(datasets.write_dataset(directory, posts, meta))


def autoencoder_model_id(snapshot: str, settings: AutoencoderSettings) -> str:
    values = settings.as_dict()
    values["train"] = {k: v for k, v in values["train"].items() if k not in ("progress", "device", "threads")}
    return f"{KIND}-{_digest(snapshot, values)}"


def _word_vectors(token_lists: list[list[str]], settings: AutoencoderSettings, vocabulary: Vocabulary) -> np.ndarray:
    """One row per vocabulary word: its word2vec vector (trained here, or a local pretrained file), else zeros."""
    if settings.word_vectors:
        keyed = load_pretrained_vectors(settings.word_vectors)
    else:
        config = WordSpaceConfig(dimensions=settings.word_dimensions, epochs=settings.word_epochs,
                                 min_count=settings.word_min_count, workers=1, seed=settings.train.seed)
        keyed = train_word_space(token_lists, config).vectors
    matrix = np.zeros((len(vocabulary), keyed.vector_size), dtype=np.float32)
    for row, word in enumerate(vocabulary.tokens):
        if word in keyed.key_to_index:
            matrix[row] = keyed[word]
    return matrix


def _inputs(home: Path, posts: pa.Table, config: AutoencoderConfig, vocabulary: Vocabulary,
            content: tuple[str, ...] | None, cache: bool) -> dict[str, np.ndarray]:
    """The model's arrays: token ids, content-word bags (when `content` is given), images and presence flags."""
    tokens = WORD_SPACE_TOKENIZER.many(posts.column("text").to_pylist())
    ids = vocabulary.encode(tokens, config.max_tokens)
    arrays = {"tokens": ids, "has_text": (ids > 1).any(1)}
    if content is not None:
        arrays["bag"] = _SparseRows(sparse.vstack([
            sparse.csr_matrix(content_bags(tokens[begin:begin + BAG_CHUNK], content))
            for begin in range(0, max(len(tokens), 1), BAG_CHUNK)], format="csr"))
    paths = posts.column("image_path").to_pylist()
    if any(path is not None for path in paths):
        arrays["images"], arrays["has_image"] = image_array(
            home, paths, config.image_size, config.channels, datasets.image_cache(home) if cache else None)
    else:  # no image at all: a zero image per row without allocating one
        empty = np.zeros((1, config.channels, config.image_size, config.image_size), dtype=np.uint8)
        arrays["images"] = np.broadcast_to(empty, (len(paths), *empty.shape[1:]))
        arrays["has_image"] = np.zeros(len(paths), dtype=bool)
    return arrays


def _rows(arrays: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The arrays restricted to `rows` (images stay on disk, content bags stay sparse)."""
    def restrict(name: str, array: Any) -> Any:
        if name == "images":
            return _LazyRows(array, rows)
        return array.take(rows) if isinstance(array, _SparseRows) else array[rows]

    return {name: restrict(name, array) for name, array in arrays.items()}


class _SparseRows:
    """Content-word bags kept sparse (posts x words is mostly zeros); a batch is made dense when read."""

    def __init__(self, matrix: sparse.csr_matrix) -> None:
        self.matrix = matrix

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def take(self, rows: np.ndarray) -> _SparseRows:
        return _SparseRows(self.matrix[rows])

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        """Rows of a batch, dense."""
        return self.matrix[index].toarray()


class _LazyRows:
    """Rows of a (memory-mapped) array, read only when a batch asks for them."""

    def __init__(self, array: np.ndarray, rows: np.ndarray) -> None:
        self.array, self.rows = array, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        return np.asarray(self.array[self.rows[index]])


def train_autoencoder(dataset_dir: str, settings: dict[str, Any], home: str, run_id: str,
                      retrain: bool = False) -> str:
    """Train (or resume) the autoencoder on the snapshot, score it on val and test, register it; returns its id."""
    store = Home.at(home)
    directory = Path(dataset_dir)
    posts, meta = datasets.read_dataset(directory)
    config = AutoencoderSettings.from_dict(settings)
    model_id = autoencoder_model_id(meta["snapshot"], config)
    with warehouse.reader(store.warehouse) as con:
        if learning.trained_model_exists(con, model_id) and not retrain:
            return model_id
    split = np.asarray(posts.column("split").to_pylist(), dtype=object)
    train_rows = np.flatnonzero(split == "train")
    all_tokens = WORD_SPACE_TOKENIZER.many(posts.column("text").to_pylist())
    train_tokens = [all_tokens[i] for i in train_rows]
    vocabulary = Vocabulary.build(train_tokens, min_count=config.word_min_count)
    content = content_vocabulary(train_tokens, config.model.content_words)
    try:
        vectors = _word_vectors(train_tokens, config, vocabulary)
    except ValueError as error:
        raise LearningInputError(f"cannot train word vectors on these posts: {error}") from error
    arrays = _inputs(store.root, posts, config.model, vocabulary, content, cache=True)
    model = CorrNetAutoencoder(config.model, len(vocabulary), vectors.shape[1], len(content), vectors)
    validation_rows = np.flatnonzero(split == "val")
    if len(validation_rows) == 0:
        validation_rows = train_rows
    validation = _rows(arrays, validation_rows)
    started = time.perf_counter()
    result = fit(
        model, _rows(arrays, train_rows), corrnet_loss,
        lambda m: -reconstruction_error(m, validation, device=config.train.device)["total"], config.train,
        save_checkpoint=lambda state: model_store.save_checkpoint(store.root, model_id, state),
        resume_from=None if retrain else model_store.load_checkpoint(store.root, model_id),
        description="autoencoder",
    )
    seconds = time.perf_counter() - started
    scores = {name: reconstruction_error(model, _rows(arrays, np.flatnonzero(split == name)),
                                         device=config.train.device)
              for name in ("val", "test") if (split == name).any()}
    path = model_store.save_model(store.root, model_id, {
        "weights": model.state_dict(), "settings": config.as_dict(), "vocabulary": list(vocabulary.tokens),
        "content_words": list(content), "word_dimensions": int(vectors.shape[1]),
    })
    metrics = {"fit": result.as_dict(), "seconds": seconds,
               "train_samples_per_second": len(train_rows) * len(result.history) / seconds if seconds else None,
               **{f"{name}_{key}": float(value) for name, values in scores.items() for key, value in values.items()}}
    with warehouse_writer(store.warehouse, run_id) as con:
        if retrain:  # new weights under the same id: vectors of the old ones must not mix with new ones
            embedding_store.drop_model(store.root, model_id)
            embedding_store.refresh_view(con, store.root)
        learning.register_model(
            con, model_id=model_id, kind=KIND, task=None, variant=None,
            config={**config.as_dict(), "dataset": directory.name}, data_snapshot=meta["snapshot"],
            split_sizes=meta["split_sizes"], metrics=metrics, checkpoint_path=str(path.relative_to(store.root)),
            run_id=run_id,
        )
    return model_id


def load_autoencoder(home: Path, model_id: str) -> tuple[CorrNetAutoencoder, dict[str, Any]]:
    with warehouse.reader(home / "warehouse.duckdb") as con:
        row = learning.model_row(con, model_id)
    if row is None or row["kind"] != KIND:
        raise LearningInputError(f"no autoencoder {model_id!r} in the registry: see `postatlas models`")
    state = model_store.load_model(home, row["checkpoint_path"])
    settings = AutoencoderSettings.from_dict(state["settings"])
    model = CorrNetAutoencoder(settings.model, len(state["vocabulary"]), state["word_dimensions"],
                               len(state["content_words"]))
    model.load_state_dict(state["weights"])
    return model.eval(), state


def newest_autoencoder(home: Path) -> str:
    chosen = newest_autoencoder_or_none(home)
    if chosen is None:
        raise LearningInputError("no autoencoder trained yet: run `postatlas train autoencoder` first")
    return chosen


def newest_autoencoder_or_none(home: str | Path) -> str | None:
    with warehouse.reader(Home.at(home).warehouse) as con:
        rows = con.execute(
            "SELECT model_id FROM models WHERE kind = ? ORDER BY created_at DESC LIMIT 1", [KIND]).fetchall()
    return rows[0][0] if rows else None


def embed_posts(home: str, run_id: str, model_id: str | None = None, device: str = "auto") -> dict[str, Any]:
    """Embed the (curated) posts this model has not embedded yet, chunk by chunk; returns counts."""
    store = Home.at(home)
    chosen = model_id or newest_autoencoder(store.root)
    model, state = load_autoencoder(store.root, chosen)
    settings = AutoencoderSettings.from_dict(state["settings"])
    vocabulary = Vocabulary(tuple(state["vocabulary"]))
    with warehouse.reader(store.warehouse) as con:
        curated_only = learning.has_curation(con)
        posts = learning.posts_with_content(con, curated_only)
        without_content = learning.post_count(con, curated_only) - posts.num_rows
    known_parts = embedding_store.part_names(store.root, chosen)
    done = embedding_store.embedded_post_ids(store.root, chosen)
    todo = posts.filter(pa.array([p not in done for p in posts.column("post_id").to_pylist()]))
    written = unusable = 0
    for begin in tqdm(range(0, todo.num_rows, EMBED_CHUNK), desc="embed", unit="chunk", disable=None):
        chunk = todo.slice(begin, EMBED_CHUNK)
        arrays = _inputs(store.root, chunk, settings.model, vocabulary, None, cache=False)
        unusable += int((~(arrays["has_text"] | arrays["has_image"])).sum())  # no known word, no readable image
        vectors = embed(model, arrays, device=device)
        ids = chunk.column("post_id").to_pylist()
        with warehouse_writer(store.warehouse, run_id) as con:
            # parts another run wrote meanwhile (this run's own parts hold none of this chunk's posts)
            others = embedding_store.part_names(store.root, chosen) - known_parts
            already = embedding_store.embedded_post_ids(store.root, chosen, others) if others else set()
            keep = np.array([p not in already for p in ids], dtype=bool)
            path = embedding_store.write_part(store.root, chosen, run_id,
                                              [p for p, k in zip(ids, keep, strict=True) if k], vectors[keep])
            embedding_store.refresh_view(con, store.root)
        known_parts |= others | ({path.name} if path else set())
        written += int(keep.sum())
    if todo.num_rows == 0:
        with warehouse_writer(store.warehouse, run_id) as con:
            embedding_store.refresh_view(con, store.root)
    return {"model_id": chosen, "embedded": written, "already_embedded": len(done), "posts": posts.num_rows,
            "without_content": without_content, "unusable": unusable, "curated_only": curated_only,
            "dimensions": settings.model.code_size}


def model_summary(home: str, model_id: str) -> list[tuple[str, str]]:
    """(field, value) rows describing a registered autoencoder, for the terminal."""
    with warehouse.reader(Home.at(home).warehouse) as con:
        row = learning.model_row(con, model_id)
    if row is None:
        raise LearningInputError(f"no model {model_id!r} in the registry")
    metrics, config = row["metrics"], row["config"]
    fitted = metrics.get("fit", {})
    model = config["model"]

    def score(split: str) -> str:
        if f"{split}_total" not in metrics:
            return "no posts in this split"
        return (f"image MSE {metrics[f'{split}_image_mse']:.4f}, text MSE {metrics[f'{split}_text_mse']:.4f}, "
                f"view correlation {metrics[f'{split}_correlation']:.3f}")

    images = f"{'grey' if model['channels'] == 1 else 'colour'} {model['image_size']} px images"
    return [
        ("model_id", model_id),
        ("posts", f"train {row['train_posts']}, val {row['val_posts']}, test {row['test_posts']}"),
        ("network", f"{images}, code {model['code_size']}, lambda {model['correlation_weight']}"),
        ("validation", score("val")),
        ("test", score("test")),
        ("epochs", f"{len(fitted.get('history', []))} (best {fitted.get('best_epoch')})"),
        ("device, seconds", f"{fitted.get('device')}, {metrics.get('seconds', 0):.1f}"),
    ]
