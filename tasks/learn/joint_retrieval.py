"""Paper 002's application 1: cross-part retrieval with a joint model (any part of a query against any part of the
stored posts, Fig. 3), and the evaluation against the VSE++ baselines of Tables 2 and 3.

Search is exact: the target part's vectors are streamed from Parquet in batches and scored against the query with
one matrix product per batch, keeping the best K (docs/BENCHMARKS.md has the latency at 100k and 1M posts).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import torch

from models.joint import JointSettings
from models.joint_options import TARGETS
from storage import embeddings as embedding_store
from storage import learning, warehouse
from storage.home import Home
from storage.image_arrays import decode_square
from tasks.learn.errors import LearningInputError
from tasks.learn.joint import (
    CORPUS_TOKENIZER,
    FOLD_SIZE,
    KIND,
    TEXT_TOKENIZER,
    JointRecipe,
    LoadedJoint,
    chosen_joint,
    embed_parts,
    fold_scores,
    load_joint,
    part_inputs,
)
from tasks.learn.registry import TrainingSet, read_training_set, registered_model, train_and_register
from tasks.locks import warehouse_writer


@dataclass(frozen=True)
class Hit:
    """One retrieved post."""

    rank: int
    post_id: str
    score: float
    text: str | None
    image: str | None


@dataclass(frozen=True)
class Retrieval:
    """The nearest posts' target part to a query, best first, and how many vectors were searched."""

    model_id: str
    query: str
    target: str
    searched: int
    hits: list[Hit]


def retrieve(home: Home, model_id: str | None, target: str, k: int = 10, *, text: str | None = None,
             image: Path | None = None, post_id: str | None = None, query_part: str | None = None,
             device: str = "auto") -> Retrieval:
    """The ``k`` posts whose ``target`` part (or post mean) is closest to the query (a text, an image file or a
    stored post's part)."""
    chosen = chosen_joint(home, model_id)
    registered_model(home, chosen, KIND, "joint model")
    if target not in TARGETS:
        raise LearningInputError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    if not embedding_store.part_names(home, chosen):
        raise LearningInputError(f"model {chosen} has embedded no post yet: run `postatlas embed --model {chosen}`")
    if post_id is not None:
        vector, described = _stored_query(home, chosen, post_id, query_part)
    else:
        loaded = load_joint(home, chosen)
        vector, described = (_text_query(loaded, text, device) if text is not None
                             else _image_query(loaded, image, device))
    ids, scores, searched = _nearest(home, chosen, target, vector, k, exclude=post_id)
    with warehouse.reader(home.warehouse) as con:
        details = learning.post_summaries(con, ids)
    hits = [Hit(rank, pid, float(score), *details.get(pid, (None, None)))
            for rank, (pid, score) in enumerate(zip(ids, scores, strict=True), 1)]
    return Retrieval(chosen, described, target, searched, hits)


def _stored_query(home: Home, model_id: str, post_id: str, part: str | None) -> tuple[np.ndarray, str]:
    """A post's stored part vector (default its text, else its mean of parts)."""
    with warehouse.reader(home.warehouse) as con:
        stored = learning.stored_part_vectors(con, model_id, post_id)
    if not stored:
        raise LearningInputError(f"post {post_id!r} has no vector of model {model_id}: is it embedded "
                                 f"(`postatlas embed --model {model_id}`)?")
    chosen = part or ("text" if "text" in stored else "post")
    if chosen not in stored:
        raise LearningInputError(f"post {post_id!r} has no {chosen} part; it has {', '.join(sorted(stored))}")
    return np.asarray(stored[chosen], dtype=np.float32), f"the {chosen} of {post_id}"


def _text_query(loaded: LoadedJoint, text: str, device: str) -> tuple[np.ndarray, str]:
    """A text through the model's text branch."""
    settings = loaded.settings
    if "text" not in settings.parts:
        raise LearningInputError(f"model {loaded.model_id} has no text part")
    with torch.no_grad():
        if settings.text_input == "words":
            tokenizer = CORPUS_TOKENIZER if settings.hashtags_in_text else TEXT_TOKENIZER
            ids = loaded.lexicon.vocabulary.encode([tokenizer(text)], settings.max_tokens)
            if not (ids > 1).any():
                raise LearningInputError(f"no word of {text!r} is in model {loaded.model_id}'s vocabulary")
            tokens = torch.as_tensor(ids)
            vector = loaded.model.encode_text(tokens, (tokens > 0).sum(1))
        else:
            from models.pretrained import load_encoder

            features = load_encoder(settings.text_input, device=device).encode([text])
            vector = loaded.model.encode("text", torch.as_tensor(features))
    return vector[0].numpy(), f"text {text!r}"


