"""One self-contained HTML report per clustering run (figures inlined as PNG data URIs), and Prefect artifacts."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from jinja2 import Environment, select_autoescape

from storage import clusters as cluster_store
from storage import warehouse
from storage.home import Home
from storage.image_arrays import image_array
from tasks.learn.errors import LearningInputError
from tasks.locks import warehouse_writer
from tasks.plots import cluster_scatter, contact_sheet, figure_png

MAX_PLOTTED = 50_000
SHEET_IMAGES = 8
EXAMPLE_TEXTS = 5
DETAILED_CLUSTERS = 60
THUMBNAIL = 96


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _sample(count: int, limit: int, seed: int = 13) -> np.ndarray:
    """Row indices to plot: all of them, or a seeded sample of `limit` in order."""
    if count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, limit, replace=False))


def _map_figure(posts: pa.Table, labels: np.ndarray, clusters: list[dict[str, Any]]) -> str | None:
    lat = posts.column("lat").to_numpy(zero_copy_only=False).astype(float)
    lon = posts.column("lon").to_numpy(zero_copy_only=False).astype(float)
    located = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon))
    if len(located) == 0:
        return None
    rows = located[_sample(len(located), MAX_PLOTTED)]
    centres = np.array([(c["centroid_lon"] if c["centroid_lon"] is not None else np.nan,
                         c["centroid_lat"] if c["centroid_lat"] is not None else np.nan) for c in clusters])
    figure = cluster_scatter(np.column_stack([lon[rows], lat[rows]]), labels[rows],
                             f"Clusters on the map ({len(located):,} posts with coordinates)", "longitude",
                             "latitude", centres, [c["cluster_id"] for c in clusters],
                             point_size=4 if len(rows) > 5000 else 24)
    return _data_uri(figure_png(figure))


def _scatter_figure(posts: pa.Table, labels: np.ndarray, clusters: list[dict[str, Any]]) -> str:
    xy = np.column_stack([posts.column("x").to_numpy(zero_copy_only=False),
                          posts.column("y").to_numpy(zero_copy_only=False)]).astype(float)
    rows = _sample(len(xy), MAX_PLOTTED)
    order = np.argsort(labels, kind="stable")
    ids, starts = np.unique(labels[order], return_index=True)
    medians = {int(i): np.median(group, axis=0) for i, group in zip(ids, np.split(xy[order], starts[1:]), strict=True)}
    centres = np.array([medians.get(c["cluster_id"], (np.nan, np.nan)) for c in clusters])
    figure = cluster_scatter(xy[rows], labels[rows], f"The clustered 2-D space ({len(xy):,} posts)", "", "",
                             centres, [c["cluster_id"] for c in clusters])
    return _data_uri(figure_png(figure))


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


def render_report(run_row: dict[str, Any], clusters: list[dict[str, Any]], posts: pa.Table, home: Home) -> str:
    """The report's HTML: summary, map, 2-D scatter, the clusters table, then per cluster images and texts."""
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
    metrics = [("posts", run_row["posts"] + run_row["assigned_since_fit"]),
               ("assigned since the fit", run_row["assigned_since_fit"]), ("clusters", run_row["n_clusters"]),
               ("silhouette", _format(run_row["silhouette"])),
               ("ARI" + (f" vs {run_row['label_task']}" if run_row["label_task"] else ""), _format(run_row["ari"])),
               ("NMI", _format(run_row["nmi"])), ("posts with an image", run_row["posts_with_image"]),
               ("posts with coordinates", run_row["posts_with_coordinates"]),
               ("embedding model", run_row["model_id"]), ("fitted", _format(run_row["created_at"])),
               ("seconds to fit", _format(run_row["seconds"], 1))]
    template = _ENVIRONMENT.from_string(_TEMPLATE)
    return template.render(
        run=run_row, metrics=metrics, parameters=json.dumps(run_row["parameters"], indent=2, default=str),
        map_png=_map_figure(posts, labels, clusters), scatter_png=_scatter_figure(posts, labels, clusters),
        clusters=[_cluster_view(c) for c in clusters], details=details, detailed_limit=DETAILED_CLUSTERS,
    )


def write_report(home: Home, run_id: str, run: str) -> str:
    """Write the run's HTML report under POSTATLAS_HOME/reports/clusters/ and record its path; returns the path."""
    with warehouse.reader(home.warehouse) as con:
        run_row = cluster_store.cluster_run(con, run)
        if run_row is None:
            raise LearningInputError(f"no clustering run {run!r}: run `postatlas cluster` first")
        clusters = cluster_store.clusters_of(con, run)
        posts = cluster_store.assigned_posts(con, run)
    path = cluster_store.save_report(home, run, render_report(run_row, clusters, posts, home))
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


_ENVIRONMENT = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>postatlas clusters · {{ run.run }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;color:#222;
padding:0 1rem}
h1{font-size:1.5rem}h2{margin-top:2.5rem;border-bottom:1px solid #ddd}h3{margin-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;width:100%}th,td{border-bottom:1px solid #eee;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f6f6}.metrics td:first-child{color:#666;width:14rem}
img{max-width:100%}.cluster{margin:2rem 0;padding-top:.5rem;border-top:1px dashed #ccc}
blockquote{margin:.3rem 0;padding:.2rem .8rem;border-left:3px solid #ccc;color:#444;font-size:.9rem}
.note{color:#777;font-size:.85rem}pre{background:#f8f8f8;padding:.8rem;font-size:.8rem;overflow:auto}
</style></head><body>
<h1>Clusters · {{ run.method }} method · <code>{{ run.run }}</code></h1>
<table class="metrics">{% for name, value in metrics %}<tr><td>{{ name }}</td><td>{{ value }}</td></tr>{% endfor %}
</table>
<details><summary>parameters</summary><pre>{{ parameters }}</pre></details>
<h2>Map</h2>
{% if map_png %}<img src="{{ map_png }}" alt="clusters on the map">
<p class="note">Each cluster's number sits at its geographic centroid. Posts without coordinates are clustered on
their content alone and do not appear here.</p>
{% else %}<p class="note">No post of this run has coordinates: there is no map.</p>{% endif %}
<h2>2-D view</h2>
<img src="{{ scatter_png }}" alt="2-D scatter of the clustered posts">
<h2>Clusters</h2>
<table><tr><th>#</th><th>size</th><th>top terms (c-TF-IDF)</th><th>hashtags</th><th>languages</th>
<th>centroid</th><th>bounding box</th><th>time span</th></tr>
{% for c in clusters %}<tr><td><a href="#cluster-{{ c.cluster_id }}">{{ c.cluster_id }}</a></td><td>{{ c.size }}</td>
<td>{{ c.terms }}</td><td>{{ c.hashtags }}</td><td>{{ c.langs }}</td><td>{{ c.centroid or "–" }}</td>
<td>{{ c.bbox or "–" }}</td><td>{{ c.span }}</td></tr>{% endfor %}
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
</body></html>
"""
