"""One interactive, self-contained HTML report per clustering run (tasks/html_report.py), and Prefect artifacts."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import plotly.graph_objects as go
import pyarrow as pa
from markupsafe import Markup

from storage import clusters as cluster_store
from storage import warehouse
from storage.home import Home
from storage.image_arrays import image_array
from tasks.html_report import (
    ENVIRONMENT,
    UNCLUSTERED_COLOUR,
    colour,
    count_options,
    data_script,
    figure_div,
    filter_select,
    geo_layout,
    hover_text,
    jpeg_base64,
    page,
    shorten,
)
from tasks.learn.errors import LearningInputError
from tasks.locks import warehouse_writer
from tasks.plots import contact_sheet, figure_png

MAX_PLOTTED = 10_000  # posts drawn and listed (a seeded sample beyond, plus the representative and sheet posts)
MAX_THUMBNAILS = 600  # posts whose image the page carries for the post panel
PANEL_THUMBNAIL = 128
SHEET_IMAGES = 8
EXAMPLE_TEXTS = 5
DETAILED_CLUSTERS = 60
THUMBNAIL = 96
PANEL_TEXT = 500


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _cluster_label(cluster_id: int, names: dict[int, str]) -> str:
    return "unclustered" if cluster_id < 0 else f"{cluster_id} · {names.get(cluster_id, '')}".rstrip(" ·")


def _thumbnails(home: Home, paths: list[str | None], preferred: set[int]) -> tuple[list[int], list[str]]:
    """Per plotted post the index of its thumbnail or -1, and the thumbnails (base64 JPEG): representative posts
    first, then the others in order, up to MAX_THUMBNAILS."""
    with_image = [row for row, path in enumerate(paths) if path is not None]
    chosen = sorted(with_image, key=lambda row: row not in preferred)[:MAX_THUMBNAILS]
    index = [-1] * len(paths)
    if not chosen:
        return index, []
    pixels, present = image_array(home, [paths[row] for row in chosen], PANEL_THUMBNAIL, 3, progress=False)
    images = []
    for k, row in enumerate(chosen):
        if present[k]:
            index[row] = len(images)
            images.append(jpeg_base64(np.transpose(pixels[k], (1, 2, 0))))
    return index, images


def _post_payload(home: Home, posts: pa.Table, rows: np.ndarray, labels: np.ndarray, names: dict[int, str],
                  representatives: set[str]) -> dict[str, Any]:
    """The plotted posts as columns for report.js (filters, table, post panel)."""
    chosen = posts.take(pa.array(rows))
    post_ids = chosen.column("post_id").to_pylist()
    times = [t.strftime("%Y-%m-%d %H:%M") if t is not None else None for t in chosen.column("created_at").to_pylist()]
    thumbnail, thumbnails = _thumbnails(home, chosen.column("image_path").to_pylist(),
                                        {k for k, p in enumerate(post_ids) if p in representatives})
    cluster_ids = [int(c) for c in labels[rows]]
    return {
        "posts": {"post_id": post_ids, "cluster": cluster_ids,
                  "cluster_name": [_cluster_label(c, names) for c in cluster_ids],
                  "lang": [lang or "unknown" for lang in chosen.column("lang").to_pylist()],
                  "platform": chosen.column("platform").to_pylist(),
                  "time": times, "text": [shorten(t, PANEL_TEXT) for t in chosen.column("text").to_pylist()],
                  "thumbnail": thumbnail},
        "thumbnails": thumbnails,
        "table_columns": ["cluster", "time", "lang", "platform", "text"],
        "panel_columns": [["cluster_name", "cluster"], ["time", "posted"], ["lang", "language"],
                          ["platform", "platform"], ["post_id", "post"]],
    }


def _traces(kind: type, rows: np.ndarray, labels: np.ndarray, texts: list[str | None], names: dict[int, str],
            order: list[int], coordinates: dict[str, np.ndarray], size: float, shown: np.ndarray | None = None
            ) -> list[go.BaseTraceType]:
    """One trace per cluster (largest first) of the `shown` plotted posts, each point carrying its row in the
    payload as customdata."""
    position = np.arange(len(rows))
    shown = np.ones(len(rows), dtype=bool) if shown is None else shown
    traces = []
    for number, cluster_id in enumerate(order):
        members = position[(labels[rows] == cluster_id) & shown]
        if len(members) == 0:
            continue
        traces.append(kind(
            **{axis: values[members] for axis, values in coordinates.items()}, mode="markers",
            name=_cluster_label(cluster_id, names), customdata=members.tolist(),
            hovertext=[f"<b>{_cluster_label(cluster_id, names)}</b><br>{hover_text(texts[rows[m]])}" for m in members],
            hoverinfo="text", marker={"size": size, "color": UNCLUSTERED_COLOUR if cluster_id < 0 else colour(number),
                                      "opacity": 0.8},
            unselected={"marker": {"opacity": 0.07}},
        ))
    return traces


def _map_figure(posts: pa.Table, rows: np.ndarray, labels: np.ndarray, names: dict[int, str], order: list[int]
                ) -> go.Figure | None:
    lat = posts.column("lat").to_numpy(zero_copy_only=False).astype(float)[rows]
    lon = posts.column("lon").to_numpy(zero_copy_only=False).astype(float)[rows]
    located = np.isfinite(lat) & np.isfinite(lon)
    if not located.any():
        return None
    size = 5 if located.sum() > 3000 else 8
    figure = go.Figure(_traces(go.Scattergeo, rows, labels, posts.column("text").to_pylist(), names, order,
                               {"lat": lat, "lon": lon}, size, located))
    geo_layout(figure)
    figure.update_layout(title=f"Clusters on the map ({int(located.sum()):,} plotted posts with coordinates)")
    return figure


def _space_figure(posts: pa.Table, rows: np.ndarray, labels: np.ndarray, names: dict[int, str], order: list[int]
                  ) -> go.Figure:
    x = posts.column("x").to_numpy(zero_copy_only=False).astype(float)[rows]
    y = posts.column("y").to_numpy(zero_copy_only=False).astype(float)[rows]
    figure = go.Figure(_traces(go.Scatter, rows, labels, posts.column("text").to_pylist(), names, order,
                               {"x": x, "y": y}, 5 if len(rows) > 3000 else 8))
    figure.update_layout(title=f"The clustered 2-D space ({len(rows):,} plotted posts)", height=620,
                         legend={"itemsizing": "constant"})
    figure.update_xaxes(showticklabels=False, zeroline=False, showgrid=False)
    figure.update_yaxes(showticklabels=False, zeroline=False, showgrid=False, scaleanchor="x")
    return figure


def _contact_sheet(home: Home, representatives: list[int], members: np.ndarray, paths: list[str | None],
                   texts: list[str | None]) -> str | None:
    """Up to SHEET_IMAGES images of a cluster: its representative posts first, then other members with images."""
    chosen = [i for i in representatives if paths[i] is not None]
    chosen += [int(i) for i in members if paths[i] is not None and int(i) not in chosen][: SHEET_IMAGES * 2]
    if not chosen:
        return None
    pixels, present = image_array(home, [paths[i] for i in chosen], THUMBNAIL, 3, progress=False)
    shown = [k for k in range(len(chosen)) if present[k]][:SHEET_IMAGES]
    if not shown:
        return None
    figure = contact_sheet([np.transpose(pixels[k], (1, 2, 0)) for k in shown],
                           [texts[chosen[k]] or "" for k in shown], columns=4)
    return _data_uri(figure_png(figure))


def _format(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _cluster_view(cluster: dict[str, Any]) -> dict[str, Any]:
    def pairs(names: list | None, counts: list | None) -> str:
        return ", ".join(f"{n} ({c})" for n, c in zip(names or [], counts or [], strict=False))

    bbox = None
    if cluster["min_lat"] is not None:
        bbox = (f"{cluster['min_lat']:.2f}, {cluster['min_lon']:.2f} – "
                f"{cluster['max_lat']:.2f}, {cluster['max_lon']:.2f}")
    return {
        **cluster,
        "terms": ", ".join(cluster["top_terms"] or []),
        "hashtags": pairs(cluster["top_hashtags"], cluster["hashtag_counts"]),
        "langs": pairs(cluster["languages"], cluster["language_counts"]),
        "centroid": None if cluster["centroid_lat"] is None
        else f"{cluster['centroid_lat']:.3f}, {cluster['centroid_lon']:.3f}",
        "bbox": bbox,
        "span": f"{_format(cluster['first_post_at'])} → {_format(cluster['last_post_at'])}",
    }


def render_report(run_row: dict[str, Any], clusters: list[dict[str, Any]], posts: pa.Table, total: int,
                  home: Home) -> str:
    """The report's HTML: summary, filters, the map and the 2-D view with a post panel, the post table, the clusters
    table, then per cluster images and texts. ``posts``: those the report shows (storage/clusters.report_posts) of
    the run's ``total``."""
    labels = posts.column("cluster_id").to_numpy(zero_copy_only=False).astype(np.int64)
    posts_by_id = {post_id: row for row, post_id in enumerate(posts.column("post_id").to_pylist())}
    paths, texts = posts.column("image_path").to_pylist(), posts.column("text").to_pylist()
    with_image = np.flatnonzero(posts.column("image_path").is_valid().to_numpy(zero_copy_only=False))
    details = []
    for cluster in clusters[:DETAILED_CLUSTERS]:
        representatives = [posts_by_id[p] for p in cluster["representative_post_ids"] if p in posts_by_id]
        members = with_image[labels[with_image] == cluster["cluster_id"]][: SHEET_IMAGES * 2]
        details.append({**_cluster_view(cluster),
                        "sheet": _contact_sheet(home, representatives, members, paths, texts),
                        "examples": [texts[i] for i in representatives if texts[i]][:EXAMPLE_TEXTS]})
    names = {c["cluster_id"]: c["name"] or "" for c in clusters}
    order = [c["cluster_id"] for c in clusters] + sorted(set(np.unique(labels).tolist()) - set(names))
    rows = np.arange(posts.num_rows)
    payload = _post_payload(home, posts, rows, labels, names,
                            {p for c in clusters for p in c["representative_post_ids"]})
    map_figure = _map_figure(posts, rows, labels, names, order)
    metrics = [("posts", run_row["posts"] + run_row["assigned_since_fit"]),
               ("assigned since the fit", run_row["assigned_since_fit"]), ("clusters", run_row["n_clusters"]),
               ("silhouette", _format(run_row["silhouette"])),
               ("ARI" + (f" vs {run_row['label_task']}" if run_row["label_task"] else ""), _format(run_row["ari"])),
               ("NMI", _format(run_row["nmi"])), ("posts with an image", run_row["posts_with_image"]),
               ("posts with coordinates", run_row["posts_with_coordinates"]),
               ("embedding model", run_row["model_id"]), ("fitted", _format(run_row["created_at"])),
               ("seconds to fit", _format(run_row["seconds"], 1))]
    columns = payload["posts"]
    filters = [
        filter_select("cluster", "cluster", [(str(c["cluster_id"]), f"{_cluster_label(c['cluster_id'], names)} "
                                             f"({c['size']:,})") for c in clusters]),
        filter_select("lang", "language", count_options(columns["lang"])),
        filter_select("platform", "platform", count_options(columns["platform"])),
    ]
    body = ENVIRONMENT.from_string(_TEMPLATE).render(
        run=run_row, metrics=metrics, parameters=json.dumps(run_row["parameters"], indent=2, default=str),
        filters=filters, map_div=figure_div(map_figure, "cluster-map") if map_figure else None,
        space_div=figure_div(_space_figure(posts, rows, labels, names, order), "cluster-space"),
        payload=data_script("report-posts", payload), plotted=len(rows), total=total,
        clusters=[_cluster_view(c) for c in clusters], details=details, detailed_limit=DETAILED_CLUSTERS,
        thumbnails=len(payload["thumbnails"]),
    )
    return page(f"postatlas clusters · {run_row['run']}", Markup(body), with_map=map_figure is not None)


