"""Interactive, offline, self-contained HTML reports: plotly figures (plotly.js inlined once per page), the Natural
Earth basemap inlined for maps, and the embedded posts that storage/report_assets/report.js filters and shows.

A report opens from disk with no network: plotly's geo layer normally fetches its TopoJSON from a CDN, so the page
defines ``window.PlotlyGeoAssets`` before plotly.js loads and points ``topojsonURL`` nowhere.
"""

from __future__ import annotations

import base64
import io
import json
import textwrap
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from jinja2 import Environment, select_autoescape
from markupsafe import Markup
from PIL import Image
from plotly.colors import qualitative
from plotly.offline import get_plotlyjs

from storage.reports import asset_text

BASEMAP = "world_110m"
PLOTLY_CONFIG = {"topojsonURL": "about:blank/", "displaylogo": False, "responsive": True, "scrollZoom": True}
PALETTE = qualitative.Dark24 + qualitative.Light24
UNCLUSTERED_COLOUR = "#9e9e9e"
PLOT_FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12}

ENVIRONMENT = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def colour(index: int) -> str:
    """The index-th colour of a 48-colour qualitative palette (cycled)."""
    return PALETTE[index % len(PALETTE)]


def shorten(text: str | None, width: int) -> str:
    """Whitespace collapsed and cut at a word boundary to `width` characters ('' for None)."""
    return textwrap.shorten(" ".join((text or "").split()), width=width, placeholder=" …") if text else ""


def hover_text(text: str | None, width: int = 120) -> str:
    """Post text for a plotly hover label: shortened, wrapped and HTML-escaped (plotly renders a subset of HTML)."""
    escaped = [str(Markup.escape(line)) for line in textwrap.wrap(shorten(text, width), 60)]
    return "<br>".join(escaped) or "(no text)"


def jpeg_base64(pixels: np.ndarray, quality: int = 80) -> str:
    """An (H, W, 3) uint8 image as base64 JPEG (the page adds the data: prefix)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="JPEG", quality=quality, optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def figure_div(figure: go.Figure, div_id: str) -> Markup:
    """A figure's <div> and its Plotly.newPlot call, without plotly.js (the page carries it once)."""
    figure.update_layout(font=PLOT_FONT, margin={"l": 10, "r": 10, "t": 40, "b": 10}, template="plotly_white")
    return Markup(figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOTLY_CONFIG))


def data_script(element_id: str, payload: Any) -> Markup:
    """JSON for the page's script, in a <script type="application/json"> that no text can close early (every `<` is
    written as its JSON escape)."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).replace("<", "\\u003c")
    return Markup(f'<script type="application/json" id="{element_id}">{text}</script>')


def geo_layout(figure: go.Figure, height: int = 620) -> None:
    """Land, ocean, coastlines, countries and lakes from the inlined basemap; zoomed to the plotted points."""
    figure.update_geos(resolution=110, showland=True, landcolor="#ececec", showocean=True, oceancolor="#f2f7fb",
                       showcoastlines=True, coastlinecolor="#9a9a9a", showcountries=True, countrycolor="#c4c4c4",
                       showlakes=True, lakecolor="#f2f7fb", projection_type="natural earth", fitbounds="locations")
    figure.update_layout(height=height, legend={"itemsizing": "constant"})


def page(title: str, body: Markup, with_map: bool = False) -> str:
    """The full HTML document: style sheet, plotly.js, the basemap when a map is drawn, the body, report.js."""
    basemap = ""
    if with_map:
        basemap = f"window.PlotlyGeoAssets={{topojson:{{{json.dumps(BASEMAP)}:{asset_text(f'{BASEMAP}.json')}}}}};"
    return ENVIRONMENT.from_string(_PAGE).render(
        title=title, body=body, style=Markup(asset_text("report.css")), basemap=Markup(basemap),
        plotly=Markup(get_plotlyjs()), script=Markup(asset_text("report.js")),
    )


def count_options(values: Sequence[str | None]) -> list[tuple[str, str]]:
    """Filter options for a column: its values, most frequent first, each labelled with its count."""
    return [(str(value), f"{value} ({count:,})") for value, count in Counter(values).most_common()]


def filter_select(column: str, label: str, options: Sequence[tuple[str, str]]) -> Markup:
    """A <select> filtering the posts on `column` (options are (value, label); the first option is 'all')."""
    return Markup(ENVIRONMENT.from_string(_SELECT).render(column=column, label=label, options=options))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ style }}</style>
<script>{{ basemap }}</script>
<script>{{ plotly }}</script>
</head><body>
{{ body }}
<script>{{ script }}</script>
</body></html>
"""

_SELECT = """<label>{{ label }}<select data-filter="{{ column }}"><option value="">all</option>
{% for value, name in options %}<option value="{{ value }}">{{ name }}</option>{% endfor %}</select></label>"""
