"""Paper 001's models: the word space (Word2Vec + TF-IDF) and the regression CNN into it, each a Recipe."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from models.encoder_registry import spec as encoder_spec
from models.fusion_training import subset
from models.image_regression import (
    LOSS,
    SCRATCH_CNN,
    ImageRegressor,
    RegressionSettings,
    project_images,
    retrieval_ranks,
    retrieval_scores,
    row_cosines,
    train_regressor,
)
from models.split import assign_splits
from models.text import WORD_SPACE_TOKENIZER
from models.word_space import WordSpace, WordSpaceSettings, train_word_space
from storage import learning, model_store, warehouse, word_queries
from storage.home import Home
from storage.image_arrays import image_array
from storage.word_vectors import load_word_space, save_word_space
from tasks.featurize import feature_matrix, featurize_posts, refresh_feature_view
from tasks.learn.errors import LearningInputError
from tasks.learn.registry import (
    Checkpoint,
    Evaluation,
    Fitted,
    Recipe,
    Snapshot,
    digest,
    registered_model,
    train_and_register,
    value_counts,
)

WORD_SPACE_KIND, REGRESSION_KIND = "word_space", "image_regression"


@dataclass(frozen=True)
class WordSpaceTraining:
    """A trained word space: where it is, what it read and its size."""

    model_id: str
    path: str
    curated_only: bool
    posts_read: int
    vocabulary: int
    posts: int
    tokens: int
    dimensions: int
    seconds: float


@dataclass(frozen=True)
class RegressionTraining:
    """A trained regression CNN: its word space, its posts and its validation and test scores."""

    model_id: str
    word_space_model_id: str
    posts: int
    split_sizes: dict[str, int]
    val_mean_cosine: float
    best_epoch: int
    epochs: int
    device: str
    seconds: float
    test_mean_cosine: float
    test_recall_at_10: float
    test_median_rank: float
    test_images: int
    test_recall_at_10_chance: float
    image_encoder: str = SCRATCH_CNN
    test_recall_at_1: float = float("nan")
    test_recall_at_5: float = float("nan")
    test_image_to_caption_recall_at_1: float = float("nan")
    test_image_to_caption_recall_at_5: float = float("nan")
    test_image_to_caption_recall_at_10: float = float("nan")
    test_image_to_caption_median_rank: float = float("nan")
    features_encoded: int = 0


def read_posts(home: Home, curated_only: bool | None, published: bool = False) -> tuple[pa.Table, bool]:
    """The posts with a text (curated ones once `curate` has run, unless curated_only says otherwise); from the
    analyst copy when `published` (the analyses), else the live file (training)."""
    with (warehouse.analyst_reader(home.warehouse) if published else warehouse.reader(home.warehouse)) as con:
        if curated_only is None:
            curated_only = learning.has_curation(con)
        posts = word_queries.word_space_posts(con, curated_only)
    if posts.num_rows == 0:
        raise LearningInputError(
            f"no {'curated ' if curated_only else ''}post with a text in the warehouse: run `postatlas demo`, or "
            "`postatlas ingest` then `postatlas curate` (or pass --all-posts)"
        )
    return posts, curated_only


def tokenize(texts: list[str | None]) -> list[list[str]]:
    """Captions as the word space's tokens (with a progress bar)."""
    return [WORD_SPACE_TOKENIZER(text) for text in tqdm(texts, desc="tokenizing", unit="post", leave=False)]


# ----------------------------------------------------------------------------- the word space


@dataclass(frozen=True, eq=False)
class WordSpaceRecipe(Recipe[list[list[str]], WordSpace]):
    """Word2Vec + TF-IDF on the train split's captions. Every training is a new model (the run id is in the id)."""

    kind = WORD_SPACE_KIND
    reuse = False
    settings: WordSpaceSettings
    run_id: str
    curated_only: bool
    posts_read: int
    train_tokens: list[list[str]]

    @classmethod
    def from_posts(cls, posts: pa.Table, curated_only: bool, settings: WordSpaceSettings, run_id: str
                   ) -> WordSpaceRecipe:
        """The recipe over these posts' captions: tokenized, split, the train split's non-empty ones kept."""
        post_ids = posts.column("post_id").to_pylist()
        tokens = tokenize(posts.column("text").to_pylist())
        split = assign_splits(post_ids)
        has_tokens = np.array([bool(t) for t in tokens], dtype=bool)
        train_rows = np.flatnonzero((split == "train") & has_tokens)
        snapshot = Snapshot(digest(post_ids, size=8), value_counts(split[has_tokens]))
        return cls(settings, snapshot, run_id, curated_only, len(post_ids), [tokens[i] for i in train_rows],
                   variant="skip-gram" if settings.skip_gram else "cbow")

    def identity(self) -> tuple[Any, ...]:
        """The settings and the run: training again registers a new model."""
        return self.settings.as_dict(), self.run_id

    def config(self) -> dict[str, Any]:
        """The settings, which posts were read and the tokenizer."""
        return {**super().config(), "curated_only": self.curated_only, "tokenizer": asdict(WORD_SPACE_TOKENIZER)}

    def inputs(self, home: Home) -> list[list[str]]:
        """The train split's captions as tokens."""
        return self.train_tokens

    def fit(self, inputs: list[list[str]], checkpoint: Checkpoint) -> Fitted[WordSpace]:
        """gensim Word2Vec and TF-IDF (no checkpoints: one pass of gensim's own training)."""
        try:
            return Fitted(train_word_space(inputs, self.settings))
        except ValueError as error:
            raise LearningInputError(f"{error}: lower --min-count or add posts") from error

    def evaluate(self, fitted: Fitted[WordSpace], inputs: list[list[str]]) -> Evaluation:
        """The space's size: vocabulary, captions and tokens it learnt from, dimensions."""
        return Evaluation({"vocabulary": len(fitted.model.vectors), "posts": len(inputs),
                           "tokens": int(sum(len(tokens) for tokens in inputs)),
                           "dimensions": fitted.model.dimensions})

    def save(self, home: Home, model_id: str, fitted: Fitted[WordSpace], inputs: list[list[str]]) -> Path:
        """The vectors and IDF weights as models/<id>/ (gensim files, not a PyTorch model)."""
        return save_word_space(model_store.model_dir(home, model_id), fitted.model.vectors, fitted.model.idf)


