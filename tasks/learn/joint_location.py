"""Paper 002's application 4: location prediction with a joint model, and its evaluation against a text-only
baseline.

Features of a post: its non-location part embeddings side by side (text, image, hashtags, user; zeros where the
post lacks the part) and the author's profile location text through the model's text branch. A random forest with
balanced subsamples (the paper's) learns the city: the gazetteer's city nearest to the post's coordinates. The
baseline reads the text alone (TF-IDF + logistic regression). Scores: accuracy over cities, Acc@161 km and the
median error in km, on the model's held-out test posts with coordinates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from models.location import Cities, gazetteer_cities, location_scores
from storage import joint_inputs, learning, warehouse
from storage.home import Home
from tasks.learn.errors import LearningInputError
from tasks.learn.joint import (
    EMBED_CHUNK,
    KIND,
    TEXT_TOKENIZER,
    LoadedJoint,
    chosen_joint,
    embed_parts,
    load_joint,
    part_inputs,
)
from tasks.learn.joint_hashtags import ApplicationScores
from tasks.learn.registry import TrainingSet, read_training_set, registered_model
from tasks.locks import warehouse_writer

TASK = "location"
MIN_POPULATION = 100_000
FOREST_TREES = 300


@dataclass(frozen=True)
class LocationPredictions:
    """What `predict location` wrote: posts without coordinates that got a city."""

    model_id: str
    posts: int
    predicted: int
    trained_on: int
    cities: int
    top_cities: list[tuple[str, int]]


def _joint_model(home: Home, model_id: str | None) -> LoadedJoint:
    loaded = load_joint(home, chosen_joint(home, model_id))
    if not set(loaded.settings.parts) - {"location"}:
        raise LearningInputError(f"model {loaded.model_id} has no part besides location to predict it from")
    return loaded


def location_features(loaded: LoadedJoint, home: Home, posts: pa.Table, pool: pa.Table) -> np.ndarray:
    """(n, parts x D + D): the non-location part embeddings (zeros where absent) and the profile location text's."""
    arrays = part_inputs(home, posts, loaded.settings, loaded.lexicon, pool, loaded.users)
    parts = embed_parts(loaded.model, arrays)
    present = arrays["present"].T
    blocks = [np.where(present[i][:, None], parts[i], 0.0) for i, part in enumerate(loaded.settings.parts)
              if part != "location"]
    blocks.append(_profile_vectors(loaded, posts.column("profile_location").to_pylist()))
    return np.concatenate(blocks, 1).astype(np.float32)


def _profile_vectors(loaded: LoadedJoint, texts: list[str | None]) -> np.ndarray:
    """The profile location texts through the text branch (zeros without one, or without a text branch)."""
    settings = loaded.settings
    vectors = np.zeros((len(texts), settings.dimension), dtype=np.float32)
    if "text" not in settings.parts or settings.text_input != "words":
        return vectors
    ids = loaded.lexicon.vocabulary.encode(TEXT_TOKENIZER.many(texts), settings.max_tokens)
    rows = np.flatnonzero((ids > 1).any(1))
    if len(rows):
        with torch.no_grad():
            tokens = torch.as_tensor(ids[rows])
            vectors[rows] = loaded.model.encode_text(tokens, (tokens > 0).sum(1)).numpy()
    return vectors


def _features_in_chunks(loaded: LoadedJoint, home: Home, posts: pa.Table, pool: pa.Table) -> np.ndarray:
    return np.concatenate([location_features(loaded, home, posts.slice(begin, EMBED_CHUNK), pool)
                           for begin in range(0, max(posts.num_rows, 1), EMBED_CHUNK)]) if posts.num_rows else \
        np.zeros((0, 1), np.float32)


def _forest(features: np.ndarray, labels: np.ndarray, seed: int):  # noqa: ANN202 - sklearn's estimator
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=FOREST_TREES, class_weight="balanced_subsample", n_jobs=-1,
                                  random_state=seed, min_samples_leaf=1).fit(features, labels)


def _with_coordinates(posts: pa.Table) -> np.ndarray:
    return np.asarray(pc.and_(pc.is_valid(posts.column("lat")), pc.is_valid(posts.column("lon"))))


