"""Paper 002's joint embedding: snapshot the posts with their five parts, train (a Recipe), embed every part.

Inputs per post (``models/joint.py`` says what the network does with them):
- text: its tokens without hashtags (ids into a vocabulary of the training texts), the embedding layer initialised
  from word2vec trained on the same texts (hashtags as words); or a frozen sentence encoder's vector;
- image: the feature store's frozen image features (``postatlas featurize`` runs first in the flow);
- hashtags: the mean word vector of the hashtags split into the corpus's words;
- user: the author's node2vec vector of the weighted mention graph (the graph at snapshot time);
- location: the mean text encoding of the other posts with the same location key (place, else a 0.1-degree cell).
A part a post lacks is marked absent and masked out of the loss; the training summary counts the posts per part.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from scipy import sparse
from tqdm.auto import tqdm

from models.hashtags import split_hashtag
from models.joint import (
    JointEmbedding,
    JointSettings,
    joint_loss,
    post_vectors,
    ranks,
    recall_sum,
    recall_summary,
)
from models.split import assign_splits
from models.text import TweetTokenizer, Vocabulary
from models.training import fit, predict
from models.user_graph import node_vectors, weighted_walks
from models.word_space import WordSpaceSettings, train_word_space
from storage import embeddings as embedding_store
from storage import features, joint_inputs, learning, model_store, warehouse
from storage.home import Home
from tasks.featurize import feature_matrix
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

KIND = "joint"
SNAPSHOT_VERSION = 2  # 2: the snapshot carries lat, lon and the profile location (location prediction)
MODEL_VERSION = 3  # 2: frozen inputs standardised, word vectors centred; 3: batch norm on the GRU state (a model id names what was trained)
EMBED_CHUNK = 20_000
FOLD_SIZE = 1000  # retrieval is ranked within folds of 1,000 held-out posts (the paper's 1K test)
TEXT_TOKENIZER = TweetTokenizer(hashtags="drop")
CORPUS_TOKENIZER = TweetTokenizer(hashtags="word")


@dataclass(frozen=True)
class JointTraining:
    """A trained (or reused) joint model: its id, training set, posts per part and scores."""

    model_id: str
    dataset: str
    reused: bool
    parts: tuple[str, ...]
    part_posts: dict[str, int]
    posts: int
    validation_recall_sum: float | None
    test: list[dict[str, Any]]


def prepare_joint_posts(home: Home, settings: JointSettings, curated_only: bool | None = None) -> TrainingSet:
    """Snapshot the (curated) posts with text or image, their location key and their author's node2vec vector."""
    with warehouse.reader(home.warehouse) as con:
        if curated_only is None:
            curated_only = learning.has_curation(con)
        posts = joint_inputs.joint_posts(con, curated_only)
        graph = joint_inputs.mention_graph(con) if "user" in settings.parts else None
    if posts.num_rows < 10:
        raise LearningInputError(
            f"only {posts.num_rows} {'curated ' if curated_only else ''}posts with a text or an image: the joint "
            "model needs at least 10 (ingest or collect more, or check `postatlas curate`)")
    post_ids = posts.column("post_id").to_pylist()
    users, edges = _user_vectors(posts.column("author_id").to_pylist(), graph, settings)
    posts = posts.append_column("user_vector", pa.array(users, pa.list_(pa.float32())))
    split = assign_splits(post_ids)
    snapshot = digest(post_ids, posts.column("text").to_pylist(), posts.column("image_path").to_pylist(),
                      posts.column("location").to_pylist(), edges, settings.user_dimension, settings.walks_per_node,
                      settings.walk_length, settings.train.seed, SNAPSHOT_VERSION, size=8)
    posts = posts.append_column("split", pa.array(split.tolist()))
    meta = {"snapshot": snapshot, "curated_only": curated_only, "posts": posts.num_rows,
            "split_sizes": {name: int((split == name).sum()) for name in ("train", "val", "test")},
            "with_image": int(sum(p is not None for p in posts.column("image_path").to_pylist())),
            "mention_edges": len(edges)}
    return write_training_set(home, f"joint-{snapshot}", posts, meta)


