"""Bot detection flows (paper 002's application 3): `train bots` and `predict bots`."""

from __future__ import annotations

from prefect import flow, task

from storage.home import Home
from tasks.learn.bots import BotPredictions, BotTraining, default_methods, predict_bots, train_bots
from tasks.ledger import tracked_run

train_bot_models = task(name="train-bot-models", timeout_seconds=6 * 3600)(train_bots)
predict_bot_labels = task(name="predict-bots", timeout_seconds=6 * 3600)(predict_bots)


@flow(name="train-bots")
def train_bots_flow(task_name: str = "bots", methods: list[str] | None = None, folds: int = 5,
                    home: str | None = None, joint_model: str | None = None) -> BotTraining:
    """Cross-validate and register each method on the accounts labelled bot / human (default: the text methods,
    and the joint-embedding ones with ``joint_model`` or the newest joint model)."""
    store = Home.at(home)
    chosen = tuple(methods or default_methods(store, joint_model))
    parameters = {"task": task_name, "methods": list(chosen), "folds": folds, "joint_model": joint_model}
    with tracked_run(store, "train-bots", parameters) as run:
        result = train_bot_models(store, run.run_id, task_name, chosen, folds, joint_model)
        run.counts = {"read": sum(result.accounts.values())}
    return result


@flow(name="predict-bots")
def predict_bots_flow(model_id: str | None = None, task_name: str = "bots", home: str | None = None) -> BotPredictions:
    """Label the accounts without a gold label (one row per account in user_predictions)."""
    store = Home.at(home)
    with tracked_run(store, "predict-bots", {"model_id": model_id, "task": task_name}) as run:
        result = predict_bot_labels(store, run.run_id, model_id, task_name)
        run.counts = {"read": result.accounts, "written": result.accounts}
    return result