def _run_contents(run: str) -> Callable[[duckdb.DuckDBPyConnection], tuple | None]:
    def read(con: duckdb.DuckDBPyConnection) -> tuple | None:
        run_row = cluster_store.cluster_run(con, run)
        if run_row is None:
            return None
        clusters = cluster_store.clusters_of(con, run)
        representatives = [post_id for cluster in clusters for post_id in cluster["representative_post_ids"]]
        posts, total = cluster_store.report_posts(con, run, MAX_PLOTTED, representatives, SHEET_IMAGES * 2)
        return run_row, clusters, posts, total
    return read


def write_report(home: Home, run_id: str, run: str) -> str:
    """Write the run's HTML report under POSTATLAS_HOME/reports/clusters/ and record its path; returns the path.

    Reads the analyst copy, or the live file for a run not published yet (the clustering flow's own run)."""
    contents = warehouse.read_published(home.warehouse, _run_contents(run))
    if contents is None:
        raise LearningInputError(f"no clustering run {run!r}: run `postatlas cluster` first")
    path = cluster_store.save_report(home, run, render_report(*contents, home))
    with warehouse_writer(home.warehouse, run_id) as con:
        cluster_store.set_report_path(con, run, str(path.relative_to(home.root)))
    return str(path)


def cluster_rows(clusters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One plain row per cluster for tables (terminal, Prefect table artifact)."""
    return [{"cluster": c["cluster_id"], "size": c["size"], "top terms": ", ".join((c["top_terms"] or [])[:6]),
             "hashtags": ", ".join((c["top_hashtags"] or [])[:4]), "languages": ", ".join((c["languages"] or [])[:3]),
             "centroid": _cluster_view(c)["centroid"] or "–"} for c in clusters]


def publish_cluster_artifacts(home: Home, run: str) -> None:
    """The run's metrics and clusters as markdown and table artifacts of the flow run (with the report's path)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    with warehouse.reader(home.warehouse) as con:
        row = cluster_store.cluster_run(con, run)
        clusters = cluster_store.clusters_of(con, run)
    rows = cluster_rows(clusters)
    header = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n" if rows else ""
    body = "".join("| " + " | ".join(str(v) for v in r.values()) + " |\n" for r in rows)
    markdown = (
        f"## Clustering run `{run}`\n\nmethod **{row['method']}**, {row['posts']:,} posts fitted "
        f"(+{row['assigned_since_fit']:,} assigned since), {row['n_clusters']} clusters, silhouette "
        f"{_format(row['silhouette'])}, ARI {_format(row['ari'])}, NMI {_format(row['nmi'])}"
        f"{' vs ' + row['label_task'] if row['label_task'] else ''}.\n\nHTML report: "
        f"`{home.path(row['report_path']) if row['report_path'] else 'not written'}`\n\n{header}{body}"
    )
    create_markdown_artifact(markdown, key="cluster-report", description="clustering run: metrics and clusters")
    create_table_artifact(rows, key="clusters", description="clusters of the run, largest first")


