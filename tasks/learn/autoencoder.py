"""Paper 000's correlational autoencoder: snapshot the posts, train it (a Recipe), embed posts with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from scipy import sparse
from tqdm.auto import tqdm

from models.corrnet import (
    AutoencoderSettings,
    CorrNetAutoencoder,
    CorrNetSettings,
    content_bags,
    content_vocabulary,
    corrnet_loss,
    embed,
    reconstruction_error,
)
from models.split import assign_splits
from models.text import WORD_SPACE_TOKENIZER, Vocabulary
from models.training import fit
from models.word_space import WordSpaceSettings, train_word_space
from storage import embeddings as embedding_store
from storage import learning, model_store, warehouse
from storage.home import Home
from storage.image_arrays import image_array
from storage.word_vectors import load_pretrained_vectors
from tasks.learn.errors import LearningInputError
from tasks.learn.registry import (
    Checkpoint,
    Evaluation,
    Fitted,
    Recipe,
    TrainingSet,
    digest,
    newest_model,
    read_training_set,
    registered_model,
    train_and_register,
    write_training_set,
)
from tasks.locks import warehouse_writer

KIND = "autoencoder"
EMBED_CHUNK = 20_000
BAG_CHUNK = 50_000
RUNTIME_TRAIN_SETTINGS = ("progress", "device", "threads")  # how, not what, the autoencoder learns


@dataclass(frozen=True)
class Embedded:
    """What `embed` did: posts embedded now and before, posts it could not embed or embedded from nothing."""

    model_id: str
    embedded: int
    already_embedded: int
    posts: int
    without_content: int
    unusable: int
    curated_only: bool
    dimensions: int
    read: int = 0  # posts this run selected to embed (those without a vector yet)


def prepare_posts(home: Home, curated_only: bool | None = None) -> TrainingSet:
    """Snapshot the posts to train on (curated ones once `curate` has run) with their split."""
    with warehouse.reader(home.warehouse) as con:
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
    snapshot = digest(post_ids, paths, posts.column("text_hash").to_pylist(), size=8)
    posts = posts.append_column("split", pa.array(split.tolist()))
    meta = {"snapshot": snapshot, "curated_only": curated_only, "posts": posts.num_rows,
            "split_sizes": {name: int((split == name).sum()) for name in ("train", "val", "test")},
            "with_image": int(sum(p is not None for p in paths))}
    return write_training_set(home, f"autoencoder-{snapshot}", posts, meta)


def _word_vectors(token_lists: list[list[str]], settings: AutoencoderSettings, vocabulary: Vocabulary) -> np.ndarray:
    """One row per vocabulary word: its word2vec vector (trained here, or a local pretrained file), else zeros."""
    if settings.word_vectors:
        keyed = load_pretrained_vectors(settings.word_vectors)
    else:
        word_settings = WordSpaceSettings(dimensions=settings.word_dimensions, epochs=settings.word_epochs,
                                          min_count=settings.word_min_count, workers=1, seed=settings.train.seed)
        keyed = train_word_space(token_lists, word_settings).vectors
    matrix = np.zeros((len(vocabulary), keyed.vector_size), dtype=np.float32)
    for row, word in enumerate(vocabulary.tokens):
        if word in keyed.key_to_index:
            matrix[row] = keyed[word]
    return matrix


def _inputs(home: Home, posts: pa.Table, settings: CorrNetSettings, vocabulary: Vocabulary,
            content: tuple[str, ...] | None, cache: bool) -> dict[str, Any]:
    """The model's arrays: token ids, content-word bags (when `content` is given), images and presence flags."""
    tokens = WORD_SPACE_TOKENIZER.many(posts.column("text").to_pylist())
    ids = vocabulary.encode(tokens, settings.max_tokens)
    arrays: dict[str, Any] = {"tokens": ids, "has_text": (ids > 1).any(1)}
    if content is not None:
        arrays["bag"] = _SparseRows(sparse.vstack([
            sparse.csr_matrix(content_bags(tokens[begin:begin + BAG_CHUNK], content))
            for begin in range(0, max(len(tokens), 1), BAG_CHUNK)], format="csr"))
    paths = posts.column("image_path").to_pylist()
    if any(path is not None for path in paths):
        arrays["images"], arrays["has_image"] = image_array(home, paths, settings.image_size, settings.channels,
                                                            cache)
    else:  # no image at all: a zero image per row without allocating one
        empty = np.zeros((1, settings.channels, settings.image_size, settings.image_size), dtype=np.uint8)
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


