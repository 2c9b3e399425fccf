"""The weekly training flow for the `gpu` pool: the word space and its image CNN, the fusion classifiers
of every label task and their predictions, then paper 000's autoencoder. Each part is its own subflow run,
so a retry redoes what failed.
"""

from __future__ import annotations

from prefect import flow

from flows.clusters import train_autoencoder_flow
from flows.learn import predict_fusion_flow, train_fusion_flow
from flows.words import train_image_regression_flow, train_word_space_flow


@flow(name="weekly-training")
def weekly_training_flow(
    label_tasks: list[str] | None = None,
    fusion_settings: dict | None = None,
    word_space_settings: dict | None = None,
    image_regression_settings: dict | None = None,
    autoencoder_settings: dict | None = None,
    home: str | None = None,
) -> dict:
    """Retrain on the curated set (models of unchanged data and settings are reused, not retrained).

    The autoencoder (paper 000) retrained here is picked up by the next nightly clustering, which then refits.
    """
    word_space = train_word_space_flow(home=home, settings=word_space_settings)
    regression = train_image_regression_flow(word_space_id=word_space["model_id"], home=home,
                                             settings=image_regression_settings)
    fusion = {}
    for label_task in label_tasks or []:
        trained = train_fusion_flow(label_task, ["all"], home, fusion_settings)
        fusion[label_task] = {"models": trained["models"], "predictions": predict_fusion_flow(label_task, home=home)}
    autoencoder = train_autoencoder_flow(home=home, settings=autoencoder_settings)
    return {"word_space": word_space["model_id"], "image_regression": regression["model_id"], "fusion": fusion,
            "autoencoder": autoencoder["model_id"]}