def evaluate_location(home: Home, run_id: str, model_id: str | None = None,
                      min_population: int = MIN_POPULATION) -> ApplicationScores:
    """Fit on the snapshot's train posts with coordinates, score on its test posts with coordinates: the joint
    features' forest beside the text-only baseline; rows in `application_evaluations`."""
    loaded = _joint_model(home, model_id)
    row = registered_model(home, loaded.model_id, KIND, "joint model")
    posts, _, _ = read_training_set(TrainingSet(home.datasets / row["config"]["dataset"], 0))
    if "lat" not in posts.column_names:
        raise LearningInputError(f"model {loaded.model_id} was trained on a snapshot without coordinates: retrain it "
                                 "(`postatlas train joint --retrain`)")
    split = np.asarray(posts.column("split").to_pylist())
    located = _with_coordinates(posts)
    train, test = posts.filter(pa.array(located & (split == "train"))), posts.filter(pa.array(located & (split == "test")))
    if train.num_rows < 2 or test.num_rows == 0:
        raise LearningInputError(f"model {loaded.model_id}'s snapshot has {train.num_rows} train and {test.num_rows} "
                                 "test posts with coordinates: location prediction needs both")
    cities = gazetteer_cities(min_population)
    train_city = cities.names[cities.nearest(_coords(train, "lat"), _coords(train, "lon"))]
    test_city = cities.names[cities.nearest(_coords(test, "lat"), _coords(test, "lon"))]
    pool = posts.select(["post_id", "location"])
    forest = _forest(_features_in_chunks(loaded, home, train, pool), train_city, loaded.settings.train.seed)
    predicted = {
        "joint": forest.predict(_features_in_chunks(loaded, home, test, pool)),
        "text only": _text_baseline(train, train_city, test),
    }
    rows = []
    for method, cities_predicted in predicted.items():
        index = _city_index(cities, cities_predicted)
        scores = location_scores(test_city, cities_predicted, _coords(test, "lat"), _coords(test, "lon"),
                                 cities.lat[index], cities.lon[index])
        rows += [{"method": method, "split": "test", "metric": metric, "value": value, "posts": test.num_rows}
                 for metric, value in scores.items()]
    with warehouse_writer(home.warehouse, run_id) as con:
        learning.write_application_evaluations(con, loaded.model_id, TASK, run_id, rows)
    return ApplicationScores(loaded.model_id, TASK, test.num_rows, rows)


def _coords(posts: pa.Table, column: str) -> np.ndarray:
    return posts.column(column).to_numpy(zero_copy_only=False).astype(float)


def _city_index(cities: Cities, names: np.ndarray) -> np.ndarray:
    position = {name: i for i, name in enumerate(cities.names)}
    return np.array([position[name] for name in names], dtype=np.int64)


def _text_baseline(train: pa.Table, train_city: np.ndarray, test: pa.Table) -> np.ndarray:
    """TF-IDF of the words + logistic regression over the cities (the text-only baseline)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    if len(set(train_city)) < 2:
        return np.full(test.num_rows, train_city[0])
    vectorizer = TfidfVectorizer(analyzer=lambda text: TEXT_TOKENIZER(text), sublinear_tf=True)
    features = vectorizer.fit_transform(train.column("text").to_pylist())
    model = LogisticRegression(C=10.0, max_iter=2000).fit(features, train_city)
    return model.predict(vectorizer.transform(test.column("text").to_pylist()))


def predict_location(home: Home, run_id: str, model_id: str | None = None,
                     min_population: int = MIN_POPULATION) -> LocationPredictions:
    """A city for every (curated) post without coordinates, from a forest fitted on the posts with them; one
    `predictions` row per post (task location, lat/lon of the city)."""
    loaded = _joint_model(home, model_id)
    with warehouse.reader(home.warehouse) as con:
        posts = joint_inputs.joint_posts(con, learning.has_curation(con))
    located = _with_coordinates(posts)
    known, todo = posts.filter(pa.array(located)), posts.filter(pa.array(~located))
    if known.num_rows < 2:
        raise LearningInputError(f"only {known.num_rows} posts with coordinates to learn cities from: ingest "
                                 "geotagged posts first")
    cities = gazetteer_cities(min_population)
    labels = cities.names[cities.nearest(_coords(known, "lat"), _coords(known, "lon"))]
    pool = posts.select(["post_id", "location"])
    forest = _forest(_features_in_chunks(loaded, home, known, pool), labels, loaded.settings.train.seed)
    now, written, chosen = datetime.now(UTC), 0, Counter()
    for begin in range(0, todo.num_rows, EMBED_CHUNK):
        chunk = todo.slice(begin, EMBED_CHUNK)
        probabilities = forest.predict_proba(location_features(loaded, home, chunk, pool))
        best = probabilities.argmax(1)
        names = forest.classes_[best]
        index = _city_index(cities, names)
        table = pa.table({
            "post_id": chunk.column("post_id"),
            "label": pa.array(names.tolist(), pa.string()),
            "score": pa.array(probabilities[np.arange(len(best)), best].astype(float)),
            "modalities": pa.array(["+".join(p for p in loaded.settings.parts if p != "location")] * chunk.num_rows),
            "lat": pa.array(cities.lat[index]), "lon": pa.array(cities.lon[index]),
            "run_id": pa.array([run_id] * chunk.num_rows, pa.string()),
            "created_at": pa.array([now] * chunk.num_rows, pa.timestamp("us", tz="UTC")),
        })
        with warehouse_writer(home.warehouse, run_id) as con:
            learning.write_predictions(con, table, TASK, loaded.model_id)
        written += chunk.num_rows
        chosen.update(names.tolist())
    return LocationPredictions(loaded.model_id, todo.num_rows, written, known.num_rows, len(set(labels)),
                               chosen.most_common(10))