@dataclass(frozen=True)
class AutoencoderTraining:
    """The trained (or reused) autoencoder and the training set it read."""

    model_id: str
    dataset: str


@dataclass(frozen=True)
class _Inputs:
    """The training set as the autoencoder reads it, with its vocabularies and word vectors."""

    arrays: dict[str, Any]
    split: np.ndarray
    vocabulary: Vocabulary
    content: tuple[str, ...]
    vectors: np.ndarray


@dataclass(frozen=True, eq=False)
class AutoencoderRecipe(Recipe[_Inputs, CorrNetAutoencoder]):
    """Paper 000's autoencoder trained on a snapshot of the posts."""

    kind = KIND
    settings: AutoencoderSettings
    posts: pa.Table

    @classmethod
    def from_training_set(cls, dataset: TrainingSet, settings: AutoencoderSettings) -> AutoencoderRecipe:
        """The recipe of the autoencoder on the snapshot."""
        posts, _, snapshot = read_training_set(dataset)
        return cls(settings, snapshot, posts)

    def identity(self) -> tuple[Any, ...]:
        """The settings without those that change how it trains, not what it learns (device, threads, progress)."""
        values = self.settings.as_dict()
        values["train"] = {k: v for k, v in values["train"].items() if k not in RUNTIME_TRAIN_SETTINGS}
        return (values,)

    def inputs(self, home: Home) -> _Inputs:
        """Vocabulary, content words and word vectors of the train split; token ids, bags and images of every post."""
        split = np.asarray(self.posts.column("split").to_pylist(), dtype=object)
        all_tokens = WORD_SPACE_TOKENIZER.many(self.posts.column("text").to_pylist())
        train_tokens = [all_tokens[i] for i in np.flatnonzero(split == "train")]
        vocabulary = Vocabulary.build(train_tokens, min_count=self.settings.word_min_count)
        content = content_vocabulary(train_tokens, self.settings.model.content_words)
        try:
            vectors = _word_vectors(train_tokens, self.settings, vocabulary)
        except ValueError as error:
            raise LearningInputError(f"cannot train word vectors on these posts: {error}") from error
        arrays = _inputs(home, self.posts, self.settings.model, vocabulary, content, cache=True)
        return _Inputs(arrays, split, vocabulary, content, vectors)

    def fit(self, inputs: _Inputs, checkpoint: Checkpoint) -> Fitted[CorrNetAutoencoder]:
        """Train on the train split, stopping early on the validation objective (the train split without one)."""
        model = CorrNetAutoencoder(self.settings.model, len(inputs.vocabulary), inputs.vectors.shape[1],
                                   len(inputs.content), inputs.vectors)
        train_rows = np.flatnonzero(inputs.split == "train")
        validation_rows = np.flatnonzero(inputs.split == "val")
        if len(validation_rows) == 0:
            validation_rows = train_rows
        validation = _rows(inputs.arrays, validation_rows)
        device = self.settings.train.device
        result = fit(
            model, _rows(inputs.arrays, train_rows), corrnet_loss,
            lambda m: -reconstruction_error(m, validation, device=device)["total"], self.settings.train,
            save_checkpoint=checkpoint.save, resume_from=checkpoint.last(), description="autoencoder",
        )
        return Fitted(model, result, samples=len(train_rows))

    def evaluate(self, fitted: Fitted[CorrNetAutoencoder], inputs: _Inputs) -> Evaluation:
        """The objective's terms on the validation and test splits (those that have posts)."""
        scores = {name: reconstruction_error(fitted.model, _rows(inputs.arrays, np.flatnonzero(inputs.split == name)),
                                             device=self.settings.train.device)
                  for name in ("val", "test") if (inputs.split == name).any()}
        return Evaluation({f"{name}_{key}": float(value) for name, values in scores.items()
                           for key, value in values.items()})

    def state(self, fitted: Fitted[CorrNetAutoencoder], inputs: _Inputs) -> dict[str, Any]:
        """Weights and settings, the vocabulary, the content words and the word vectors' size."""
        return {**super().state(fitted, inputs), "vocabulary": list(inputs.vocabulary.tokens),
                "content_words": list(inputs.content), "word_dimensions": int(inputs.vectors.shape[1])}

    def on_retrain(self, con: duckdb.DuckDBPyConnection, home: Home, model_id: str) -> None:
        """New weights under the same id: the old weights' embeddings must not mix with the new ones."""
        embedding_store.drop_model(home, model_id)
        embedding_store.refresh_view(con, home)


