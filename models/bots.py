"""Bot detection from an account's posts (paper 002's application 3; PAN 2019 bots and gender profiling).

The strong published baseline for PAN 2019 is a linear model over character n-gram TF-IDF of an account's
tweets; ``char+word`` adds word 1-2-grams. Accounts are documents: their posts joined by newlines.

The paper's own methods read the joint embedding of the account's posts (oldest first, one vector per post):
``joint-knn`` is the nearest labelled account (k = 1, cosine) by the mean of its post vectors, and ``joint-cnn`` a
Kim-style CNN over the last 10 post vectors (windows 2, 3 and 4 posts wide, 300 maps each, max over time), trained
on each account's last window with the minority class oversampled by its accounts' earlier windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline, make_union

TEXT_METHODS = ("char+word", "char")
EMBEDDING_METHODS = ("joint-knn", "joint-cnn")
METHODS = TEXT_METHODS + EMBEDDING_METHODS
DEFAULT_METHODS = TEXT_METHODS  # the embedding methods join them when a joint model is there
MAX_FEATURES = 300_000


def classifier(method: str, seed: int = 0) -> Pipeline | BaseEstimator:
    """A fresh, unfitted classifier of ``method``: text methods read documents, embedding methods read each
    account's post vectors."""
    if method == "joint-knn":
        return NearestAccount()
    if method == "joint-cnn":
        return PostWindowCNN(seed=seed)
    return text_classifier(method, seed)


def text_classifier(method: str, seed: int = 0) -> Pipeline:
    """TF-IDF (sublinear, min_df 2) of character 1-4-grams, plus word 1-2-grams for ``char+word``, then a
    logistic regression (C = 10)."""
    if method not in TEXT_METHODS:
        raise ValueError(f"unknown bot method {method!r}; choose from {', '.join(METHODS)}")
    characters = TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True, min_df=2,
                                 max_features=MAX_FEATURES, dtype=np.float32)
    features = characters
    if method == "char+word":
        words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=2,
                                max_features=MAX_FEATURES, dtype=np.float32)
        features = make_union(characters, words)
    return make_pipeline(features, LogisticRegression(C=10.0, max_iter=2000, random_state=seed))


@dataclass(frozen=True)
class BotScores:
    """Cross-validated scores of one method (``probabilities``: p(bot) per account, out of fold)."""

    method: str
    accuracy: float
    f1: float
    auc: float
    probabilities: np.ndarray


def cross_validate(inputs: Sequence, is_bot: np.ndarray, method: str, folds: int = 5, seed: int = 0) -> BotScores:
    """Stratified k-fold accuracy, F1 (bot) and ROC AUC of ``method`` over the accounts (``inputs``: documents for
    a text method, post-vector arrays for an embedding method)."""
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probability = cross_val_predict(classifier(method, seed), list(inputs), is_bot, cv=split,
                                    method="predict_proba")[:, 1]
    predicted = probability >= 0.5
    return BotScores(method, float((predicted == is_bot).mean()), float(f1_score(is_bot, predicted)),
                     float(roc_auc_score(is_bot, probability)), probability)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def account_means(accounts: Sequence[np.ndarray], dimension: int) -> np.ndarray:
    """Unit mean post vector per account (zeros for an account without a post vector)."""
    means = np.zeros((len(accounts), dimension), dtype=np.float32)
    for row, posts in enumerate(accounts):
        if len(posts):
            means[row] = posts.mean(0)
    return _unit(means)


