"""Paper 002's flows: train the joint embedding of a post's five parts (on the `gpu` pool when deployed) and embed
every part of the posts with it.

The frozen encoders the parts read (image features, the text encodings that make the location means) are filled
in the feature store first, as the `featurize` flow does; every task persists its result, so a retried run redoes
only what failed (an interrupted training resumes from its last epoch's checkpoint, embedding skips posts done).
"""

from __future__ import annotations

from dataclasses import replace

from prefect import flow, task

from flows.features import featurize_encoder, refresh_features
from models.joint import PARTS, JointSettings
from storage.home import Home
from tasks.learn.joint import (
    JointEmbedded,
    JointTraining,
    available_parts,
    embed_joint_posts,
    prepare_joint_posts,
    train_joint,
)
from tasks.learn.joint_hashtags import ApplicationScores, HashtagPredictions, evaluate_hashtags, predict_hashtags
from tasks.learn.joint_location import LocationPredictions, evaluate_location, predict_location
from tasks.learn.joint_retrieval import RetrievalComparison, compare_retrieval
from tasks.ledger import tracked_run
from tasks.locks import WRITE_RETRY

prepare_joint = task(name="prepare-joint-posts", timeout_seconds=6 * 3600, persist_result=True)(prepare_joint_posts)
parts_present = task(name="joint-parts-present", timeout_seconds=3600)(available_parts)
train_joint_task = task(name="train-joint", timeout_seconds=24 * 3600, persist_result=True, **WRITE_RETRY)(
    train_joint)
compare_retrieval_task = task(name="compare-retrieval", timeout_seconds=24 * 3600, persist_result=True,
                              **WRITE_RETRY)(compare_retrieval)
predict_hashtags_task = task(name="predict-hashtags", timeout_seconds=6 * 3600, **WRITE_RETRY)(predict_hashtags)
evaluate_hashtags_task = task(name="evaluate-hashtags", timeout_seconds=6 * 3600, **WRITE_RETRY)(evaluate_hashtags)
predict_location_task = task(name="predict-location", timeout_seconds=6 * 3600, **WRITE_RETRY)(predict_location)
evaluate_location_task = task(name="evaluate-location", timeout_seconds=6 * 3600, **WRITE_RETRY)(evaluate_location)
embed_joint_task = task(name="embed-joint", timeout_seconds=6 * 3600, persist_result=True, **WRITE_RETRY)(
    embed_joint_posts)


def frozen_encoders(settings: JointSettings) -> dict[str, bool]:
    """The feature-store encoders the model's parts read -> whether only posts with a location key need it (the
    location part averages the texts of posts sharing a place; a text or image part needs every post)."""
    needs: dict[str, bool] = {}
    if "location" in settings.parts:
        needs[settings.location_encoder] = True
    if "image" in settings.parts:
        needs[settings.image_encoder] = False
    if "text" in settings.parts and settings.text_input != "words":
        needs[settings.text_input] = False
    return dict(sorted(needs.items()))


@flow(name="train-joint")
def train_joint_flow(home: str | None = None, settings: dict | None = None, curated_only: bool | None = None,
                     retrain: bool = False, device: str = "auto") -> JointTraining:
    """Featurize what the parts need, snapshot the posts, train and register the joint model.

    Without ``parts`` in the settings the model takes every part some post has (at least two); parts named
    explicitly must be present.
    """
    store = Home.at(home)
    config = JointSettings.from_dict(settings or {})
    chosen = "parts" in (settings or {})
    parameters = {"settings": config.as_dict(), "curated_only": curated_only, "retrain": retrain}
    with tracked_run(store, "train-joint", parameters) as run:
        for encoder, located_only in frozen_encoders(config if chosen else replace(config, parts=PARTS)).items():
            featurize_encoder(store, encoder, run.run_id, curated_only, device, located_only)
        refresh_features(store, run.run_id)
        dataset = prepare_joint(store, config if chosen else replace(config, parts=PARTS), curated_only)
        if not chosen:
            config = replace(config, parts=parts_present(store, dataset, config))
        result = train_joint_task(dataset, config, store, run.run_id, retrain)
        run.counts = {"read": result.posts, "written": 0 if result.reused else 1}
    return result


@flow(name="embed-joint")
def embed_joint_flow(model_id: str, home: str | None = None, device: str = "auto") -> JointEmbedded:
    """Embed every part of the posts the joint model has not embedded (views `embedding_parts`, `embeddings`)."""
    store = Home.at(home)
    with tracked_run(store, "embed-joint", {"model_id": model_id}) as run:
        result = embed_joint_posts(store, run.run_id, model_id, device)
        run.counts = {"read": result.read, "written": result.embedded}
    return result


@flow(name="evaluate-retrieval")
def evaluate_retrieval_flow(home: str | None = None, model_id: str | None = None, baselines: bool = True,
                            retrain: bool = False) -> RetrievalComparison:
    """Train (or reuse) the VSE++ baselines on the joint model's snapshot; image <-> text scores of all three."""
    store = Home.at(home)
    with tracked_run(store, "evaluate-retrieval", {"model_id": model_id, "baselines": baselines}) as run:
        result = compare_retrieval_task(store, run.run_id, model_id, baselines, retrain)
        run.counts = {"written": len(result.models) - 1}
    return result


@flow(name="predict-hashtags")
def predict_hashtags_flow(home: str | None = None, model_id: str | None = None, k: int = 5) -> HashtagPredictions:
    """Recommend k hashtags to the posts without one (`predictions`, task hashtags, one row per rank)."""
    store = Home.at(home)
    with tracked_run(store, "predict-hashtags", {"model_id": model_id, "k": k}) as run:
        result = predict_hashtags_task(store, run.run_id, model_id, k)
        run.counts = {"read": result.posts, "written": result.predicted}
    return result


@flow(name="evaluate-hashtags")
def evaluate_hashtags_flow(home: str | None = None, model_id: str | None = None) -> ApplicationScores:
    """P/R/F1@k of the joint model's hashtags on held-out posts beside the baselines."""
    store = Home.at(home)
    with tracked_run(store, "evaluate-hashtags", {"model_id": model_id}) as run:
        result = evaluate_hashtags_task(store, run.run_id, model_id)
        run.counts = {"read": result.posts}
    return result


@flow(name="predict-location")
def predict_location_flow(home: str | None = None, model_id: str | None = None, classifier: str = "linear",
                          decision: str = "nearby") -> LocationPredictions:
    """A city for the posts without coordinates (`predictions`, task location, with the city's lat, lon)."""
    store = Home.at(home)
    with tracked_run(store, "predict-location",
                     {"model_id": model_id, "classifier": classifier, "decision": decision}) as run:
        result = predict_location_task(store, run.run_id, model_id, classifier=classifier, decision=decision)
        run.counts = {"read": result.posts, "written": result.predicted}
    return result


@flow(name="evaluate-location")
def evaluate_location_flow(home: str | None = None, model_id: str | None = None, classifier: str = "linear",
                           decision: str = "nearby") -> ApplicationScores:
    """Accuracy, Acc@161 km and median km on held-out posts: joint features (+ words) vs the text-only baseline."""
    store = Home.at(home)
    with tracked_run(store, "evaluate-location",
                     {"model_id": model_id, "classifier": classifier, "decision": decision}) as run:
        result = evaluate_location_task(store, run.run_id, model_id, classifier=classifier, decision=decision)
        run.counts = {"read": result.posts}
    return result