def train_autoencoder(dataset: TrainingSet, settings: AutoencoderSettings, home: Home, run_id: str,
                      retrain: bool = False) -> str:
    """Train (or resume) the autoencoder on the snapshot, score it on val and test, register it; returns its id."""
    return train_and_register(AutoencoderRecipe.from_training_set(dataset, settings), home, run_id, retrain).model_id


def load_autoencoder(home: Home, model_id: str) -> tuple[CorrNetAutoencoder, dict[str, Any]]:
    """A registered autoencoder with its weights, and its saved state (settings, vocabulary, content words)."""
    row = registered_model(home, model_id, KIND, "autoencoder")
    state = model_store.load_model(home, row["checkpoint_path"])
    settings = AutoencoderSettings.from_dict(state["settings"])
    model = CorrNetAutoencoder(settings.model, len(state["vocabulary"]), state["word_dimensions"],
                               len(state["content_words"]))
    model.load_state_dict(state["weights"])
    return model.eval(), state


def newest_autoencoder(home: Home) -> str | None:
    """The newest registered autoencoder, or None."""
    return newest_model(home, KIND)


def embed_posts(home: Home, run_id: str, model_id: str | None = None, device: str = "auto") -> Embedded:
    """Embed the (curated) posts this model has not embedded yet, chunk by chunk; returns counts."""
    chosen = model_id or newest_autoencoder(home)
    if chosen is None:
        raise LearningInputError("no autoencoder trained yet: run `postatlas train autoencoder` first")
    model, state = load_autoencoder(home, chosen)
    settings = AutoencoderSettings.from_dict(state["settings"])
    vocabulary = Vocabulary(tuple(state["vocabulary"]))
    stored = embedding_store.part_paths(home, chosen)
    known_parts = {part.name for part in stored}
    with warehouse.reader(home.warehouse) as con:
        curated_only = learning.has_curation(con)
        todo = learning.posts_with_content(con, curated_only, skip=stored)  # the new posts only
        with_content, without_content = learning.content_counts(con, curated_only)
    already = embedding_store.embedded_count(home, chosen)
    written = unusable = 0
    for begin in tqdm(range(0, todo.num_rows, EMBED_CHUNK), desc="embed", unit="chunk", disable=None):
        chunk = todo.slice(begin, EMBED_CHUNK)
        arrays = _inputs(home, chunk, settings.model, vocabulary, None, cache=False)
        unusable += int((~(arrays["has_text"] | arrays["has_image"])).sum())  # no known word, no readable image
        vectors = embed(model, arrays, device=device)
        ids = chunk.column("post_id").to_pylist()
        with warehouse_writer(home.warehouse, run_id) as con:
            # parts another run wrote meanwhile (this run's own parts hold none of this chunk's posts)
            others = embedding_store.part_names(home, chosen) - known_parts
            theirs = embedding_store.embedded_post_ids(home, chosen, others) if others else set()
            keep = np.array([p not in theirs for p in ids], dtype=bool)
            path = embedding_store.write_part(home, chosen, run_id, [p for p, k in zip(ids, keep, strict=True) if k],
                                              vectors[keep])
            embedding_store.refresh_view(con, home)
        known_parts |= others | ({path.name} if path else set())
        written += int(keep.sum())
    if todo.num_rows == 0:
        with warehouse_writer(home.warehouse, run_id) as con:
            embedding_store.refresh_view(con, home)
    return Embedded(chosen, written, already, with_content, without_content, unusable, curated_only,
                    settings.model.code_size, todo.num_rows)


def model_summary(home: Home, model_id: str) -> list[tuple[str, str]]:
    """(field, value) rows describing a registered autoencoder, for the terminal."""
    with warehouse.reader(home.warehouse) as con:
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
