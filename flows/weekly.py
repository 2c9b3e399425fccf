"""The weekly training flow for the `gpu` pool: the word space and its image CNN, the fusion classifiers
of every label task and their predictions, then paper 000's autoencoder. Each part is its own subflow run,
so a retry redoes what failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow

from flows.clusters import train_autoencoder_flow
from flows.learn import predict_fusion_flow, train_fusion_flow
from flows.words import train_image_regression_flow, train_word_space_flow
from tasks.learn.fusion import FusionPredictions, FusionTraining


@dataclass(frozen=True)
class WeeklyTraining:
    """The models the week's training registered (or reused), and per label task its fusions and predictions."""

    word_space: str
    image_regression: str
    fusion: dict[str, FusionTraining]
    predictions: dict[str, FusionPredictions]
    autoencoder: str


@flow(name="weekly-training")
def weekly_training_flow(
    label_tasks: list[str] | None = None,
    fusion_settings: dict | None = None,
    word_space_settings: dict | None = None,
    image_regression_settings: dict | None = None,
    autoencoder_settings: dict | None = None,
    home: str | None = None,
) -> WeeklyTraining:
    """Retrain on the curated set (models of unchanged data and settings are reused, not retrained).

    The autoencoder (paper 000) retrained here is picked up by the next nightly clustering, which then refits.
    """
    word_space = train_word_space_flow(home=home, settings=word_space_settings)
    regression = train_image_regression_flow(word_space_id=word_space.model_id, home=home,
                                             settings=image_regression_settings)
    fusion, predictions = {}, {}
    for label_task in label_tasks or []:
        fusion[label_task] = train_fusion_flow(label_task, ["all"], home, fusion_settings)
        predictions[label_task] = predict_fusion_flow(label_task, home=home)
    autoencoder = train_autoencoder_flow(home=home, settings=autoencoder_settings)
    return WeeklyTraining(word_space.model_id, regression.model_id, fusion, predictions, autoencoder.model_id)