def available_parts(home: Home, dataset: TrainingSet, settings: JointSettings) -> tuple[str, ...]:
    """The settings' parts that some post of the snapshot has (text, a stored image with features, a hashtag, an
    author in the mention graph, a location key shared with another post); an error when fewer than two."""
    posts, _, _ = read_training_set(dataset)
    counts = part_counts(home, posts, settings)
    found = tuple(part for part in settings.parts if counts[part] > 0)
    if len(found) < 2:
        raise LearningInputError(
            "the joint model needs posts with at least two parts; found "
            + ", ".join(f"{part} {counts[part]}" for part in settings.parts))
    return found


def part_counts(home: Home, posts: pa.Table, settings: JointSettings) -> dict[str, int]:
    """How many posts carry each part's raw input (before the vocabulary decides which words are known)."""
    locations = Counter(key for key in posts.column("location").to_pylist() if key is not None)
    with_image = [p for p, path in zip(posts.column("post_id").to_pylist(), posts.column("image_path").to_pylist(),
                                       strict=True) if path is not None]
    return {
        "text": sum(bool(t and t.strip()) for t in posts.column("text").to_pylist()),
        "image": int(feature_matrix(home, with_image, (settings.image_encoder,))[1].sum()) if with_image else 0,
        "hashtags": sum(bool(tags) for tags in posts.column("hashtags").to_pylist()),
        "user": sum(vector is not None for vector in posts.column("user_vector").to_pylist()),
        "location": sum(count for count in locations.values() if count > 1),
    }


def _user_vectors(authors: list[str | None], graph: pa.Table | None, settings: JointSettings
                  ) -> tuple[list[list[float] | None], list[tuple[str, str, int]]]:
    """Each post's author's node2vec vector (None when the author is in no mention edge) and the edges."""
    if graph is None or graph.num_rows == 0:
        return [None] * len(authors), []
    sources, targets = graph.column("source").to_pylist(), graph.column("target").to_pylist()
    weights = graph.column("posts").to_numpy()
    nodes = sorted(set(sources) | set(targets))
    index = {node: position for position, node in enumerate(nodes)}
    walks = weighted_walks(np.array([index[s] for s in sources]), np.array([index[t] for t in targets]), weights,
                           len(nodes), settings.walks_per_node, settings.walk_length, settings.train.seed)
    vectors = node_vectors(walks, len(nodes), settings.user_dimension, seed=settings.train.seed)
    users = [vectors[index[a]].tolist() if a in index else None for a in authors]
    return users, list(zip(sources, targets, weights.tolist(), strict=True))


@dataclass(frozen=True)
class Lexicon:
    """The text side's vocabulary, its word vectors (the embedding layer's start and the hashtags' words) and the
    word counts the hashtag splitter uses."""

    vocabulary: Vocabulary
    word_vectors: np.ndarray
    counts: dict[str, int]

    @classmethod
    def train(cls, texts: list[str | None], settings: JointSettings) -> Lexicon:
        """Word2vec on the texts (hashtags as words) and the vocabulary of words seen ``min_count`` times."""
        corpus = CORPUS_TOKENIZER.many(texts)
        counts = Counter(token for tokens in corpus for token in tokens)
        vocabulary = Vocabulary.build(corpus, min_count=settings.min_count)
        vectors = np.zeros((len(vocabulary), settings.word_dimension), dtype=np.float32)
        if any(count >= settings.min_count for count in counts.values()):
            space = train_word_space(corpus, WordSpaceSettings(
                dimensions=settings.word_dimension, epochs=settings.word_epochs, min_count=settings.min_count,
                workers=1, seed=settings.train.seed))
            for row, word in enumerate(vocabulary.tokens):
                if word in space.vectors.key_to_index:
                    vectors[row] = space.vectors[word]
        known = {word: counts[word] for word in vocabulary.tokens[2:]}
        return cls(vocabulary, vectors, known)

    def hashtag_vectors(self, hashtags: list[list[str] | None]) -> tuple[np.ndarray, np.ndarray]:
        """Each post's mean word vector of its split hashtags, and whether any hashtag word is known."""
        index = self.vocabulary.index
        vectors = np.zeros((len(hashtags), self.word_vectors.shape[1]), dtype=np.float32)
        present = np.zeros(len(hashtags), dtype=bool)
        splits: dict[str, list[int]] = {}
        for row, tags in enumerate(hashtags):
            rows = []
            for tag in tags or ():
                if tag not in splits:
                    splits[tag] = [index[w] for w in split_hashtag(tag, self.counts) if w in index]
                rows.extend(splits[tag])
            if rows:
                vectors[row], present[row] = self.word_vectors[rows].mean(0), True
        return vectors, present


