"""Paper 002's application 2: hashtag recommendation with a joint model, and its evaluation against baselines.

A candidate hashtag is embedded through the hashtag branch (the mean word vector of its split words, then the
hashtag head); a post asks with the mean of its other parts (text, image, user, location), and the candidates
closest to it by cosine are its top k. Baselines on the same held-out posts: the most frequent hashtags of the
training posts, and a text-only classifier (TF-IDF of the text without hashtags + one-vs-rest logistic
regression over the frequent hashtags).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from tqdm.auto import tqdm

from models.joint import post_vectors
from models.metrics import ranking_scores
from storage import joint_inputs, learning, warehouse
from storage.home import Home
from tasks.learn.errors import LearningInputError
from tasks.learn.joint import (
    EMBED_CHUNK,
    KIND,
    TEXT_TOKENIZER,
    LoadedJoint,
    LocationMeans,
    chosen_joint,
    embed_parts,
    load_joint,
    location_means,
    part_inputs,
)
from tasks.learn.registry import TrainingSet, read_training_set, registered_model
from tasks.locks import warehouse_writer

TASK = "hashtags"
CANDIDATES = 2000  # the most frequent hashtags are the ones recommended
CLASSIFIER_TAGS = 300  # the text-only baseline's classes: the most frequent hashtags with >= 2 training posts
KS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class HashtagPredictions:
    """What `predict hashtags` wrote: posts without hashtags that got k ranked hashtags."""

    model_id: str
    posts: int
    predicted: int
    k: int
    candidates: int
    top_tags: list[tuple[str, int]]


@dataclass(frozen=True)
class ApplicationScores:
    """An application's scores on held-out posts: the joint model beside its baselines."""

    model_id: str
    application: str
    posts: int
    rows: list[dict[str, Any]]


def _joint_with_hashtags(home: Home, model_id: str | None) -> LoadedJoint:
    loaded = load_joint(home, chosen_joint(home, model_id))
    if "hashtags" not in loaded.settings.parts:
        raise LearningInputError(f"model {loaded.model_id} has no hashtag part: train it on posts with hashtags")
    return loaded


def frequent_tags(hashtags: list[list[str] | None], limit: int) -> list[tuple[str, int]]:
    """The ``limit`` most used hashtags (lower-cased), most used first."""
    counts = Counter(tag.lower() for tags in hashtags for tag in tags or ())
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]


def tag_vectors(loaded: LoadedJoint, tags: list[str]) -> tuple[list[str], np.ndarray]:
    """The tags the model can read (some split word known) and their unit vectors in the joint space."""
    inputs, known = loaded.lexicon.hashtag_vectors([[tag] for tag in tags])
    kept = [tag for tag, ok in zip(tags, known, strict=True) if ok]
    with torch.no_grad():
        vectors = loaded.model.encode("hashtags", torch.as_tensor(inputs[known])).numpy()
    return kept, vectors


