"""Interactive HTML pages of paper 001's word space: the images retrieved for words, and the t-SNE map of the
projected images (tasks/html_report.py), each with filters by language and text and a post panel."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import plotly.graph_objects as go
import pyarrow as pa
from markupsafe import Markup

from tasks.html_report import (
    ENVIRONMENT,
    colour,
    count_options,
    data_script,
    figure_div,
    filter_select,
    hover_text,
    jpeg_base64,
    page,
    shorten,
)

PANEL_TEXT = 500


class Hit(Protocol):
    """What a retrieved post brings (tasks.learn.word_analyses.RetrievalHit)."""

    rank: int
    post_id: str
    score: float
    text: str | None


def _payload(post_ids: list[str], texts: list[str | None], langs: list[str], pictures: Sequence[np.ndarray],
             extra: dict[str, list[Any]], panel: list[list[str]]) -> dict[str, Any]:
    return {
        "posts": {"post_id": post_ids, "text": [shorten(t, PANEL_TEXT) for t in texts], "lang": langs,
                  "thumbnail": list(range(len(pictures))), **extra},
        "thumbnails": [jpeg_base64(p) for p in pictures],
        "panel_columns": [["lang", "language"], *panel, ["post_id", "post"]],
    }


def retrieval_page(words: list[str], model_id: str, word_space_id: str, searched: int, hits: Sequence[Hit],
                   langs: list[str | None], pictures: Sequence[np.ndarray]) -> str:
    """The retrieved images as a grid (rank, cosine, language, caption), filterable by language and text."""
    langs = [lang or "unknown" for lang in langs]
    payload = _payload([h.post_id for h in hits], [h.text for h in hits], langs, pictures,
                       {"rank": [h.rank for h in hits], "score": [round(h.score, 3) for h in hits]},
                       [["rank", "rank"], ["score", "cosine"]])
    tiles = [{"row": row, "rank": hit.rank, "score": f"{hit.score:.3f}", "lang": langs[row],
              "caption": shorten(hit.text, 140), "image": payload["thumbnails"][row]} for row, hit in enumerate(hits)]
    body = ENVIRONMENT.from_string(_RETRIEVAL).render(
        query=" + ".join(words), model_id=model_id, word_space_id=word_space_id, searched=searched, tiles=tiles,
        language=filter_select("lang", "language", count_options(langs)),
        payload=data_script("report-posts", payload),
    )
    return page(f"postatlas · images nearest to {' + '.join(words)}", Markup(body))


def image_map_page(model_id: str, xy: np.ndarray, posts: pa.Table, pictures: Sequence[np.ndarray], sampled: int
                   ) -> str:
    """The t-SNE map of projected images, one colour per language; hover a point to see its image and caption."""
    langs = [lang or "unknown" for lang in posts.column("lang").to_pylist()]
    texts = posts.column("text").to_pylist()
    payload = _payload(posts.column("post_id").to_pylist(), texts, langs, pictures, {}, [])
    figure = go.Figure()
    rows = np.arange(len(langs))
    by_language = np.asarray(langs, dtype=object)
    for number, (lang, _) in enumerate(Counter(langs).most_common()):
        members = rows[by_language == lang]
        figure.add_scatter(x=xy[members, 0], y=xy[members, 1], mode="markers", name=lang,
                           customdata=members.tolist(), hovertext=[hover_text(texts[m]) for m in members],
                           hoverinfo="text", marker={"size": 7, "color": colour(number), "opacity": 0.85},
                           unselected={"marker": {"opacity": 0.07}})
    figure.update_layout(title=f"t-SNE map of {len(langs):,} projected images", height=680,
                         legend={"itemsizing": "constant", "title": "language"})
    figure.update_xaxes(showticklabels=False, zeroline=False, showgrid=False)
    figure.update_yaxes(showticklabels=False, zeroline=False, showgrid=False, scaleanchor="x")
    body = ENVIRONMENT.from_string(_IMAGE_MAP).render(
        model_id=model_id, points=len(langs), sampled=sampled, plot=figure_div(figure, "image-map"),
        language=filter_select("lang", "language", count_options(langs)),
        payload=data_script("report-posts", payload),
    )
    return page("postatlas · image map", Markup(body))


_FILTERS = """<div class="filters">{{ language }}
<label>text contains<input type="search" data-filter="text" placeholder="words"></label></div>"""

_RETRIEVAL = """
<h1>Images nearest to <code>{{ query }}</code></h1>
<p class="note">Paper 001's text-to-image retrieval: the query's TF-IDF-weighted word vector against every post's
image projected into the word space by the regression CNN <code>{{ model_id }}</code> (word space
<code>{{ word_space_id }}</code>); {{ "{:,}".format(searched) }} posts with images searched. Click an image to read
its post.</p>
""" + _FILTERS + """
<div class="explore"><div class="grid">{% for t in tiles %}<figure data-post="{{ t.row }}">
<img src="data:image/jpeg;base64,{{ t.image }}" alt="retrieved image {{ t.rank }}">
<figcaption><b>{{ t.rank }}</b> · cosine {{ t.score }} · {{ t.lang }}<br>{{ t.caption }}</figcaption></figure>
{% endfor %}</div>
<aside class="post-panel" id="post-panel"><p class="note">Click an image to see its post.</p></aside></div>
{{ payload }}
"""

_IMAGE_MAP = """
<h1>Image map</h1>
<p class="note">The images of {{ "{:,}".format(points) }} posts (of {{ "{:,}".format(sampled) }} sampled) projected into
the word space by <code>{{ model_id }}</code>, laid out by t-SNE: images the model reads alike sit together. Colours
are the posts' detected languages; hover a point to see its image and caption, filter to dim the rest.</p>
""" + _FILTERS + """
<div class="explore"><div class="linked-plot">{{ plot }}</div>
<aside class="post-panel" id="post-panel"><p class="note">Hover a point to see its post.</p></aside></div>
{{ payload }}
"""
