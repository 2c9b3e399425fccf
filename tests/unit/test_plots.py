"""Report figures: the right panels, bars and images, saved as PNGs of the expected size."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnnotationBbox
from PIL import Image

from storage.figures import DPI, save_figure
from tasks.plots import bar_chart, contact_sheet, figure_png, top_words_figure, tsne_thumbnail_map


def saved_png_size(fig: Figure, path: Path) -> tuple[int, int]:
    width, height = fig.get_size_inches()
    assert save_figure(fig, path) == path
    assert path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (int(width * DPI), int(height * DPI))  # matplotlib truncates
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind
    return image.size


def test_bar_chart_has_one_bar_per_pair_in_order(tmp_path: Path) -> None:
    fig = bar_chart([("es", 120), ("en", 80), ("ca", 15)], "Posts per language", "posts")
    (ax,) = fig.axes
    assert [bar.get_width() for bar in ax.patches] == [120, 80, 15]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["es", "en", "ca"]
    assert ax.yaxis_inverted()  # first pair on top
    assert ax.get_title() == "Posts per language" and ax.get_xlabel() == "posts"
    saved_png_size(fig, tmp_path / "nested" / "languages.png")


def test_top_words_figure_has_a_panel_per_language(tmp_path: Path) -> None:
    top = {"es": [("tapas", 9), ("vino", 4)], "en": [("beer", 7), ("food", 5), ("sun", 1)], "ca": [("platja", 3)]}
    fig = top_words_figure(top, columns=2)
    assert [ax.get_title() for ax in fig.axes] == ["es", "en", "ca"]
    assert [len(ax.patches) for ax in fig.axes] == [2, 3, 1]
    assert [bar.get_width() for bar in fig.axes[1].patches] == [7, 5, 1]
    saved_png_size(fig, tmp_path / "top_words.png")
    with pytest.raises(ValueError):
        top_words_figure({})


def test_contact_sheet_shows_every_image_with_its_caption(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(40 + i, 30, 3), dtype=np.uint8) for i in range(5)]
    captions = [f"caption {i} " + "long words " * 20 for i in range(5)]
    fig = contact_sheet(images, captions, columns=3)
    assert len(fig.axes) == 5
    for ax, image in zip(fig.axes, images, strict=False):
        (shown,) = ax.images
        np.testing.assert_array_equal(shown.get_array(), image)
        assert ax.get_title().startswith("caption")
    saved_png_size(fig, tmp_path / "sheet.png")
    with pytest.raises(ValueError):
        contact_sheet(images, captions[:-1])


def test_tsne_map_draws_spread_out_thumbnails_up_to_the_limit(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    xy = rng.normal(size=(300, 2))
    thumbnails = [rng.integers(0, 256, size=(64, 48, 3), dtype=np.uint8) for _ in range(300)]
    labels = ["en", "es", "ca"] * 100

    plain = tsne_thumbnail_map(xy)
    (ax,) = plain.axes
    assert len(ax.collections) == 1 and not ax.artists

    fig = tsne_thumbnail_map(xy, thumbnails, labels=labels, max_thumbnails=40)
    (ax,) = fig.axes
    assert len(ax.collections) == 3 and sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["ca", "en", "es"]
    boxes = [artist for artist in ax.artists if isinstance(artist, AnnotationBbox)]
    assert len(boxes) == 40
    anchors = np.array([box.xy for box in boxes])
    assert len(np.unique(anchors, axis=0)) == 40
    saved_png_size(fig, tmp_path / "tsne.png")

    clustered = np.repeat([[0.0, 0.0], [5.0, 5.0], [0.0, 5.0]], 50, axis=0)  # 3 spots, 50 points each
    crowded = tsne_thumbnail_map(clustered, thumbnails[:150], max_thumbnails=500)
    assert len(crowded.axes[0].artists) == 3  # one thumbnail per spot, no pile-ups
    with pytest.raises(ValueError):
        tsne_thumbnail_map(xy, thumbnails[:5])


def test_captions_with_dollar_signs_are_text_not_mathtext() -> None:
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    figure = contact_sheet([image], ["REFUND that $$, please && $5 $x^2$ 📸"])
    png = figure_png(figure)  # mathtext would fail to parse "$$, please && $"
    assert Image.open(io.BytesIO(png)).size[0] > 0