def _queries(loaded: LoadedJoint, home: Home, posts: pa.Table, pool: LocationMeans | None
             ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each post's mean of its parts other than hashtags, whether it has one, and its parts as text."""
    arrays = part_inputs(home, posts, loaded.settings, loaded.lexicon, pool, loaded.users)
    present = arrays["present"].T.copy()
    hashtag_row = loaded.settings.parts.index("hashtags")
    present[hashtag_row] = False
    parts = embed_parts(loaded.model, arrays)
    queries = post_vectors(parts, present)
    names = ["+".join(p for p, on in zip(loaded.settings.parts, column, strict=True) if on) or "none"
             for column in present.T]
    return queries, present.any(0), names


def top_k(queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) indices and scores of the best candidates per query, best first."""
    scores = queries @ candidates.T
    k = min(k, scores.shape[1])
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, best, 1), axis=1, kind="stable")
    best = np.take_along_axis(best, order, 1)
    return best, np.take_along_axis(scores, best, 1)


def predict_hashtags(home: Home, run_id: str, model_id: str | None = None, k: int = 5) -> HashtagPredictions:
    """Recommend k hashtags to every (curated) post without one; one `predictions` row per post and rank."""
    loaded = _joint_with_hashtags(home, model_id)
    with warehouse.reader(home.warehouse) as con:
        posts = joint_inputs.joint_posts(con, learning.has_curation(con))
    has_tags = np.array([bool(tags) for tags in posts.column("hashtags").to_pylist()], dtype=bool)
    tags, vectors = tag_vectors(loaded, [t for t, _ in frequent_tags(posts.column("hashtags").to_pylist(),
                                                                         CANDIDATES)])
    if not tags:
        raise LearningInputError("no hashtag of the warehouse is made of words the model knows")
    todo = posts.filter(pa.array(~has_tags))
    pool = location_means(home, posts.select(["post_id", "location"]), loaded.settings)
    predicted, chosen = 0, Counter()
    now = datetime.now(UTC)
    for begin in tqdm(range(0, todo.num_rows, EMBED_CHUNK), desc="predict hashtags", unit="chunk", disable=None):
        chunk = todo.slice(begin, EMBED_CHUNK)
        queries, usable, modalities = _queries(loaded, home, chunk, pool)
        best, scores = top_k(queries, vectors, k)
        rows = np.flatnonzero(usable)
        ids = chunk.column("post_id").to_pylist()
        width = best.shape[1]
        table = pa.table({
            "post_id": pa.array([ids[r] for r in rows for _ in range(width)], pa.string()),
            "label": pa.array([tags[i] for r in rows for i in best[r]], pa.string()),
            "score": pa.array(scores[rows].reshape(-1).astype(float)),
            "modalities": pa.array([modalities[r] for r in rows for _ in range(width)], pa.string()),
            "rank": pa.array(np.tile(np.arange(1, width + 1), len(rows)).astype(np.int32)),
        })
        table = table.append_column("run_id", pa.array([run_id] * table.num_rows, pa.string()))
        table = table.append_column("created_at", pa.array([now] * table.num_rows, pa.timestamp("us", tz="UTC")))
        with warehouse_writer(home.warehouse, run_id) as con:
            learning.write_predictions(con, table, TASK, loaded.model_id)
        predicted += len(rows)
        chosen.update(tags[i] for i in best[rows, 0])
    return HashtagPredictions(loaded.model_id, todo.num_rows, predicted, k, len(tags), chosen.most_common(10))


def evaluate_hashtags(home: Home, run_id: str, model_id: str | None = None) -> ApplicationScores:
    """P@k, R@k and F1@k (k = 1..5) on the model's held-out test posts that have hashtags (hidden from it), beside
    the most-frequent-hashtags and text-only classifier baselines; rows in `application_evaluations`."""
    loaded = _joint_with_hashtags(home, model_id)
    row = registered_model(home, loaded.model_id, KIND, "joint model")
    posts, _, _ = read_training_set(TrainingSet(home.datasets / row["config"]["dataset"], 0))
    split = np.asarray(posts.column("split").to_pylist())
    hashtags = posts.column("hashtags").to_pylist()
    train = [tags for tags, s in zip(hashtags, split, strict=True) if s == "train"]
    test_rows = np.flatnonzero((split == "test") & np.array([bool(t) for t in hashtags]))
    if len(test_rows) == 0:
        raise LearningInputError(f"model {loaded.model_id}'s held-out posts have no hashtags to hide and predict")
    test = posts.take(pa.array(test_rows))
    gold = [{t.lower() for t in tags} for tags in test.column("hashtags").to_pylist()]
    candidates = [t for t, _ in frequent_tags(train, CANDIDATES)]
    tags, vectors = tag_vectors(loaded, candidates)
    queries, _, _ = _queries(loaded, home, test, posts.select(["post_id", "location"]))
    best, _ = top_k(queries, vectors, max(KS))
    methods = {
        "joint": [[tags[i] for i in ranked] for ranked in best],
        "most frequent": [candidates[: max(KS)]] * len(gold),
        "text classifier": _text_classifier(posts, split, test, max(KS)),
    }
    rows = [{"method": method, "split": "test", "metric": metric, "value": value, "posts": len(gold)}
            for method, predicted in methods.items()
            for metric, value in ranking_scores(predicted, gold, KS).items()]
    with warehouse_writer(home.warehouse, run_id) as con:
        learning.write_application_evaluations(con, loaded.model_id, TASK, run_id, rows)
    return ApplicationScores(loaded.model_id, TASK, len(gold), rows)


def _text_classifier(posts: pa.Table, split: np.ndarray, test: pa.Table, k: int) -> list[list[str]]:
    """TF-IDF of the text without hashtags + one-vs-rest logistic regression over the frequent training
    hashtags: each test post's k most probable."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    train_rows = np.flatnonzero((split == "train") & np.array([bool(t) for t in posts.column("hashtags").to_pylist()]))
    train = posts.take(pa.array(train_rows))
    labels = [[t.lower() for t in tags] for tags in train.column("hashtags").to_pylist()]
    classes = [t for t, count in frequent_tags(labels, CLASSIFIER_TAGS) if count >= 2]
    if len(classes) < 2:
        return [[] for _ in range(test.num_rows)]
    binarizer = MultiLabelBinarizer(classes=classes)
    targets = binarizer.fit_transform([[t for t in tags if t in set(classes)] for tags in labels])
    vectorizer = TfidfVectorizer(analyzer=lambda text: TEXT_TOKENIZER(text), min_df=1, sublinear_tf=True)
    features = vectorizer.fit_transform(train.column("text").to_pylist())
    usable = targets.sum(0) > 0
    model = OneVsRestClassifier(LogisticRegression(C=10.0, max_iter=1000)).fit(features, targets[:, usable])
    probabilities = model.predict_proba(vectorizer.transform(test.column("text").to_pylist()))
    names = np.asarray(classes)[usable]
    return [names[np.argsort(-row, kind="stable")[:k]].tolist() for row in probabilities]