def part_inputs(home: Home, posts: pa.Table, settings: JointSettings, lexicon: Lexicon,
                location_pool: pa.Table | LocationMeans | None = None, users: dict[str, np.ndarray] | None = None
                ) -> dict[str, np.ndarray]:
    """The network's arrays for the posts: tokens and lengths, one input per non-text part and `present` (n, P).

    ``location_pool``: the (post_id, location) posts whose text encodings make the location means, or those means
    computed once for many chunks (default: these posts); ``users``: author -> node2vec vector (default: the
    snapshot's ``user_vector`` column).
    """
    post_ids = posts.column("post_id").to_pylist()
    arrays, present = {}, {}
    tokenizer = CORPUS_TOKENIZER if settings.hashtags_in_text else TEXT_TOKENIZER
    ids = lexicon.vocabulary.encode(tokenizer.many(posts.column("text").to_pylist()), settings.max_tokens)
    arrays["tokens"], arrays["lengths"] = ids, (ids > 0).sum(1)
    for part in settings.parts:
        if part == "text":
            if settings.text_input == "words":
                present[part] = (ids > 1).any(1)
            else:
                arrays[part], present[part] = feature_matrix(home, post_ids, (settings.text_input,))
        elif part == "image":
            arrays[part], present[part] = feature_matrix(home, post_ids, (settings.image_encoder,))
            present[part] &= np.array([p is not None for p in posts.column("image_path").to_pylist()])
        elif part == "hashtags":
            arrays[part], present[part] = lexicon.hashtag_vectors(posts.column("hashtags").to_pylist())
        elif part == "user":
            arrays[part], present[part] = _author_vectors(posts, settings, users)
        elif part == "location":
            means = location_pool if isinstance(location_pool, LocationMeans) else LocationMeans.of(
                home, location_pool if location_pool is not None else posts.select(["post_id", "location"]),
                settings.location_encoder)
            arrays[part], present[part] = means.vectors(home, posts)
    arrays["present"] = np.stack([present[part] for part in settings.parts], 1)
    return arrays


def _author_vectors(posts: pa.Table, settings: JointSettings, users: dict[str, np.ndarray] | None
                    ) -> tuple[np.ndarray, np.ndarray]:
    vectors = np.zeros((posts.num_rows, settings.user_dimension), dtype=np.float32)
    if users is None:
        column = posts.column("user_vector").to_pylist()
        rows = [row for row, vector in enumerate(column) if vector is not None]
        if rows:
            vectors[rows] = np.asarray([column[row] for row in rows], dtype=np.float32)
    else:
        authors = posts.column("author_id").to_pylist()
        rows = [row for row, author in enumerate(authors) if author in users]
        if rows:
            vectors[rows] = np.stack([users[authors[row]] for row in rows])
    present = np.zeros(posts.num_rows, dtype=bool)
    present[rows] = True
    return vectors, present


