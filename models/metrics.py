"""Classification scores as the paper reports them: accuracy, macro-F1 and micro-F1, with their bootstrap spread."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

BOOTSTRAP_SAMPLES = 200


def classification_scores(truth: np.ndarray, predicted: np.ndarray, classes: int) -> dict[str, float]:
    """Accuracy, macro-F1 (every class weighs the same) and micro-F1, the standard deviation of accuracy and macro-F1
    over bootstrap resamples of the posts (`accuracy_sd`, `macro_f1_sd`), and the confusion matrix (`confusion`,
    rows the true class, columns the predicted one); empty input gives NaNs and a zero matrix."""
    if len(truth) == 0:
        nan = float("nan")
        return {"accuracy": nan, "macro_f1": nan, "micro_f1": nan, "n": 0, "accuracy_sd": nan, "macro_f1_sd": nan,
                "confusion": [[0] * classes for _ in range(classes)]}
    labels = list(range(classes))
    accuracy_sd, macro_f1_sd = bootstrap_spread(np.asarray(truth), np.asarray(predicted), classes)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(truth, predicted, labels=labels, average="micro", zero_division=0)),
        "n": int(len(truth)),
        "accuracy_sd": accuracy_sd,
        "macro_f1_sd": macro_f1_sd,
        "confusion": confusion_matrix(truth, predicted, labels=labels).tolist(),
    }


def per_class_scores(confusion: Sequence[Sequence[int]]) -> list[dict[str, float]]:
    """Precision, recall, F1 and support of every class from a confusion matrix (rows true, columns predicted)."""
    matrix = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diag(matrix)
    predicted, support = matrix.sum(0), matrix.sum(1)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, support, out=np.zeros_like(true_positive), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(true_positive), where=total > 0)
    return [{"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
            for p, r, f, n in zip(precision, recall, f1, support, strict=True)]


def bootstrap_spread(truth: np.ndarray, predicted: np.ndarray, classes: int, samples: int = BOOTSTRAP_SAMPLES,
                     seed: int = 0) -> tuple[float, float]:
    """Standard deviations of accuracy and macro-F1 over `samples` resamples (with replacement) of the posts.

    Vectorised: each resample is a row of multiplicities, and per-class true positives, predicted and true counts
    are one matrix product each.
    """
    count = len(truth)
    weights = np.random.default_rng(seed).multinomial(count, np.full(count, 1 / count), size=samples)
    true_onehot = np.eye(classes)[truth]
    predicted_onehot = np.eye(classes)[predicted]
    true_positive = weights @ (true_onehot * predicted_onehot)
    denominator = weights @ predicted_onehot + weights @ true_onehot
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    accuracy = true_positive.sum(1) / count
    return float(accuracy.std()), float(f1.mean(1).std())


def ranking_scores(predicted: Sequence[Sequence[str]], gold: Sequence[set[str]], ks: Sequence[int]
                   ) -> dict[str, float]:
    """P@k, R@k and F1@k (F1 of the mean P and mean R) of ranked predictions against gold sets, per k."""
    scores: dict[str, float] = {}
    for k in ks:
        hits = np.array([len(set(ranked[:k]) & truth) for ranked, truth in zip(predicted, gold, strict=True)],
                        dtype=float)
        precision = float(np.mean(hits / k)) if len(hits) else 0.0
        recall = float(np.mean([h / max(len(t), 1) for h, t in zip(hits, gold, strict=True)])) if len(hits) else 0.0
        scores[f"p@{k}"], scores[f"r@{k}"] = precision, recall
        scores[f"f1@{k}"] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return scores