_TEMPLATE = """
<h1>Clusters · {{ run.method }} method · <code>{{ run.run }}</code></h1>
<table class="metrics">{% for name, value in metrics %}<tr><td>{{ name }}</td><td>{{ value }}</td></tr>{% endfor %}
</table>
<details><summary>parameters</summary><pre>{{ parameters }}</pre></details>
<h2>Explore</h2>
<p class="note">{% if plotted < total %}A seeded sample of {{ "{:,}".format(plotted) }} of the run's {{ "{:,}".format(total) }} posts
(every cluster's representative posts included) is drawn and listed.{% else %}All {{ "{:,}".format(total) }} posts are
drawn and listed.{% endif %} Hover or click a point, or a row of the table, to read the post{% if thumbnails %} and see
its image ({{ thumbnails }} images carried){% endif %}. The filters narrow the table and dim the other points; click a
cluster in a legend to hide it, double-click to show it alone. Scroll or drag to zoom and pan.</p>
<div class="filters">{% for select in filters %}{{ select }}{% endfor %}
<label>posted from<input type="date" data-filter="time" data-bound="from"></label>
<label>to<input type="date" data-filter="time" data-bound="to"></label>
<label>text contains<input type="search" data-filter="text" placeholder="words"></label>
<span class="note" id="post-count"></span></div>
<div class="explore"><div>
<div class="linked-plot">{% if map_div %}{{ map_div }}
<p class="note">Natural Earth land, coastlines and borders (1:110m), carried in the page. Posts without coordinates
are clustered on their content alone and appear only in the 2-D view.</p>
{% else %}<p class="note">No post of this run has coordinates: there is no map.</p>{% endif %}</div>
<div class="linked-plot">{{ space_div }}</div>
</div><aside class="post-panel" id="post-panel"><p class="note">Hover a point or click a row to see its post.</p>
</aside></div>
<h2>Posts</h2>
<div class="table-scroll"><table id="post-table"><thead><tr><th>cluster</th><th>posted</th><th>language</th>
<th>platform</th><th>text</th></tr></thead><tbody></tbody></table></div>
<h2>Clusters</h2>
<table><tr><th>#</th><th>name</th><th class="number">size</th><th>top terms (c-TF-IDF)</th><th>hashtags</th>
<th>languages</th><th>centroid</th><th>bounding box</th><th>time span</th></tr>
{% for c in clusters %}<tr><td><a href="#cluster-{{ c.cluster_id }}">{{ c.cluster_id }}</a></td><td>{{ c.name }}</td>
<td class="number">{{ c.size }}</td><td>{{ c.terms }}</td><td>{{ c.hashtags }}</td><td>{{ c.langs }}</td>
<td>{{ c.centroid or "–" }}</td><td>{{ c.bbox or "–" }}</td><td>{{ c.span }}</td></tr>{% endfor %}
</table>
{% for c in details %}<div class="cluster" id="cluster-{{ c.cluster_id }}">
<h3>Cluster {{ c.cluster_id }} · {{ c.name }} · {{ c.size }} posts</h3>
<p class="note">{{ c.posts_with_image }} with an image, {{ c.posts_with_coordinates }} with coordinates;
top terms: {{ c.terms }}</p>
{% if c.sheet %}<img src="{{ c.sheet }}" alt="images of cluster {{ c.cluster_id }}">{% endif %}
{% for text in c.examples %}<blockquote>{{ text }}</blockquote>{% endfor %}
</div>{% endfor %}
{% if clusters|length > detailed_limit %}<p class="note">Images and texts are shown for the
{{ detailed_limit }} largest clusters; the table lists all {{ clusters|length }}.</p>{% endif %}
<p class="note">Written by postatlas. Representative posts are those nearest each cluster's centre in the embedding
space.</p>
{{ payload }}
"""