@dataclass(frozen=True)
class LocationMeans:
    """Per location key, the sum and count of the text encodings of a pool of posts: computed once, then each post's
    location vector is the mean of the pool's other posts with its key (leave-one-out)."""

    encoder: str
    index: dict[str, int]
    sums: np.ndarray
    counts: np.ndarray
    members: frozenset[str]  # pool posts with an encoding, counted in the sums
    kept: dict[str, np.ndarray]  # the encodings of the posts asked for with ``own``

    @classmethod
    def of(cls, home: Home, pool: pa.Table, encoder: str, own: pa.Array | None = None) -> LocationMeans:
        """The means of the pool's (post_id, location) posts with a location, reading their encodings in one pass
        over the encoder's store; the encodings of the ``own`` posts are kept, so that their leave-one-out vectors
        need no second read."""
        pool = pool.filter(pc.is_valid(pool.column("location")))
        names = pc.unique(pool.column("location")).sort()
        index = {key: position for position, key in enumerate(names.to_pylist())}
        pool_ids = pool.column("post_id").combine_chunks() if pool.num_rows else pa.array([], pa.string())
        key_of = dict(zip(pool_ids.to_pylist(), pc.index_in(pool.column("location"), value_set=names).to_pylist(),
                          strict=True))
        wanted = set(own.to_pylist()) if own is not None else set()
        sums: np.ndarray | None = None  # sized by the store's vectors
        counts = np.zeros(len(index), dtype=np.int64)
        members: set[str] = set()
        kept: dict[str, np.ndarray] = {}
        for ids, vectors in features.iter_features(home, encoder, pool_ids):
            if sums is None:
                sums = np.zeros((len(index), vectors.shape[1]), dtype=np.float64)
            names_read = ids.to_pylist()
            keys = np.fromiter((key_of[post_id] for post_id in names_read), dtype=np.int64, count=len(names_read))
            by_key = sparse.csr_matrix((np.ones(len(keys)), (keys, np.arange(len(keys)))),
                                       shape=(len(index), len(keys)))
            sums += by_key @ vectors.astype(np.float64)
            counts += np.bincount(keys, minlength=len(index))
            members.update(names_read)
            kept.update((post_id, vectors[row]) for row, post_id in enumerate(names_read) if post_id in wanted)
        if sums is None:
            sums = np.zeros((len(index), _encoder_dimension(encoder)), dtype=np.float64)
        return cls(encoder, index, sums, counts, frozenset(members), kept)

    def vectors(self, home: Home, posts: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """(n, d) location vectors of the (post_id, location) posts, and whether each has one (another pool post
        with an encoding shares its key)."""
        post_ids, keys = posts.column("post_id").to_pylist(), posts.column("location").to_pylist()
        result = np.zeros((posts.num_rows, self.sums.shape[1]), dtype=np.float32)
        present = np.zeros(posts.num_rows, dtype=bool)
        rows = [row for row, key in enumerate(keys) if key in self.index]
        unread = [post_ids[row] for row in rows if post_ids[row] in self.members and post_ids[row] not in self.kept]
        own = {**self.kept, **dict(zip(unread, feature_matrix(home, unread, (self.encoder,))[0], strict=True))
               } if unread else self.kept
        for row in rows:
            total, count = self.sums[self.index[keys[row]]], self.counts[self.index[keys[row]]]
            if post_ids[row] in self.members:
                total, count = total - own[post_ids[row]], count - 1
            if count > 0:
                result[row], present[row] = total / count, True
        return result, present


def location_means(home: Home, pool: pa.Table, settings: JointSettings, own: pa.Array | None = None
                   ) -> LocationMeans | None:
    """The pool's location means when the model reads the location part (None otherwise); see LocationMeans.of."""
    return LocationMeans.of(home, pool, settings.location_encoder, own) if "location" in settings.parts else None


def _encoder_dimension(name: str) -> int:
    from models.encoder_registry import spec

    return int(spec(name).dimension or 0)


def _input_dimensions(arrays: dict[str, np.ndarray], settings: JointSettings) -> dict[str, int]:
    return {part: int(arrays[part].shape[1]) for part in settings.parts if part in arrays}


def embed_parts(model: JointEmbedding, arrays: dict[str, np.ndarray], device: str = "auto",
                batch_size: int = 512) -> np.ndarray:
    """(P, n, D) unit vectors of every part of every post (absent parts too: mask them with arrays["present"])."""
    def forward(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return m(batch["tokens"], batch["lengths"], batch).transpose(0, 1)

    inputs = {name: array for name, array in arrays.items() if name != "present"}
    return predict(model, inputs, batch_size=batch_size, device=device, forward=forward).transpose(1, 0, 2)


def retrieval_scores(parts: np.ndarray, present: np.ndarray, settings: JointSettings, fold_size: int = FOLD_SIZE
                     ) -> list[dict[str, Any]]:
    """R@1, R@5, R@10 and median rank, averaged over folds of ``fold_size`` posts: every part against the mean of
    the post's other parts, both ways, and image <-> text when the model has both."""
    names = settings.parts
    rows: list[dict[str, Any]] = []
    pairs = [(names.index("text"), names.index("image"))] if {"text", "image"} <= set(names) else []
    for query, target in [*pairs, *[(b, a) for a, b in pairs]]:
        rows.append(fold_scores(parts[query], parts[target], present[query] & present[target], fold_size,
                                 names[query], names[target]))
    if settings.objective != "pairwise":
        for index, part in enumerate(names):
            others = post_vectors(parts, present, leave_out=index)
            usable = present[index] & (present.sum(0) - present[index] > 0)
            rows.append(fold_scores(parts[index], others, usable, fold_size, part, "others"))
            rows.append(fold_scores(others, parts[index], usable, fold_size, "others", part))
    return [row for row in rows if row["queries"] >= 2]


def fold_scores(queries: np.ndarray, targets: np.ndarray, usable: np.ndarray, fold_size: int, query: str,
                target: str) -> dict[str, Any]:
    """Recalls and median rank of the usable rows' queries among their targets, averaged over full folds."""
    rows = np.flatnonzero(usable)
    folds = [rows[begin:begin + fold_size] for begin in range(0, len(rows), fold_size)]
    folds = [fold for fold in folds if len(fold) >= min(fold_size, len(rows))]  # a short last fold is left out
    summaries = [recall_summary(ranks(queries[fold], targets[fold])) for fold in folds if len(fold) >= 2]
    scores = {key: float(np.mean([s[key] for s in summaries])) if summaries else 0.0
              for key in ("r1", "r5", "r10", "median_rank")}
    return {"query_part": query, "target_part": target, **scores,
            "queries": int(sum(len(fold) for fold in folds)), "fold_size": min(fold_size, len(rows))}


@dataclass(frozen=True)
class _Inputs:
    arrays: dict[str, np.ndarray]
    split: np.ndarray
    lexicon: Lexicon
    users: dict[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class JointRecipe(Recipe[_Inputs, JointEmbedding]):
    """Paper 002's joint embedding (or a two-part VSE++ baseline) trained on a snapshot."""

    kind = KIND
    settings: JointSettings
    dataset: TrainingSet

    @classmethod
    def from_training_set(cls, dataset: TrainingSet, settings: JointSettings) -> JointRecipe:
        """The recipe of the settings on the snapshot."""
        _, _, snapshot = read_training_set(dataset)
        return cls(settings, snapshot, dataset, variant="+".join(settings.parts) + f":{settings.objective}")

    def identity(self) -> tuple[Any, ...]:
        """How the model learns, not where (device, progress bars, threads) names it."""
        settings = self.settings.as_dict()
        settings["train"] = {k: v for k, v in settings["train"].items() if k not in ("device", "progress", "threads")}
        return (settings, MODEL_VERSION)

    def inputs(self, home: Home) -> _Inputs:
        """Word vectors from the train split's texts, every part's input, the snapshot's known users."""
        posts, _, _ = read_training_set(self.dataset)
        split = np.asarray(posts.column("split").to_pylist())
        train_texts = [t for t, s in zip(posts.column("text").to_pylist(), split, strict=True) if s == "train"]
        lexicon = Lexicon.train(train_texts, self.settings)
        arrays = part_inputs(home, posts, self.settings, lexicon)
        users = {}
        for author, vector in zip(posts.column("author_id").to_pylist(), posts.column("user_vector").to_pylist(),
                                  strict=True):
            if vector is not None and author not in users:
                users[author] = np.asarray(vector, dtype=np.float32)
        for part, count in zip(self.settings.parts, arrays["present"].sum(0), strict=True):
            if count == 0:
                raise LearningInputError(
                    f"no post has the {part} part ({_missing_hint(part)}); leave it out with --parts")
        return _Inputs(arrays, split, lexicon, users)

    def _model(self, inputs: _Inputs) -> JointEmbedding:
        """The network, its word vectors centred and its frozen inputs standardised on the training posts."""
        words = inputs.lexicon.word_vectors
        known = np.abs(words).sum(1) > 0
        centred = np.where(known[:, None], words - (words[known].mean(0) if known.any() else 0), 0)
        model = JointEmbedding(self.settings, len(inputs.lexicon.vocabulary),
                               _input_dimensions(inputs.arrays, self.settings),
                               torch.as_tensor(centred, dtype=torch.float32))
        train = inputs.split == "train"
        for position, part in enumerate(self.settings.parts):
            if part in model.heads:
                rows = np.flatnonzero(train & inputs.arrays["present"][:, position])
                model.standardise(part, torch.as_tensor(np.asarray(inputs.arrays[part][rows]), dtype=torch.float32))
        return model

    def fit(self, inputs: _Inputs, checkpoint: Checkpoint) -> Fitted[JointEmbedding]:
        """The shared loop on the train split, validated by the sum of recalls on up to 1,000 val posts."""
        model = self._model(inputs)
        train_rows = np.flatnonzero(inputs.split == "train")
        val_rows = np.flatnonzero(inputs.split == "val")[: self.settings.validation_posts]
        train = {name: _take(array, train_rows) for name, array in inputs.arrays.items()}
        validation = {name: _take(array, val_rows) for name, array in inputs.arrays.items()}
        settings = self.settings

        def loss(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return joint_loss(settings, m(batch["tokens"], batch["lengths"], batch), batch["present"].T)

        def score(m: torch.nn.Module) -> float:
            parts = embed_parts(m, validation, device=settings.train.device)
            return recall_sum(parts, validation["present"].T, settings)

        result = fit(model, train, loss, score, settings.train, checkpoint.save, checkpoint.last(),
                     description="joint")
        return Fitted(model, result, len(train_rows))

    def evaluate(self, fitted: Fitted[JointEmbedding], inputs: _Inputs) -> Evaluation:
        """Posts per part, and the retrieval scores on val and test."""
        metrics: dict[str, Any] = {
            "part_posts": {part: int(count) for part, count in
                           zip(self.settings.parts, inputs.arrays["present"].sum(0), strict=True)},
            "posts": len(inputs.split),
        }
        for split in ("val", "test"):
            rows = np.flatnonzero(inputs.split == split)
            chosen = {name: _take(array, rows) for name, array in inputs.arrays.items()}
            parts = embed_parts(fitted.model, chosen, device=self.settings.train.device)
            metrics[f"{split}_recall_sum"] = recall_sum(parts, chosen["present"].T, self.settings) if len(rows) else None
            metrics[f"{split}_retrieval"] = retrieval_scores(parts, chosen["present"].T, self.settings)
        return Evaluation(metrics)

    def state(self, fitted: Fitted[JointEmbedding], inputs: _Inputs) -> dict[str, Any]:
        """The weights with what embedding new posts needs: vocabulary, word vectors, counts, users' vectors."""
        users = sorted(inputs.users)
        return {
            "weights": fitted.model.state_dict(), "settings": self.settings.as_dict(),
            "vocabulary": list(inputs.lexicon.vocabulary.tokens), "word_vectors": inputs.lexicon.word_vectors,
            "word_counts": inputs.lexicon.counts,
            "input_dimensions": _input_dimensions(inputs.arrays, self.settings),
            "user_ids": users,
            "user_vectors": (np.stack([inputs.users[u] for u in users]) if users
                             else np.zeros((0, self.settings.user_dimension), np.float32)),
        }

    def on_retrain(self, con: duckdb.DuckDBPyConnection, home: Home, model_id: str) -> None:
        """The old weights' retrieval scores and vectors go."""
        learning.delete_retrieval_evaluations(con, model_id)
        embedding_store.drop_model(home, model_id)
        embedding_store.refresh_view(con, home)

    def register(self, con: duckdb.DuckDBPyConnection, home: Home, run_id: str, trained: Any) -> None:
        """The registry rows and the retrieval scores (`retrieval_evaluations`)."""
        super().register(con, home, run_id, trained)
        rows = [{**row, "split": split} for split in ("val", "test")
                for row in trained.metrics.get(f"{split}_retrieval", [])]
        learning.write_retrieval_evaluations(con, trained.model_id, run_id, rows)


def _take(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.asarray(array[rows])


def _missing_hint(part: str) -> str:
    return {
        "image": "no stored image with features: ingest posts with images and run `postatlas featurize`",
        "hashtags": "no hashtag made of known words",
        "user": "no author mentions or is mentioned by another account",
        "location": "no two posts share a place or a 0.1-degree cell, or their texts are not featurized",
        "text": "no text with a known word",
    }[part]


def train_joint(dataset: TrainingSet, settings: JointSettings, home: Home, run_id: str, retrain: bool = False
                ) -> JointTraining:
    """Train (or reuse) the joint model on the snapshot, score its retrieval on val and test, register it."""
    trained = train_and_register(JointRecipe.from_training_set(dataset, settings), home, run_id, retrain)
    return joint_training(home, trained.model_id, str(dataset.path), trained.reused)


def joint_training(home: Home, model_id: str, dataset: str = "", reused: bool = True) -> JointTraining:
    """A registered joint model's summary."""
    row = registered_model(home, model_id, KIND, "joint model")
    metrics = row["metrics"]
    return JointTraining(model_id, dataset or row["config"].get("dataset", ""), reused,
                         tuple(row["config"]["parts"]), metrics.get("part_posts", {}), metrics.get("posts", 0),
                         metrics.get("val_recall_sum"), metrics.get("test_retrieval", []))


@dataclass(frozen=True)
class LoadedJoint:
    """A registered joint model ready to embed: the network, its settings, lexicon and known users."""

    model_id: str
    model: JointEmbedding
    settings: JointSettings
    lexicon: Lexicon
    users: dict[str, np.ndarray]


def load_joint(home: Home, model_id: str) -> LoadedJoint:
    """A registered joint model rebuilt with its weights."""
    row = registered_model(home, model_id, KIND, "joint model")
    state = model_store.load_model(home, row["checkpoint_path"])
    settings = JointSettings.from_dict(state["settings"])
    lexicon = Lexicon(Vocabulary(tuple(state["vocabulary"])), np.asarray(state["word_vectors"]),
                      dict(state["word_counts"]))
    model = JointEmbedding(settings, len(lexicon.vocabulary), state["input_dimensions"])
    model.load_state_dict(state["weights"])
    users = dict(zip(state["user_ids"], np.asarray(state["user_vectors"]), strict=True))
    return LoadedJoint(model_id, model.eval(), settings, lexicon, users)


def newest_joint(home: Home) -> str | None:
    """The newest registered joint model of paper 002's objective (not a VSE++ baseline), or None."""
    return newest_model(home, KIND, excluded_suffix=":pairwise")


def chosen_joint(home: Home, model_id: str | None) -> str:
    """``model_id``, else the newest joint model; a LearningInputError when there is none."""
    chosen = model_id or newest_joint(home)
    if chosen is None:
        raise LearningInputError("no joint model trained yet: run `postatlas train joint` first")
    return chosen


def is_joint_model(home: Home, model_id: str | None) -> bool:
    """Whether the id names a registered joint model."""
    if model_id is None or not home.warehouse.exists():
        return False
    with warehouse.reader(home.warehouse) as con:
        row = learning.model_row(con, model_id)
    return row is not None and row["kind"] == KIND


@dataclass(frozen=True)
class JointEmbedded:
    """What `embed` did with a joint model: posts embedded now and before, part vectors written per part, and
    posts with no part the model can read (no known word, image, hashtag, known author or shared place); `read`:
    the posts it read (those without a vector), `location_pool`: the posts read for the means of their locations."""

    model_id: str
    embedded: int
    already_embedded: int
    posts: int
    part_vectors: dict[str, int]
    without_parts: int
    curated_only: bool
    dimensions: int
    read: int
    location_pool: int


def embed_joint_posts(home: Home, run_id: str, model_id: str, device: str = "auto") -> JointEmbedded:
    """Embed every part of the (curated) posts this model has not embedded yet, chunk by chunk: one row per post
    and present part in `embedding_parts`, and the post's mean of parts in `embeddings`.

    Reads only those posts, and for the location part the (post_id, location) of the posts sharing their locations,
    whose encodings make the location means once for every chunk."""
    loaded = load_joint(home, model_id)
    settings = loaded.settings
    with warehouse.reader(home.warehouse) as con:
        curated_only = learning.has_curation(con)
        todo = joint_inputs.joint_posts(con, curated_only, skip=embedding_store.part_paths(home, model_id))
        total = joint_inputs.joint_post_count(con, curated_only)
        locations = pc.unique(todo.column("location").drop_null()).to_pylist()
        pool = joint_inputs.location_pool(con, curated_only, locations) if "location" in settings.parts else None
    already = embedding_store.embedded_count(home, model_id)
    location_part = (location_means(home, pool, settings, own=todo.column("post_id").combine_chunks())
                     if pool is not None else None)  # once, for every chunk
    written, without_parts, per_part = 0, 0, dict.fromkeys(settings.parts, 0)
    for begin in tqdm(range(0, todo.num_rows, EMBED_CHUNK), desc="embed joint", unit="chunk", disable=None):
        chunk = todo.slice(begin, EMBED_CHUNK)
        arrays = part_inputs(home, chunk, settings, loaded.lexicon, location_part, loaded.users)
        present = arrays["present"].T
        parts = embed_parts(loaded.model, arrays, device=device)
        means = post_vectors(parts, present)
        ids = chunk.column("post_id").to_pylist()
        keep = present.any(0)
        part_index, post_index = np.nonzero(present)
        with warehouse_writer(home.warehouse, run_id) as con:
            embedding_store.write_part_vectors(
                home, model_id, run_id, [ids[i] for i in post_index], [settings.parts[p] for p in part_index],
                parts[part_index, post_index])
            embedding_store.write_part(home, model_id, run_id, [p for p, k in zip(ids, keep, strict=True) if k],
                                       means[keep])
            embedding_store.refresh_view(con, home)
        written += int(keep.sum())
        without_parts += int((~keep).sum())
        for position, part in enumerate(settings.parts):
            per_part[part] += int(present[position].sum())
    if todo.num_rows == 0:
        with warehouse_writer(home.warehouse, run_id) as con:
            embedding_store.refresh_view(con, home)
    return JointEmbedded(model_id, written, already, total, per_part, without_parts, curated_only,
                         settings.dimension, todo.num_rows, pool.num_rows if pool is not None else 0)



def joint_post_vectors(home: Home, loaded: LoadedJoint, posts: pa.Table, device: str = "auto"
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(n, D) unit mean-of-parts vectors of :func:`storage.joint_inputs.joint_posts`-shaped rows, computed chunk by
    chunk without storing them, and whether each post had a part the model reads (zero rows where not)."""
    settings = loaded.settings
    vectors = np.zeros((posts.num_rows, settings.dimension), dtype=np.float32)
    pool = location_means(home, posts.select(["post_id", "location"]), settings)
    for begin in tqdm(range(0, posts.num_rows, EMBED_CHUNK), desc="joint vectors", unit="chunk", disable=None):
        chunk = posts.slice(begin, EMBED_CHUNK)
        arrays = part_inputs(home, chunk, settings, loaded.lexicon, pool, loaded.users)
        vectors[begin:begin + chunk.num_rows] = post_vectors(embed_parts(loaded.model, arrays, device=device),
                                                             arrays["present"].T)
    return vectors, np.linalg.norm(vectors, axis=1) > 0
