"""The bot classifiers on accounts whose posts differ in style as bots' and humans' do."""

from __future__ import annotations

import random

import numpy as np
import pytest

from models.bots import METHODS, cross_validate, text_classifier


def accounts(seed: int = 0) -> tuple[list[str], np.ndarray]:
    """20 bot accounts posting templated links and 20 humans chatting; each account 30 posts."""
    rng = random.Random(seed)
    words = ["sun", "rain", "coffee", "friends", "weekend", "movie", "train", "late", "tired", "happy", "lunch", "music"]
    documents, is_bot = [], []
    for i in range(40):
        bot = i % 2 == 0
        posts = [
            f"New post! Check https://t.co/{rng.randrange(10**6):06d} #deal #{rng.choice(words)}" if bot
            else f"{rng.choice(words)} and {rng.choice(words)} today, {rng.choice(words)} later?"
            for _ in range(30)
        ]
        documents.append("\n".join(posts))
        is_bot.append(bot)
    return documents, np.array(is_bot)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_tells_templated_bots_from_chat(method: str) -> None:
    documents, is_bot = accounts()
    scores = cross_validate(documents, is_bot, method, folds=4)
    assert scores.accuracy == 1.0 and scores.auc == 1.0 and scores.f1 == 1.0
    assert scores.probabilities.shape == (40,)
    assert (scores.probabilities[is_bot] > 0.5).all()


def test_a_fitted_classifier_scores_unseen_accounts() -> None:
    documents, is_bot = accounts(seed=1)
    model = text_classifier("char").fit(documents, is_bot)
    unseen, truth = accounts(seed=2)
    assert (model.predict(unseen) == truth).all()


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown bot method 'knn'"):
        text_classifier("knn")
