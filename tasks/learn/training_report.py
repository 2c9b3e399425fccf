"""The interactive HTML report of a classifier training (paper 003's variants): scores with both modalities and
with one missing, per-class scores, confusion matrices and learning curves (tasks/html_report.py)."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import plotly.graph_objects as go
from markupsafe import Markup

from models.metrics import per_class_scores
from storage import learning, warehouse
from storage.home import Home
from storage.reports import save_html
from tasks.html_report import ENVIRONMENT, colour, figure_div, page
from tasks.learn.errors import LearningInputError

CONDITIONS = (("both", "both"), ("image_only", "image only"), ("text_only", "text only"))
KIND = "fusion"


def _percent(value: float | None) -> str:
    return "–" if value is None or value != value else f"{100 * value:.1f}"


def _spread(value: float | None, spread: float | None) -> str:
    if value is None or value != value:
        return "–"
    return _percent(value) + ("" if spread is None or spread != spread else f" ± {100 * spread:.1f}")


def _by_key(evaluations: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(row["model_id"], row["split"], row["condition"]): row for row in evaluations}


def _scores_figure(models: list[dict[str, Any]], scores: dict[tuple[str, str, str], dict[str, Any]]) -> go.Figure:
    """Test macro-F1 per variant with both modalities and with one missing, bootstrap spread as error bars."""
    figure = go.Figure()
    variants = [m["variant"] for m in models]
    for number, (condition, label) in enumerate(CONDITIONS):
        rows = [scores.get((m["model_id"], "test", condition), {}) for m in models]
        figure.add_bar(name=label, x=variants, y=[100 * (r.get("macro_f1") or 0) for r in rows],
                       error_y={"type": "data", "array": [100 * (r.get("macro_f1_sd") or 0) for r in rows]},
                       marker_color=colour(number),
                       hovertemplate="%{x} · " + label + "<br>macro-F1 %{y:.1f}%<extra></extra>")
    figure.update_layout(barmode="group", title="Test macro-F1 (%) with both modalities and with one missing",
                         height=420, yaxis={"range": [0, 100], "title": "macro-F1 (%)"})
    return figure


def _confusion_figure(confusion: dict[str, Any], title: str) -> go.Figure:
    """Rows the true class, columns the predicted one; colour is the share of the true class, text the count."""
    matrix = np.asarray(confusion["matrix"], dtype=np.float64)
    classes = confusion.get("classes") or [str(i) for i in range(len(matrix))]
    shares = np.divide(matrix, matrix.sum(1, keepdims=True), out=np.zeros_like(matrix),
                       where=matrix.sum(1, keepdims=True) > 0)
    figure = go.Figure(go.Heatmap(
        z=shares, x=classes, y=classes, text=matrix.astype(int), texttemplate="%{text}", colorscale="Blues",
        zmin=0, zmax=1, colorbar={"title": "share"},
        hovertemplate="true %{y}<br>predicted %{x}<br>%{text} posts (%{z:.0%} of the class)<extra></extra>"))
    figure.update_layout(title=title, height=max(320, 60 * len(classes) + 140), width=max(420, 70 * len(classes) + 220))
    figure.update_xaxes(title="predicted", side="bottom")
    figure.update_yaxes(title="true", autorange="reversed")
    return figure


def _curve_figure(history: list[dict[str, Any]], title: str) -> go.Figure:
    """Training loss and validation score per epoch."""
    epochs = [row["epoch"] for row in history]
    figure = go.Figure()
    figure.add_scatter(x=epochs, y=[row.get("train_loss") for row in history], name="training loss",
                       mode="lines+markers", marker_color=colour(0))
    figure.add_scatter(x=epochs, y=[row.get("validation_score") for row in history], name="validation macro-F1",
                       mode="lines+markers", yaxis="y2", marker_color=colour(1))
    figure.update_layout(title=title, height=320, xaxis={"title": "epoch", "dtick": 1},
                         legend={"orientation": "h", "y": 1.15, "x": 1, "xanchor": "right"},
                         yaxis={"title": "loss"}, yaxis2={"title": "macro-F1", "overlaying": "y", "side": "right"})
    return figure


def _per_class_rows(model_id: str, scores: dict[tuple[str, str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """Per class: precision, recall and F1 with both modalities, F1 with only the image and only the text."""
    both = scores.get((model_id, "test", "both"), {}).get("confusion")
    if not both:
        return []
    per_condition = {condition: per_class_scores(row["confusion"]["matrix"])
                     for condition, _ in CONDITIONS
                     if (row := scores.get((model_id, "test", condition))) and row.get("confusion")}
    classes = both.get("classes") or [str(i) for i in range(len(both["matrix"]))]
    return [{"class": name, "precision": _percent(per_condition["both"][i]["precision"]),
             "recall": _percent(per_condition["both"][i]["recall"]), "f1": _percent(per_condition["both"][i]["f1"]),
             **{f"f1_{condition}": _percent(per_condition[condition][i]["f1"]) if condition in per_condition else "–"
                for condition in ("image_only", "text_only")},
             "support": per_condition["both"][i]["support"]} for i, name in enumerate(classes)]


def _selection_key(model: dict[str, Any], scores: dict[tuple[str, str, str], dict[str, Any]]) -> tuple:
    """How `predict fusion` ranks models: validation accuracy, then macro-F1, then the newest."""
    val = scores.get((model["model_id"], "val", "both"), {})
    return (val.get("accuracy") or -1, val.get("macro_f1") or -1, model["created_at"])


def render_training_report(task: str, models: list[dict[str, Any]], evaluations: list[dict[str, Any]]) -> str:
    """The report's HTML: the variants' scores (table and chart), then per variant its confusion matrix, per-class
    scores and learning curve."""
    scores = _by_key(evaluations)
    best = max(models, key=lambda m: _selection_key(m, scores))
    summary = []
    for model in models:
        row = {c: scores.get((model["model_id"], "test", c), {}) for c, _ in CONDITIONS}
        val = scores.get((model["model_id"], "val", "both"), {})
        summary.append({
            "variant": model["variant"], "model_id": model["model_id"], "best": model is best,
            "sizes": f"{model['train_posts'] or 0:,} / {model['val_posts'] or 0:,} / {model['test_posts'] or 0:,}",
            "cells": [_spread(row[c].get("accuracy"), row[c].get("accuracy_sd")) for c, _ in CONDITIONS]
            + [_spread(row[c].get("macro_f1"), row[c].get("macro_f1_sd")) for c, _ in CONDITIONS],
            "val": _spread(val.get("accuracy"), val.get("accuracy_sd")),
        })
    sections = []
    for number, model in enumerate(models):
        confusion = scores.get((model["model_id"], "test", "both"), {}).get("confusion")
        history = (model["metrics"].get("fit") or {}).get("history") or []
        sections.append({
            "variant": model["variant"], "model_id": model["model_id"],
            "created": model["created_at"].strftime("%Y-%m-%d %H:%M") if model["created_at"] else "–",
            "seconds": model["metrics"].get("seconds"),
            "confusion": figure_div(_confusion_figure(confusion, f"{model['variant']}: test confusion matrix"),
                                    f"confusion-{number}") if confusion else None,
            "per_class": _per_class_rows(model["model_id"], scores),
            "curve": figure_div(_curve_figure(history, f"{model['variant']}: learning curve"), f"curve-{number}")
            if history else None,
        })
    body = ENVIRONMENT.from_string(_TEMPLATE).render(
        task=task, summary=summary, conditions=[label for _, label in CONDITIONS], sections=sections,
        scores=figure_div(_scores_figure(models, scores), "variant-scores"),
    )
    return page(f"postatlas training · {task}", Markup(body))


def write_training_report(home: Home, task: str, model_ids: list[str] | None = None, name: str | None = None) -> str:
    """Write the report of these models (default: the newest model of every variant of the task) as
    reports/training/<name or task>.html, from the analyst copy (the live file for models not published yet)."""
    def read(con: duckdb.DuckDBPyConnection) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        models, evaluations = learning.report_models(con, KIND, task, model_ids)
        wanted = len(model_ids) if model_ids is not None else 1
        return (models, evaluations) if len(models) >= wanted else None

    contents = warehouse.read_published(home.warehouse, read)
    if contents is None:
        raise LearningInputError(f"no trained classifiers for task {task!r}: run `postatlas train fusion {task}`")
    return str(save_html(home, "training", name or task, render_training_report(task, *contents)))


_TEMPLATE = """
<h1>Classifiers for task <code>{{ task }}</code></h1>
<p class="note">Paper 003's variants on the held-out test split: with both modalities, and with the image or the text
removed from the same posts (Table 5's single-modality columns). Scores in %, ± one bootstrap standard deviation
(200 resamples of the split's posts). <b>★</b> marks the model `postatlas predict fusion` uses (best validation
accuracy).</p>
<div class="table-scroll"><table><thead><tr><th>variant</th><th>train / val / test posts</th>
{% for c in conditions %}<th class="number">accuracy · {{ c }}</th>{% endfor %}
{% for c in conditions %}<th class="number">macro-F1 · {{ c }}</th>{% endfor %}<th class="number">val accuracy</th>
<th>model</th></tr></thead><tbody>
{% for row in summary %}<tr><td><a href="#variant-{{ row.variant }}">{{ row.variant }}</a>{% if row.best %} <b>★</b>
{% endif %}</td><td>{{ row.sizes }}</td>{% for cell in row.cells %}<td class="number">{{ cell }}</td>{% endfor %}
<td class="number">{{ row.val }}</td><td><code>{{ row.model_id }}</code></td></tr>{% endfor %}
</tbody></table></div>
{{ scores }}
{% for s in sections %}<div class="cluster" id="variant-{{ s.variant }}">
<h2>{{ s.variant }}</h2>
<p class="note"><code>{{ s.model_id }}</code> · trained {{ s.created }}{% if s.seconds %} in
{{ "%.0f"|format(s.seconds) }} s{% endif %}</p>
{% if s.confusion %}{{ s.confusion }}{% else %}<p class="note">No confusion matrix stored for this model (trained
before schema 11: retrain it to see one).</p>{% endif %}
{% if s.per_class %}<table><thead><tr><th>class</th><th class="number">precision</th><th class="number">recall</th>
<th class="number">F1</th><th class="number">F1 · image only</th><th class="number">F1 · text only</th>
<th class="number">test posts</th></tr></thead><tbody>{% for r in s.per_class %}<tr><td>{{ r["class"] }}</td>
<td class="number">{{ r.precision }}</td><td class="number">{{ r.recall }}</td><td class="number">{{ r.f1 }}</td>
<td class="number">{{ r.f1_image_only }}</td><td class="number">{{ r.f1_text_only }}</td>
<td class="number">{{ r.support }}</td></tr>{% endfor %}</tbody></table>{% endif %}
{% if s.curve %}{{ s.curve }}{% endif %}
</div>{% endfor %}
"""
