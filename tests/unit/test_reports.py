"""The interactive reports' building blocks: per-class scores from a confusion matrix, JSON that no post text can
break out of, escaped hover labels, and the offline basemap the page carries."""

from __future__ import annotations

import json
import re

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from models.metrics import classification_scores, per_class_scores
from tasks.html_report import data_script, hover_text, page
from tasks.learn.training_report import render_training_report


def test_confusion_matrix_rows_are_true_classes_and_per_class_scores_match_sklearn() -> None:
    truth = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 1])
    predicted = np.array([0, 1, 0, 1, 2, 2, 2, 0, 2, 1])
    scores = classification_scores(truth, predicted, 4)
    assert scores["confusion"] == [[2, 1, 0, 0], [0, 2, 1, 0], [1, 0, 3, 0], [0, 0, 0, 0]]
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=[0, 1, 2, 3],
                                                                     zero_division=0)
    per_class = per_class_scores(scores["confusion"])
    assert [round(c["precision"], 6) for c in per_class] == [round(v, 6) for v in precision]
    assert [round(c["recall"], 6) for c in per_class] == [round(v, 6) for v in recall]
    assert [round(c["f1"], 6) for c in per_class] == [round(v, 6) for v in f1]
    assert [c["support"] for c in per_class] == support.tolist()
    assert classification_scores(np.array([], dtype=int), np.array([], dtype=int), 2)["confusion"] == [[0, 0], [0, 0]]


def test_embedded_posts_cannot_close_their_script_element() -> None:
    hostile = {"text": ["</script><script>alert(1)</script>", "<!-- <script>", "ok"]}
    html = data_script("report-posts", hostile)
    body = html[html.index(">") + 1: -len("</script>")]
    assert "<" not in body
    assert json.loads(body) == hostile


def test_hover_labels_show_markup_as_text() -> None:
    label = hover_text("<b>bold</b> & <img src=x onerror=alert(1)>")
    assert "<b>" not in label and "<img" not in label and "&lt;b&gt;" in label and "&amp;" in label
    assert hover_text(None) == "(no text)"


def test_a_page_with_a_map_carries_the_natural_earth_basemap_and_points_plotly_nowhere() -> None:
    html = page("map", "<p>body</p>", with_map=True)
    assets = re.search(r"<script>window\.PlotlyGeoAssets=(.*?);</script>", html, re.DOTALL).group(1)
    topology = json.loads(re.sub(r"^\{topojson:\{\"world_110m\":(.*)\}\}$", r"\1", assets, flags=re.DOTALL))
    assert topology["type"] == "Topology" and {"land", "coastlines", "countries"} <= set(topology["objects"])
    assert "<script>window.PlotlyGeoAssets=" not in page("no map", "<p>body</p>")
    assert "&lt;p&gt;body" in page("escaped", "<p>body</p>")  # a plain string body is text, not markup


def test_training_report_marks_the_model_predict_would_use() -> None:
    from datetime import datetime

    def model(variant: str, created: int) -> dict:
        return {"model_id": f"m-{variant}", "variant": variant, "train_posts": 10, "val_posts": 5, "test_posts": 5,
                "created_at": datetime(2026, 1, created), "metrics": {"fit": {"history": [
                    {"epoch": 1, "train_loss": 1.0, "validation_score": 0.5}]}}}

    def row(variant: str, split: str, accuracy: float, macro_f1: float) -> dict:
        return {"model_id": f"m-{variant}", "split": split, "condition": "both", "accuracy": accuracy,
                "macro_f1": macro_f1, "accuracy_sd": 0.01, "macro_f1_sd": 0.01,
                "confusion": {"classes": ["a", "b"], "matrix": [[3, 0], [1, 1]]}}

    models = [model("text", 1), model("late", 2), model("common", 3)]
    evaluations = [row("text", "val", 0.8, 0.7), row("late", "val", 0.9, 0.6), row("common", "val", 0.9, 0.8),
                   *(row(v, "test", 0.7, 0.7) for v in ("text", "late", "common"))]
    html = render_training_report("topic", models, evaluations)
    assert re.findall(r'href="#variant-(\w+)">\w+</a> <b>★</b>', html) == ["common"]
    assert html.count("confusion-") >= 3 and html.count("<td>a</td>") == 3