def _image_query(loaded: LoadedJoint, image: Path | None, device: str) -> tuple[np.ndarray, str]:
    """An image file through the frozen image encoder and the model's image head."""
    from models.pretrained import load_encoder

    if image is None:
        raise LearningInputError("give --text, --image or --post")
    if "image" not in loaded.settings.parts:
        raise LearningInputError(f"model {loaded.model_id} has no image part")
    encoder = load_encoder(loaded.settings.image_encoder, device=device)
    pixels = decode_square(image, encoder.spec.image_size or 224, 3)
    if pixels is None:
        raise LearningInputError(f"cannot read {image} as an image")
    with torch.no_grad():
        vector = loaded.model.encode("image", torch.as_tensor(encoder.encode(pixels[None])))
    return vector[0].numpy(), f"image {image.name}"


def _nearest(home: Home, model_id: str, target: str, query: np.ndarray, k: int, exclude: str | None
             ) -> tuple[list[str], np.ndarray, int]:
    """Exact top-k by cosine over the streamed target vectors."""
    best_ids: list[str] = []
    best_scores = np.zeros(0, dtype=np.float32)
    searched = 0
    for ids, vectors in embedding_store.iter_vectors(home, model_id, target):
        searched += len(ids)
        scores = vectors @ query
        if exclude is not None:
            scores[[i for i, pid in enumerate(ids) if pid == exclude]] = -np.inf
        keep = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
        merged_scores = np.concatenate([best_scores, scores[keep]])
        merged_ids = best_ids + [ids[i] for i in keep]
        order = np.argsort(-merged_scores, kind="stable")[:k]
        best_scores, best_ids = merged_scores[order], [merged_ids[i] for i in order]
    finite = np.isfinite(best_scores)
    return [pid for pid, f in zip(best_ids, finite, strict=True) if f], best_scores[finite], searched


@dataclass(frozen=True)
class RetrievalComparison:
    """Image <-> text retrieval on the held-out test posts: the joint model beside its VSE++ baselines."""

    rows: list[dict[str, Any]]
    models: dict[str, str]  # role -> model id


BASELINES = {
    "VSE++ (text, image)": {"parts": ("text", "image"), "objective": "pairwise"},
    "VSE++ with hashtags as text": {"parts": ("text", "image"), "objective": "pairwise", "hashtags_in_text": True},
}


def compare_retrieval(home: Home, run_id: str, model_id: str | None = None, baselines: bool = True,
                      retrain: bool = False) -> RetrievalComparison:
    """Train (or reuse) the VSE++ baselines on the joint model's snapshot with its training settings, and score all
    three on the same test posts (rows in `application_evaluations`, application retrieval)."""
    chosen = chosen_joint(home, model_id)
    row = registered_model(home, chosen, KIND, "joint model")
    settings = JointSettings.from_dict({k: v for k, v in row["config"].items() if k != "dataset"})
    if not {"text", "image"} <= set(settings.parts):
        raise LearningInputError(f"model {chosen} has no text and image parts: image <-> text retrieval needs "
                                 "posts with both (train it on posts with images)")
    models = {"joint (paper 002)": chosen}
    dataset = TrainingSet(home.datasets / row["config"]["dataset"], 0)
    if baselines:
        for name, changes in BASELINES.items():
            recipe = JointRecipe.from_training_set(dataset, replace(settings, **changes))
            models[name] = train_and_register(recipe, home, run_id, retrain).model_id
    rows = _common_test_scores(home, dataset, models)
    with warehouse_writer(home.warehouse, run_id) as con:
        learning.write_application_evaluations(con, chosen, "retrieval", run_id, [
            {"method": r["model"], "split": "test", "metric": f"{r['query_part']}_to_{r['target_part']}_{metric}",
             "value": r[metric], "posts": r["queries"]} for r in rows for metric in ("r1", "r5", "r10", "median_rank")])
    return RetrievalComparison(rows, models)


def _common_test_scores(home: Home, dataset: TrainingSet, models: dict[str, str]) -> list[dict[str, Any]]:
    """Image -> text and text -> image of every model on the same test posts: those with both parts for all of
    them (a model reading hashtags as text knows the text of more posts than one that does not)."""
    posts, _, _ = read_training_set(dataset)
    test = posts.filter(pc.equal(posts.column("split"), "test"))
    usable = np.ones(test.num_rows, dtype=bool)
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for role, model_id in models.items():
        loaded = load_joint(home, model_id)
        arrays = part_inputs(home, test, loaded.settings, loaded.lexicon, users=loaded.users)
        parts = embed_parts(loaded.model, arrays, device=loaded.settings.train.device)
        image, text = loaded.settings.parts.index("image"), loaded.settings.parts.index("text")
        usable &= arrays["present"][:, image] & arrays["present"][:, text]
        vectors[role] = (parts[image], parts[text])
    rows = []
    for query in ("image", "text"):
        for role, (image, text) in vectors.items():
            pair = (image, text) if query == "image" else (text, image)
            scores = fold_scores(*pair, usable, FOLD_SIZE, query, "text" if query == "image" else "image")
            rows.append({**scores, "model": role, "model_id": models[role]})
    return rows