def train_space(home: Home, run_id: str, settings: WordSpaceSettings, curated_only: bool | None = None
                ) -> WordSpaceTraining:
    """Train Word2Vec + TF-IDF on the train split's captions, save it under models/<id>/ and register it."""
    posts, curated_only = read_posts(home, curated_only)
    recipe = WordSpaceRecipe.from_posts(posts, curated_only, settings, run_id)
    trained = train_and_register(recipe, home, run_id)
    metrics = trained.metrics
    return WordSpaceTraining(trained.model_id, str(trained.path), curated_only, recipe.posts_read,
                             metrics["vocabulary"], metrics["posts"], metrics["tokens"], metrics["dimensions"],
                             metrics["seconds"])


def load_space(home: Home, model_id: str) -> WordSpace:
    """A registered word space (a LearningInputError when the id is not one, or its files are gone)."""
    row = registered_model(home, model_id, WORD_SPACE_KIND, "word-space model")
    directory = home.path(row["checkpoint_path"])
    if not directory.exists():
        raise LearningInputError(f"word space files {directory} are missing: run `postatlas train word-space`")
    return WordSpace(*load_word_space(directory))


# ----------------------------------------------------------------------------- the regression CNN


def image_inputs(home: Home, settings: RegressionSettings, post_ids: list[str], paths: list[str], run_id: str,
                 cache: bool = True, progress: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    """The regression's image input of these posts: uint8 pixels (scratch-cnn) or the frozen encoder's features
    from the feature store, encoding first the posts it has no row for; (inputs, readable, posts encoded now)."""
    if not settings.uses_features:
        pixels, present = image_array(home, paths, settings.image_size, settings.channels, cache=cache,
                                      progress=progress)
        return pixels, present, 0
    posts = pa.table({"post_id": pa.array(post_ids, pa.string()), "text": pa.nulls(len(post_ids), pa.string()),
                      "image_path": pa.array(paths, pa.string())})
    encoded = featurize_posts(home, posts, settings.image_encoder, run_id, device=settings.train.device,
                              progress=progress).encoded
    if encoded:
        refresh_feature_view(home, run_id)
    vectors, present = feature_matrix(home, post_ids, (settings.image_encoder,))
    return vectors, present, encoded


@dataclass(frozen=True, eq=False)
class RegressionRecipe(Recipe[dict[str, np.ndarray], ImageRegressor]):
    """The regression CNN from images to their captions' TF-IDF vectors in a word space."""

    kind = REGRESSION_KIND
    reuse = False
    settings: RegressionSettings
    run_id: str
    curated_only: bool
    word_space_id: str
    output_dim: int
    arrays: dict[str, np.ndarray]
    split: np.ndarray
    present: np.ndarray
    features_encoded: int = 0

    @classmethod
    def from_posts(cls, home: Home, posts: pa.Table, curated_only: bool, settings: RegressionSettings,
                   word_space_id: str, run_id: str) -> RegressionRecipe:
        """The recipe over the posts with a stored image and a caption word in the space (images decoded once)."""
        space = load_space(home, word_space_id)
        posts = posts.filter(pc.is_valid(posts.column("image_path")))
        targets, has_vector = space.caption_vectors(tokenize(posts.column("text").to_pylist()))
        posts, targets = posts.filter(pa.array(has_vector)), targets[has_vector]
        if posts.num_rows == 0:
            raise LearningInputError("no post has both a stored image and a caption word in the word space: "
                                     "add posts with images, or retrain the word space with a lower --min-count")
        post_ids = posts.column("post_id").to_pylist()
        images, present, encoded = image_inputs(home, settings, post_ids, posts.column("image_path").to_pylist(),
                                                run_id)
        split = np.where(present, assign_splits(post_ids), "absent").astype(object)
        snapshot = Snapshot(digest([p for p, ok in zip(post_ids, present, strict=True) if ok], word_space_id, size=8),
                            value_counts(split[present]))
        return cls(settings, snapshot, run_id, curated_only, word_space_id, space.dimensions,
                   {"image": images, "target": targets}, split, present, encoded)

    @property
    def feature_dim(self) -> int | None:
        """The frozen encoder's vector size (None for the scratch CNN, which reads pixels)."""
        return int(encoder_spec(self.settings.image_encoder).dimension or 0) if self.settings.uses_features else None

    def identity(self) -> tuple[Any, ...]:
        """The settings and the run: training again registers a new model."""
        return self.settings.as_dict(), self.run_id

    def config(self) -> dict[str, Any]:
        """The settings (the image encoder among them), the word space, the loss and what the target is."""
        return {**super().config(), "word_space_model_id": self.word_space_id, "loss": LOSS,
                "image_input": "stored frozen features" if self.settings.uses_features else "pixels",
                "target": "TF-IDF-weighted mean of the caption's word vectors", "curated_only": self.curated_only}

    def inputs(self, home: Home) -> dict[str, np.ndarray]:
        """Images and their caption vectors."""
        return self.arrays

    def fit(self, inputs: dict[str, np.ndarray], checkpoint: Checkpoint) -> Fitted[ImageRegressor]:
        """Train with the cosine loss, keeping the epoch of the best mean validation cosine."""
        model = ImageRegressor(self.output_dim, self.settings, self.feature_dim)
        try:
            result = train_regressor(model, inputs, self.split, self.settings.train, save_checkpoint=checkpoint.save,
                                     resume_from=checkpoint.last())
        except ValueError as error:
            raise LearningInputError(str(error)) from error
        return Fitted(model, result)

    def evaluate(self, fitted: Fitted[ImageRegressor], inputs: dict[str, np.ndarray]) -> Evaluation:
        """The validation score, and retrieval on the test split both ways: text to image (captions query the
        images) and image to caption (images query the captions); recall@1/5/10 and the median rank."""
        result = fitted.result
        test_rows = np.flatnonzero(self.split == "test")
        outputs = project_images(fitted.model, subset(inputs, test_rows)["image"], device=self.settings.train.device)
        test_targets = inputs["target"][test_rows]
        test = retrieval_scores(retrieval_ranks(outputs, test_targets), (1, 5, 10))
        image_to_caption = retrieval_scores(retrieval_ranks(test_targets, outputs), (1, 5, 10))
        return Evaluation({
            "test_recall_at_1": test["recall_at_1"], "test_recall_at_5": test["recall_at_5"],
            **{f"test_image_to_caption_{name}": value for name, value in image_to_caption.items()},
            "val_mean_cosine": result.best_score, "best_epoch": result.best_epoch, "epochs": len(result.history),
            "device": result.device,
            "test_mean_cosine": float(row_cosines(outputs, test_targets).mean()) if len(test_rows) else float("nan"),
            "test_recall_at_10": test["recall_at_10"], "test_median_rank": test["median_rank"],
            "test_images": len(test_rows),
            "test_recall_at_10_chance": min(10, len(test_rows)) / max(len(test_rows), 1),
        })

    def state(self, fitted: Fitted[ImageRegressor], inputs: dict[str, np.ndarray]) -> dict[str, Any]:
        """Weights and settings, the word space and its dimension, the frozen encoder's feature dimension."""
        return {**super().state(fitted, inputs), "word_space_model_id": self.word_space_id,
                "output_dim": self.output_dim, "feature_dim": self.feature_dim}


def train_regression(home: Home, run_id: str, settings: RegressionSettings, word_space_id: str,
                     curated_only: bool | None = None) -> RegressionTraining:
    """Train the regression CNN (image -> TF-IDF caption vector), evaluate on test, save and register it."""
    posts, curated_only = read_posts(home, curated_only)
    recipe = RegressionRecipe.from_posts(home, posts, curated_only, settings, word_space_id, run_id)
    trained = train_and_register(recipe, home, run_id)
    scores = {k: v for k, v in trained.metrics.items() if k != "fit"}
    return RegressionTraining(trained.model_id, word_space_id, int(recipe.present.sum()),
                              recipe.snapshot.split_sizes, **scores, image_encoder=settings.image_encoder,
                              features_encoded=recipe.features_encoded)


def regression_word_space(home: Home, model_id: str) -> str:
    """The id of the word space a regression CNN was trained to project into."""
    return registered_model(home, model_id, REGRESSION_KIND, "image-regression model")["config"]["word_space_model_id"]


def load_regressor(home: Home, model_id: str) -> tuple[ImageRegressor, RegressionSettings]:
    """A registered regression CNN with its weights, and its settings (models saved before the image encoder was
    a setting are scratch CNNs)."""
    row = registered_model(home, model_id, REGRESSION_KIND, "image-regression model")
    state = model_store.load_model(home, row["checkpoint_path"])
    settings = RegressionSettings.from_dict({"image_encoder": SCRATCH_CNN, **state["settings"]})
    model = ImageRegressor(state["output_dim"], settings, state.get("feature_dim"))
    model.load_state_dict(state["weights"])
    return model.eval(), settings
