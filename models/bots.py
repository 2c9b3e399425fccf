"""Bot detection from an account's posts (paper 002's application 3; PAN 2019 bots and gender profiling).

The strong published baseline for PAN 2019 is a linear model over character n-gram TF-IDF of an account's
tweets; ``char+word`` adds word 1-2-grams. Accounts are documents: their posts joined by newlines. The paper's
own methods (kNN and a CNN over the joint embedding of the account's posts) are measured against these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline, make_union

METHODS = ("char+word", "char")
DEFAULT_METHODS = METHODS
MAX_FEATURES = 300_000


def text_classifier(method: str, seed: int = 0) -> Pipeline:
    """TF-IDF (sublinear, min_df 2) of character 1-4-grams, plus word 1-2-grams for ``char+word``, then a
    logistic regression (C = 10)."""
    if method not in METHODS:
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


def cross_validate(documents: Sequence[str], is_bot: np.ndarray, method: str, folds: int = 5,
                   seed: int = 0) -> BotScores:
    """Stratified k-fold accuracy, F1 (bot) and ROC AUC of ``method`` over the accounts."""
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probability = cross_val_predict(text_classifier(method, seed), list(documents), is_bot, cv=split,
                                    method="predict_proba")[:, 1]
    predicted = probability >= 0.5
    return BotScores(method, float((predicted == is_bot).mean()), float(f1_score(is_bot, predicted)),
                     float(roc_auc_score(is_bot, probability)), probability)
