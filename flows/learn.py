"""Learning flows for the `gpu` work pool (they fall back to the CPU): paper 003's classifiers, train and predict.

Tasks take paths, ids and plain dicts only; a retried run redoes only the variants that failed (each trained
variant is a persisted task result), and a variant interrupted mid-way resumes from its last epoch's checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from prefect import flow, task

from models.fusion import VARIANTS
from models.fusion_training import FusionSettings
from storage import datasets, learning, warehouse
from storage.home import Home
from tasks.fusion import predict_posts, prepare_dataset, train_variant
from tasks.ledger import tracked_run
from tasks.locks import WRITE_RETRY
from tasks.report import publish_fusion_artifacts, publish_prediction_artifacts

prepare_fusion_dataset = task(name="prepare-fusion-dataset", timeout_seconds=3600, persist_result=True)(
    prepare_dataset)
train_fusion_variant = task(name="train-fusion-variant", timeout_seconds=24 * 3600, persist_result=True,
                            **WRITE_RETRY)(train_variant)
predict_fusion_posts = task(name="predict-fusion", timeout_seconds=6 * 3600, persist_result=True, **WRITE_RETRY)(
    predict_posts)


def variant_order(variants: list[str], settings: FusionSettings, with_images: bool = True) -> list[str]:
    """`image` first whenever a fusion reads the image classifier's vectors; unknown names are an error.

    Without any image in the data, `all` means the text classifier alone and naming an image variant is an error.
    """
    everything = variants in (["all"], [])
    chosen = list(VARIANTS) if everything else variants
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)} or all")
    if not with_images:
        if not everything and chosen != ["text"]:
            raise ValueError("no labelled post has a stored image: only --variant text can be trained")
        return ["text"]
    needs_image_model = settings.share_image_encoder and any(v not in ("image", "text") for v in chosen)
    ordered = [v for v in VARIANTS if v in chosen]
    if needs_image_model and "image" not in ordered:
        ordered.insert(0, "image")
    return ordered


def dataset_has_images(dataset_dir: str) -> bool:
    return datasets.read_dataset(Path(dataset_dir))[1]["with_image"] > 0


@flow(name="train-fusion")
def train_fusion_flow(
    task_name: str, variants: list[str] | None = None, home: str | None = None, settings: dict | None = None,
    curated_only: bool | None = None, retrain: bool = False, split_task: str | None = None,
) -> dict:
    """Train paper 003's variants for a label task, evaluate each on the held-out split, register them.

    Variants already trained on the same snapshot with the same settings are reused unless `retrain`.
    """
    store = Home.at(home)
    config = FusionSettings.from_dict(settings or {})
    variant_order(variants or ["all"], config)  # fail on unknown names before any work
    parameters = {"task": task_name, "variants": variants, "curated_only": curated_only, "retrain": retrain,
                  "split_task": split_task}
    with tracked_run(store, "train-fusion", parameters) as run:
        dataset_dir = prepare_fusion_dataset(task_name, str(store.root), curated_only, split_task)
        ordered = variant_order(variants or ["all"], config, dataset_has_images(dataset_dir))
        model_ids: dict[str, str] = {}
        config_dict = config.as_dict()
        for variant in ordered:
            image_model = model_ids.get("image") if variant not in ("image", "text") else None
            model_ids[variant] = train_fusion_variant(dataset_dir, variant, config_dict, str(store.root), run.run_id,
                                                      image_model, retrain)
        with warehouse.reader(store.warehouse) as con:
            evaluations = learning.evaluation_table(con, list(model_ids.values()))
        run.counts = {"models": len(model_ids)}
        result = {"task": task_name, "models": model_ids, "evaluations": evaluations, "dataset": dataset_dir,
                  "settings": asdict(config)}
        publish_fusion_artifacts(result)
    return result


@flow(name="predict-fusion")
def predict_fusion_flow(task_name: str, model_id: str | None = None, home: str | None = None) -> dict:
    """Predict the task for every curated post without a gold label, with the best (or the named) model."""
    store = Home.at(home)
    with tracked_run(store, "predict-fusion", {"task": task_name, "model_id": model_id}) as run:
        result = predict_fusion_posts(task_name, str(store.root), run.run_id, model_id)
        run.counts = {"predicted": result["predicted"]}
        publish_prediction_artifacts(result)
    return result
