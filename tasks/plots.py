"""Figures for the word-space report (paper 001): language counts, top words, retrieved images, t-SNE maps.

Figures are built on the Agg canvas without pyplot (no display, no global figure registry); save them with
`storage.figures.save_figure`.
"""

from __future__ import annotations

import io
import math
import textwrap
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnnotationBbox, OffsetImage


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _horizontal_bars(ax: Axes, pairs: Sequence[tuple[str, int]], color: str) -> None:
    """Bars for (label, value) pairs, first pair on top, values written at the bar ends."""
    labels = [label for label, _ in pairs]
    values = [value for _, value in pairs]
    bars = ax.barh(range(len(pairs)), values, color=color)
    ax.set_yticks(range(len(pairs)), labels)
    ax.invert_yaxis()
    ax.bar_label(bars, padding=2, fontsize="small")
    ax.margins(x=0.15)


def bar_chart(pairs: Sequence[tuple[str, int]], title: str, xlabel: str) -> Figure:
    """Horizontal bar chart of (label, count) pairs in the given order, e.g. posts per language."""
    fig = _figure(7, max(2.5, 0.35 * len(pairs) + 1.2))
    ax = fig.add_subplot()
    _horizontal_bars(ax, pairs, "tab:blue")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return fig


def top_words_figure(top_by_language: Mapping[str, Sequence[tuple[str, int]]], columns: int = 3) -> Figure:
    """One horizontal bar panel per language with its most used words (the paper's per-language histograms)."""
    if not top_by_language:
        raise ValueError("no languages to plot")
    columns = min(columns, len(top_by_language))
    rows = math.ceil(len(top_by_language) / columns)
    longest = max(len(pairs) for pairs in top_by_language.values())
    fig = _figure(4.5 * columns, rows * (0.28 * longest + 1.2))
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
    for position, (language, pairs) in enumerate(top_by_language.items()):
        ax = fig.add_subplot(rows, columns, position + 1)
        _horizontal_bars(ax, pairs, colors[position % len(colors)])
        ax.set_title(language)
        ax.set_xlabel("posts")
    return fig


def contact_sheet(images: Sequence[np.ndarray], captions: Sequence[str], columns: int = 4) -> Figure:
    """Grid of images (H x W x 3 uint8), each titled with its wrapped, shortened caption."""
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    if not images:
        raise ValueError("no images to plot")
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    fig = _figure(3 * columns, 3.6 * rows)
    for position, (image, caption) in enumerate(zip(images, captions, strict=True)):
        ax = fig.add_subplot(rows, columns, position + 1)
        ax.imshow(image)
        ax.set_axis_off()
        short = textwrap.shorten(" ".join(caption.split()), width=90, placeholder=" ...").replace("$", r"\$")
        ax.set_title("\n".join(textwrap.wrap(short, width=30)), fontsize="x-small")
    return fig


def _spread_out(xy: np.ndarray, limit: int, min_distance: float) -> list[int]:
    """Indices of up to `limit` points, in order, each at least `min_distance` from those already taken."""
    span = np.ptp(xy, axis=0)
    unit = (xy - xy.min(axis=0)) / np.where(span > 0, span, 1)
    taken: list[int] = []
    for index, point in enumerate(unit):
        if len(taken) == limit:
            break
        if not taken or np.min(np.sum((unit[taken] - point) ** 2, axis=1)) >= min_distance**2:
            taken.append(index)
    return taken


def tsne_thumbnail_map(
    xy: np.ndarray,
    thumbnails: Sequence[np.ndarray] | None = None,
    labels: Sequence[str] | None = None,
    max_thumbnails: int = 500,
    thumbnail_pixels: int = 28,
) -> Figure:
    """Scatter of a 2-d map (one colour per label when given) with image thumbnails drawn over spread-out points.

    At most `max_thumbnails` thumbnails are drawn, skipping points too close to one already shown so they overlap
    little; each is scaled to about `thumbnail_pixels` on its long side.
    """
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"expected (n, 2) coordinates, got shape {xy.shape}")
    for name, values in (("thumbnails", thumbnails), ("labels", labels)):
        if values is not None and len(values) != len(xy):
            raise ValueError(f"{len(xy)} points but {len(values)} {name}")
    fig = _figure(10, 10)
    ax = fig.add_subplot()
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=4, alpha=0.5)
    else:
        groups = np.asarray(labels, dtype=object)
        for label in sorted(set(labels)):
            chosen = groups == label
            ax.scatter(xy[chosen, 0], xy[chosen, 1], s=4, alpha=0.5, label=label)
        ax.legend(markerscale=3, loc="best")
    if thumbnails is not None:
        for index in _spread_out(xy, max_thumbnails, min_distance=0.6 / math.sqrt(max(max_thumbnails, 1))):
            thumbnail = thumbnails[index]
            zoom = thumbnail_pixels / max(thumbnail.shape[:2])
            box = AnnotationBbox(OffsetImage(thumbnail, zoom=zoom), tuple(xy[index]), frameon=False, pad=0)
            ax.add_artist(box)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (kept in memory, e.g. to inline in an HTML report)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # emoji the bundled font lacks are drawn as boxes; no need to warn per glyph
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(buffer, format="png", dpi=100)
    fig.clear()
    return buffer.getvalue()
