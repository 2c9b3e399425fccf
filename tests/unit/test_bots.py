"""The bot classifiers on accounts whose posts differ in style as bots' and humans' do (texts for the TF-IDF
methods, post vectors for the joint-embedding ones)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from models.bots import (
    TEXT_METHODS,
    NearestAccount,
    PostWindowCNN,
    cross_validate,
    oversampled_windows,
    post_windows,
    text_classifier,
)


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


@pytest.mark.parametrize("method", TEXT_METHODS)
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


def vector_accounts(bots: int = 12, humans: int = 12, posts: int = 25, seed: int = 0
                    ) -> tuple[list[np.ndarray], np.ndarray]:
    """Bots post near one template direction, humans scatter widely around another (16-d post vectors)."""
    rng = np.random.default_rng(seed)
    template_bot, template_human = np.eye(16)[0], np.eye(16)[1]
    accounts_, is_bot = [], []
    for i in range(bots + humans):
        bot = i < bots
        centre, spread = (template_bot, 0.3) if bot else (template_human, 1.0)
        accounts_.append((centre + spread * rng.normal(size=(posts, 16)) / 4).astype(np.float32))
        is_bot.append(bot)
    return accounts_, np.array(is_bot)


@pytest.mark.parametrize("method", ["joint-knn", "joint-cnn"])
def test_each_embedding_method_tells_bots_from_humans_by_their_post_vectors(method: str) -> None:
    vectors, is_bot = vector_accounts()
    scores = cross_validate(vectors, is_bot, method, folds=3)
    assert scores.accuracy == 1.0 and scores.auc == 1.0
    assert (scores.probabilities[is_bot] > 0.5).all() and (scores.probabilities[~is_bot] < 0.5).all()


def test_nearest_account_takes_the_label_of_the_most_similar_mean() -> None:
    east, north, north_east = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), np.array([[1.0, 0.9], [1.0, 1.0]])
    model = NearestAccount().fit([east, north], np.array([True, False]))
    p_bot = model.predict_proba([north_east, north, np.zeros((0, 2))])[:, 1]
    assert p_bot[0] > 0.5 and p_bot[1] == 0.0  # (1 + 0 - 1) / 2: the nearest is the human, at cosine 1
    assert p_bot[2] == 0.5  # an account without a post vector is undecided


def test_post_windows_step_back_from_the_newest_and_pad_the_oldest() -> None:
    posts = np.arange(25, dtype=np.float32).reshape(25, 1)
    windows = post_windows(posts, window=10, dimension=1)
    assert [w[:, 0].tolist() for w in windows] == [list(range(15, 25)), list(range(5, 15)),
                                                   [0.0] * 5 + list(range(5))]


def test_the_minority_class_is_evened_out_with_its_accounts_earlier_windows() -> None:
    accounts_ = [np.full((30, 1), i, dtype=np.float32) for i in range(6)]
    is_bot = np.array([True, False, False, False, False, False])  # 1 bot: 4 windows short, it has 2 earlier ones
    windows, labels = oversampled_windows(accounts_, is_bot, window=10, dimension=1)
    assert labels.tolist() == [True, False, False, False, False, False, True, True]
    assert (windows[6:] == 0).all() and len(windows) == 8
    balanced, balanced_labels = oversampled_windows(accounts_[:4], np.array([True, True, False, False]), 10, 1)
    assert len(balanced) == 4 and balanced_labels.tolist() == [True, True, False, False]


def test_the_cnn_reads_only_the_last_window() -> None:
    vectors, is_bot = vector_accounts(seed=1)
    model = PostWindowCNN(maps=16, epochs=10).fit(vectors, is_bot)
    swapped = [np.concatenate([vectors[-1][:15], posts[-10:]]) for posts in vectors]  # old posts all human-like
    assert (model.predict(swapped) == is_bot).all()
