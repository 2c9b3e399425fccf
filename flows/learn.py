"""Learning flows for the `gpu` work pool (they fall back to the CPU): paper 003's classifiers, train and predict.

Tasks take the home, training-set snapshots, ids and settings; a retried run redoes only the variants that failed
(each trained variant is a persisted task result), and a variant interrupted mid-way resumes from its last
epoch's checkpoint.
"""

from __future__ import annotations

from prefect import flow, task

from models.fusion import VARIANTS
from models.fusion_training import FusionSettings
from storage.home import Home
from tasks.featurize import refresh_feature_view
from tasks.learn.fusion import (
    FusionPredictions,
    FusionTraining,
    evaluations,
    featurize_training_set,
    frozen_encoders,
    predict_posts,
    prepare_dataset,
    train_ensemble,
    train_variant,
)
from tasks.learn.training_report import write_training_report
from tasks.ledger import tracked_run
from tasks.locks import WRITE_RETRY
from tasks.report import publish_fusion_artifacts, publish_prediction_artifacts

prepare_fusion_dataset = task(name="prepare-fusion-dataset", timeout_seconds=3600, persist_result=True)(
    prepare_dataset)
train_fusion_variant = task(name="train-fusion-variant", timeout_seconds=24 * 3600, persist_result=True,
                            **WRITE_RETRY)(train_variant)
featurize_fusion_posts = task(name="featurize-training-set", timeout_seconds=24 * 3600, persist_result=True)(
    featurize_training_set)
refresh_features = task(name="refresh-feature-view", **WRITE_RETRY)(refresh_feature_view)
train_fusion_ensemble = task(name="train-fusion-ensemble", timeout_seconds=3600, persist_result=True,
                             **WRITE_RETRY)(train_ensemble)
fusion_evaluations = task(name="fusion-evaluations", timeout_seconds=600)(evaluations)
training_report = task(name="training-report", timeout_seconds=600)(write_training_report)
predict_fusion_posts = task(name="predict-fusion", timeout_seconds=6 * 3600, persist_result=True, **WRITE_RETRY)(
    predict_posts)


def variant_order(variants: list[str], settings: FusionSettings, with_images: bool = True) -> list[str]:
    """`image` first whenever a fusion reads the image classifier's vectors; unknown names are an error.

    Without any image in the data, `all` means the text classifier and the probe, and naming another image variant
    is an error.
    """
    everything = variants in (["all"], [])
    chosen = list(VARIANTS) if everything else variants
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)} or all")
    if not with_images:
        if not everything and any(v not in ("text", "probe") for v in chosen):
            raise ValueError("no labelled post has a stored image: only --variant text or probe can be trained")
        return [v for v in VARIANTS if v in ("text", "probe") and (everything or v in chosen)]
    needs_image_model = (settings.scratch_image and settings.share_image_encoder
                         and any(v not in ("image", "text") for v in chosen))
    ordered = [v for v in VARIANTS if v in chosen]
    if needs_image_model and "image" not in ordered:
        ordered.insert(0, "image")
    return ordered


@flow(name="train-fusion")
def train_fusion_flow(
    task_name: str, variants: list[str] | None = None, home: str | None = None, settings: dict | None = None,
    curated_only: bool | None = None, retrain: bool = False, split_task: str | None = None,
) -> FusionTraining:
    """Train paper 003's variants for a label task, evaluate each on the held-out split, register them, and write
    the training report (reports/training/<task>.html).

    The frozen encoders' features of the training set are computed first where the feature store lacks them.
    With two variants or more, the mean of the best three by validation accuracy is registered as `ensemble`.
    Variants already trained on the same snapshot with the same settings are reused unless `retrain`.
    """
    store = Home.at(home)
    config = FusionSettings.from_dict(settings or {})
    variant_order(variants or ["all"], config)  # fail on unknown names before any work
    parameters = {"task": task_name, "variants": variants, "curated_only": curated_only, "retrain": retrain,
                  "split_task": split_task}
    with tracked_run(store, "train-fusion", parameters) as run:
        dataset = prepare_fusion_dataset(task_name, store, curated_only, split_task)
        ordered = variant_order(variants or ["all"], config, dataset.with_image > 0)
        encoders = frozen_encoders(config, with_images=dataset.with_image > 0)
        for encoder in encoders:
            featurize_fusion_posts(dataset, encoder, store, run.run_id, config.train.device)
        if encoders:
            refresh_features(store, run.run_id)
        model_ids: dict[str, str] = {}
        for variant in ordered:
            image_model = model_ids.get("image") if variant not in ("image", "text") else None
            model_ids[variant] = train_fusion_variant(dataset, variant, config, store, run.run_id, image_model,
                                                      retrain)
        ensemble = train_fusion_ensemble(dataset, model_ids, store, run.run_id) if len(model_ids) > 1 else None
        if ensemble is not None:
            model_ids["ensemble"] = ensemble
        run.counts = {"models": len(model_ids)}
        result = FusionTraining(task_name, model_ids, fusion_evaluations(store, list(model_ids.values())),
                                str(dataset.path), config.as_dict(),
                                training_report(store, task_name, list(model_ids.values())))
        publish_fusion_artifacts(result)
    return result


@flow(name="predict-fusion")
def predict_fusion_flow(task_name: str, model_id: str | None = None, home: str | None = None) -> FusionPredictions:
    """Predict the task for every curated post without a gold label, with the best (or the named) model."""
    store = Home.at(home)
    with tracked_run(store, "predict-fusion", {"task": task_name, "model_id": model_id}) as run:
        result = predict_fusion_posts(task_name, store, run.run_id, model_id)
        run.counts = {"predicted": result.predicted}
        publish_prediction_artifacts(result)
    return result
