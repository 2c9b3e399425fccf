"""Classification scores as the paper reports them: accuracy, macro-F1 and micro-F1."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score


def classification_scores(truth: np.ndarray, predicted: np.ndarray, classes: int) -> dict[str, float]:
    """Accuracy, macro-F1 (every class weighs the same) and micro-F1; empty input gives NaNs."""
    if len(truth) == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan"), "micro_f1": float("nan"), "n": 0}
    labels = list(range(classes))
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(truth, predicted, labels=labels, average="micro", zero_division=0)),
        "n": int(len(truth)),
    }
