"""Paper 002's application 4: location prediction with a joint model, and its evaluation against a text-only
baseline.

Features of a post: its non-location part embeddings side by side (text, image, hashtags, user; zeros where the
post lacks the part) and the author's profile location text through the model's text branch. A classifier learns
the city (the gazetteer's city nearest to the post's coordinates) from them: multinomial logistic regression by
default, the paper's random forest with balanced subsamples as `--classifier forest` (too slow for hundreds of
cities on CPU: 20 trees on 7,464 posts x 3,072 features x 469 cities did not finish in 2 minutes). By default its
city probabilities are averaged with those of the words (TF-IDF + logistic regression, the text-only baseline), and
the city chosen is the one with the most probability within 161 km (`--decision nearby`; `city` takes the most
probable city). Scores: accuracy over cities, Acc@161 km and the median error in km, on the model's held-out test
posts with coordinates, for the fused model, the joint features alone and the words alone (docs/RESULTS.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from models.joint_options import LOCATION_CLASSIFIERS
from models.location import Cities, decide_cities, gazetteer_cities, location_scores
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
from tasks.learn.joint_hashtags import ApplicationScores
from tasks.learn.registry import TrainingSet, read_training_set, registered_model
from tasks.locks import warehouse_writer

TASK = "location"
MIN_POPULATION = 100_000
FOREST_TREES = 100
CLASSIFIERS = LOCATION_CLASSIFIERS
JOINT_WEIGHT = 0.5  # the joint features' share of the fused city probabilities (the words have the rest)


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


def location_features(loaded: LoadedJoint, home: Home, posts: pa.Table, pool: LocationMeans | None
                      ) -> np.ndarray:
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
    if "text" not in settings.parts:
        return vectors
    if settings.text_input != "words":
        rows = np.array([i for i, text in enumerate(texts) if text and text.strip()], dtype=np.int64)
        if len(rows):
            from models.pretrained import load_encoder

            encoded = load_encoder(settings.text_input, device="cpu").encode([texts[i] for i in rows])
            with torch.no_grad():
                vectors[rows] = loaded.model.encode("text", torch.as_tensor(encoded)).numpy()
        return vectors
    ids = loaded.lexicon.vocabulary.encode(TEXT_TOKENIZER.many(texts), settings.max_tokens)
    rows = np.flatnonzero((ids > 1).any(1))
    if len(rows):
        with torch.no_grad():
            tokens = torch.as_tensor(ids[rows])
            vectors[rows] = loaded.model.encode_text(tokens, (tokens > 0).sum(1)).numpy()
    return vectors


def _features_in_chunks(loaded: LoadedJoint, home: Home, posts: pa.Table, pool: LocationMeans | None
                        ) -> np.ndarray:
    return np.concatenate([location_features(loaded, home, posts.slice(begin, EMBED_CHUNK), pool)
                           for begin in range(0, max(posts.num_rows, 1), EMBED_CHUNK)]) if posts.num_rows else \
        np.zeros((0, 1), np.float32)


@dataclass(frozen=True)
class CityModel:
    """Cities from the joint features and from the words, fitted on the same posts (same sorted classes)."""

    joint: Any  # a fitted sklearn classifier over location_features
    words: Any | None  # TF-IDF + logistic regression over the texts; None with a single city
    classes: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, texts: list[str | None], cities: np.ndarray, classifier: str,
            seed: int) -> CityModel:
        """Fit both on posts with their nearest cities."""
        from sklearn.dummy import DummyClassifier
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        if classifier not in CLASSIFIERS:
            raise LearningInputError(f"unknown classifier {classifier!r}: use one of {', '.join(CLASSIFIERS)}")
        if len(set(cities)) < 2:
            return cls(DummyClassifier().fit(features, cities), None, np.unique(cities))
        joint = (LogisticRegression(C=1.0, max_iter=300) if classifier == "linear" else
                 RandomForestClassifier(n_estimators=FOREST_TREES, class_weight="balanced_subsample", n_jobs=-1,
                                        random_state=seed))
        words = make_pipeline(TfidfVectorizer(analyzer=TEXT_TOKENIZER, sublinear_tf=True),
                              LogisticRegression(C=10.0, max_iter=300))
        joint.fit(features, cities)
        words.fit([text or "" for text in texts], cities)
        return cls(joint, words, joint.classes_)

    def probabilities(self, features: np.ndarray, texts: list[str | None], method: str = "joint + words"
                      ) -> np.ndarray:
        """(n, classes) city probabilities of a method: "joint + words", "joint" or "text only"."""
        if self.words is None:
            return np.ones((len(features), 1))
        if method == "joint":
            return self.joint.predict_proba(features)
        text = self.words.predict_proba([t or "" for t in texts])
        if method == "text only":
            return text
        return JOINT_WEIGHT * self.joint.predict_proba(features) + (1 - JOINT_WEIGHT) * text


METHODS = ("joint + words", "joint", "text only")


def _with_coordinates(posts: pa.Table) -> np.ndarray:
    return np.asarray(pc.and_(pc.is_valid(posts.column("lat")), pc.is_valid(posts.column("lon"))))


def evaluate_location(home: Home, run_id: str, model_id: str | None = None, min_population: int = MIN_POPULATION,
                      classifier: str = "linear", decision: str = "nearby") -> ApplicationScores:
    """Fit on the snapshot's train posts with coordinates, score on its test posts with coordinates: the fused
    model, the joint features alone and the words alone (the text-only baseline); rows in
    `application_evaluations`."""
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
    test_city = cities.names[cities.nearest(_coords(test, "lat"), _coords(test, "lon"))]
    pool = location_means(home, posts.select(["post_id", "location"]), loaded.settings)
    model = CityModel.fit(_features_in_chunks(loaded, home, train, pool), train.column("text").to_pylist(),
                          cities.names[cities.nearest(_coords(train, "lat"), _coords(train, "lon"))], classifier,
                          loaded.settings.train.seed)
    features, texts = _features_in_chunks(loaded, home, test, pool), test.column("text").to_pylist()
    index = _city_index(cities, model.classes)
    rows = []
    for method in METHODS:
        chosen = index[decide_cities(model.probabilities(features, texts, method), cities.lat[index],
                                     cities.lon[index], decision)]
        scores = location_scores(test_city, cities.names[chosen], _coords(test, "lat"), _coords(test, "lon"),
                                 cities.lat[chosen], cities.lon[chosen])
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


def predict_location(home: Home, run_id: str, model_id: str | None = None, min_population: int = MIN_POPULATION,
                     classifier: str = "linear", decision: str = "nearby") -> LocationPredictions:
    """A city for every (curated) post without coordinates, from the fused model fitted on the posts with them;
    one `predictions` row per post (task location, lat/lon of the city, score: the probability behind the
    choice)."""
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
    pool = location_means(home, posts.select(["post_id", "location"]), loaded.settings)
    model = CityModel.fit(_features_in_chunks(loaded, home, known, pool), known.column("text").to_pylist(), labels,
                          classifier, loaded.settings.train.seed)
    classes = _city_index(cities, model.classes)
    now, written, chosen = datetime.now(UTC), 0, Counter()
    for begin in range(0, todo.num_rows, EMBED_CHUNK):
        chunk = todo.slice(begin, EMBED_CHUNK)
        probabilities = model.probabilities(location_features(loaded, home, chunk, pool),
                                            chunk.column("text").to_pylist())
        best = decide_cities(probabilities, cities.lat[classes], cities.lon[classes], decision)
        index = classes[best]
        names = cities.names[index]
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
