"""The feature store's flow: encode posts with the frozen pretrained encoders, each (post, encoder) once.

One task per encoder (a persisted result: a retried run redoes only the encoders that failed, and an encoder
interrupted mid-way keeps the chunks it wrote), then the view `post_features` is pointed at the parts.
"""

from __future__ import annotations

from prefect import flow, task

from models.encoder_registry import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER, spec
from storage.home import Home
from tasks.featurize import Featurized, featurize_new_posts, refresh_feature_view
from tasks.ledger import tracked_run
from tasks.locks import WRITE_RETRY
from tasks.report import publish_featurize_artifacts

DEFAULT_ENCODERS = (DEFAULT_TEXT_ENCODER, DEFAULT_IMAGE_ENCODER)


@task(name="featurize-encoder", timeout_seconds=24 * 3600, persist_result=True)
def featurize_encoder(home: Home, encoder: str, run_id: str, curated_only: bool | None, device: str,
                      located_only: bool = False):
    """Encode the posts (the curated ones once curation has run; ``located_only``: those with a place or
    coordinates) that this encoder has not encoded yet."""
    return featurize_new_posts(home, encoder, run_id, curated_only, located_only, device)


refresh_features = task(name="refresh-feature-view", **WRITE_RETRY)(refresh_feature_view)


@flow(name="featurize")
def featurize_flow(encoders: list[str] | None = None, home: str | None = None, curated_only: bool | None = None,
                   device: str = "auto") -> Featurized:
    """Encode the posts with each encoder (default: the default text and image encoders)."""
    store = Home.at(home)
    chosen = list(encoders or DEFAULT_ENCODERS)
    for name in chosen:
        if not spec(name).frozen:
            raise ValueError(f"{name!r} is trained with its classifier: only frozen encoders have stored features")
    parameters = {"encoders": chosen, "curated_only": curated_only, "device": device}
    with tracked_run(store, "featurize", parameters) as run:
        runs = [featurize_encoder(store, name, run.run_id, curated_only, device) for name in chosen]
        refresh_features(store, run.run_id)
        result = Featurized(runs[0].posts if runs else 0, runs)
        run.counts = {"written": sum(r.encoded for r in runs), "quarantined": sum(r.unreadable for r in runs)}
        run.breakdown = {r.encoder: {"posts": r.posts, "already": r.already, "encoded": r.encoded,
                                     "unreadable": r.unreadable, "without_input": r.without_input} for r in runs}
        publish_featurize_artifacts(result)
    return result