class NearestAccount(ClassifierMixin, BaseEstimator):
    """k = 1 nearest labelled account by cosine similarity of the mean post vectors (paper 002's kNN).

    p(bot) = (1 + s_bot - s_human) / 2 with s the best similarity to a bot and to a human account: above 0.5 exactly
    when the nearest account is a bot, and graded so that AUC can be measured.
    """

    def fit(self, accounts: Sequence[np.ndarray], is_bot: np.ndarray) -> NearestAccount:
        """Keep each labelled account's unit mean post vector."""
        self.dimension_ = int(next(len(p[0]) for p in accounts if len(p)))
        self.means_ = account_means(accounts, self.dimension_)
        self.is_bot_ = np.asarray(is_bot, dtype=bool)
        self.classes_ = np.array([False, True])
        return self

    def predict_proba(self, accounts: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 2) p(human), p(bot) from the best similarity to each class."""
        similarity = account_means(accounts, self.dimension_) @ self.means_.T
        best_bot = similarity[:, self.is_bot_].max(1)
        best_human = similarity[:, ~self.is_bot_].max(1)
        p_bot = np.clip((1.0 + best_bot - best_human) / 2.0, 0.0, 1.0)
        return np.stack([1.0 - p_bot, p_bot], 1)

    def predict(self, accounts: Sequence[np.ndarray]) -> np.ndarray:
        """Whether each account is a bot."""
        return self.predict_proba(accounts)[:, 1] >= 0.5


class _KimCNN(torch.nn.Module):
    """Convolutions of several widths over a sequence of vectors, max over time, dropout, one logit."""

    def __init__(self, dimension: int, widths: tuple[int, ...], maps: int, dropout: float) -> None:
        super().__init__()
        self.convolutions = torch.nn.ModuleList(torch.nn.Conv1d(dimension, maps, width) for width in widths)
        self.dropout = torch.nn.Dropout(dropout)
        self.output = torch.nn.Linear(maps * len(widths), 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        channels = windows.transpose(1, 2)  # (batch, dimension, posts)
        pooled = [torch.relu(conv(channels)).amax(2) for conv in self.convolutions]
        return self.output(self.dropout(torch.cat(pooled, 1))).squeeze(1)


def post_windows(posts: np.ndarray, window: int, dimension: int) -> list[np.ndarray]:
    """An account's windows of ``window`` consecutive post vectors, newest first, stepping back ``window`` posts;
    the oldest window is padded with zero vectors in front (so is the only one of an account with fewer posts)."""
    if len(posts) == 0:
        return [np.zeros((window, dimension), dtype=np.float32)]
    windows = []
    for end in range(len(posts), 0, -window):
        chunk = posts[max(0, end - window):end]
        padding = np.zeros((window - len(chunk), dimension), dtype=np.float32)
        windows.append(np.concatenate([padding, chunk]).astype(np.float32))
    return windows


def oversampled_windows(accounts: Sequence[np.ndarray], is_bot: np.ndarray, window: int, dimension: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Every account's last window, plus earlier windows of the minority class's accounts (one per account in
    turn) until the classes are even or the minority runs out of windows: (windows, is_bot)."""
    per_account = [post_windows(posts, window, dimension) for posts in accounts]
    chosen = [windows[0] for windows in per_account]
    labels = [bool(label) for label in is_bot]
    minority = bool(np.sum(is_bot) < len(is_bot) / 2)
    missing = abs(len(labels) - 2 * int(np.sum(np.asarray(is_bot) == minority)))
    extra = [windows[1:] for windows, label in zip(per_account, labels, strict=True) if label == minority]
    depth = 0
    while missing > 0 and any(depth < len(windows) for windows in extra):
        for windows in extra:
            if missing > 0 and depth < len(windows):
                chosen.append(windows[depth])
                labels.append(minority)
                missing -= 1
        depth += 1
    return np.stack(chosen), np.array(labels, dtype=bool)


class PostWindowCNN(ClassifierMixin, BaseEstimator):
    """Kim-style CNN over an account's last ``window`` post vectors (paper 002's CNN); small enough for the CPU."""

    def __init__(self, window: int = 10, widths: tuple[int, ...] = (2, 3, 4), maps: int = 300, epochs: int = 20,
                 batch_size: int = 64, learning_rate: float = 1e-3, dropout: float = 0.5, seed: int = 0) -> None:
        self.window = window
        self.widths = widths
        self.maps = maps
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.dropout = dropout
        self.seed = seed

    def fit(self, accounts: Sequence[np.ndarray], is_bot: np.ndarray) -> PostWindowCNN:
        """Train on the last windows (minority oversampled) with Adam and binary cross-entropy."""
        self.dimension_ = int(next(len(p[0]) for p in accounts if len(p)))
        self.classes_ = np.array([False, True])
        windows, labels = oversampled_windows(accounts, np.asarray(is_bot, dtype=bool), self.window, self.dimension_)
        generator = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self.network_ = _KimCNN(self.dimension_, tuple(self.widths), self.maps, self.dropout)
        optimizer = torch.optim.Adam(self.network_.parameters(), lr=self.learning_rate)
        inputs, targets = torch.from_numpy(windows), torch.from_numpy(labels.astype(np.float32))
        self.network_.train()
        for _ in range(self.epochs):
            for batch in torch.randperm(len(inputs), generator=generator).split(self.batch_size):
                optimizer.zero_grad()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(self.network_(inputs[batch]),
                                                                            targets[batch])
                loss.backward()
                optimizer.step()
        self.network_.eval()
        return self

    def predict_proba(self, accounts: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 2) p(human), p(bot) of each account's last window."""
        windows = np.stack([post_windows(posts, self.window, self.dimension_)[0] for posts in accounts])
        with torch.no_grad():
            p_bot = torch.sigmoid(self.network_(torch.from_numpy(windows))).numpy().astype(np.float64)
        return np.stack([1.0 - p_bot, p_bot], 1)

    def predict(self, accounts: Sequence[np.ndarray]) -> np.ndarray:
        """Whether each account is a bot."""
        return self.predict_proba(accounts)[:, 1] >= 0.5
