"""The language model's flow: fit the stacked language identifier on labelled posts (CPU, a few minutes)."""

from __future__ import annotations

from prefect import flow, task

from storage.home import Home
from tasks.language_fit import LanguageFit, fit_language
from tasks.ledger import tracked_run

fit_language_model = task(name="fit-language-model", timeout_seconds=6 * 3600)(fit_language)


@flow(name="train-language")
def train_language_flow(task: str = "lang", keep: list[str] | None = None, out: str | None = None,
                        home: str | None = None) -> LanguageFit:
    """Fit on the posts labelled ``task``; ``keep``: the languages curate will keep (sets the threshold)."""
    store = Home.at(home)
    languages = tuple(keep or ("es", "ca", "en"))
    with tracked_run(store, "train-language", {"task": task, "keep": list(languages), "out": out}) as run:
        result = fit_language_model(store, task, languages, out)
        run.counts = {"read": sum(result.examples.values())}
    return result
