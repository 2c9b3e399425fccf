"""Paper 001's commands end to end on a small demo warehouse: train, words, languages, top words, retrieval, map."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from flows.cli import main
from flows.cli import words as word_commands
from tests.browser import browser, open_report
from tests.helpers import DATA_TABLES, query, snapshot

pytestmark = pytest.mark.integration
POSTS, SEED = 400, 11
SMALL_SPACE = ["--dimensions", "50", "--epochs", "50", "--min-count", "2"]
FOOD = {"paella", "tapas", "foodie", "yummy", "instafood", "gastronomia", "bcnfood", "brunch", "xurros", "xocolata",
        "croquetas", "churros", "bravas", "🍷", "😋", "🥘", "🍤"}
FOOTBALL = {"football", "futbol", "fcb", "barca", "barça", "matchday", "laliga", "forcabarca", "soccer", "goal"}


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory, prefect_server) -> Path:
    home = tmp_path_factory.mktemp("wordspace")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POSTATLAS_HOME", str(home))
        assert main(["demo", "--posts", str(POSTS), "--seed", str(SEED)]) == 0
    return home


@pytest.fixture
def cli(demo_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Run the CLI on the module's warehouse; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("POSTATLAS_HOME", str(demo_home))

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def models_of(home: Path, kind: str) -> list[tuple]:
    return query(home, "SELECT model_id, config, metrics FROM models WHERE kind = ? ORDER BY created_at", [kind])


def png_from(output: str, label: str) -> Path:
    path = Path(re.search(rf"^{label}: (\S+\.png)$", output, re.MULTILINE).group(1))
    with Image.open(path) as image:
        image.verify()
    return path


def test_words_trains_a_default_word_space_first_when_there_is_none(cli, demo_home: Path) -> None:
    assert models_of(demo_home, "word_space") == []
    code, out, err = cli("words", "barcelona", "--top", "5")
    assert code == 0, err
    assert "no word-space model yet" in err
    (model_id, config, metrics), = models_of(demo_home, "word_space")
    assert json.loads(config)["dimensions"] == 300 and json.loads(metrics)["vocabulary"] > 20
    assert model_id in out and (demo_home / "models" / model_id / "vectors.kv").exists()
    assert png_from(out, "chart").parent == demo_home / "reports" / "word-space"


def test_training_again_adds_a_model_row_and_changes_no_data(cli, demo_home: Path) -> None:
    tables = (*DATA_TABLES, "model_evaluations", "predictions")
    before, models_before = snapshot(demo_home, tables), len(models_of(demo_home, "word_space"))
    for _ in range(2):
        code, out, err = cli("train", "word-space", *SMALL_SPACE)
        assert code == 0, err
        assert "Word space trained" in out
    rows = models_of(demo_home, "word_space")
    assert len(rows) == models_before + 2 and len({row[0] for row in rows}) == len(rows)
    assert snapshot(demo_home, tables) == before
    assert query(demo_home, "SELECT count(*) - count(DISTINCT model_id) FROM models") == [(0,)]
    runs = query(demo_home, "SELECT status, written FROM runs WHERE flow = 'train-word-space'")
    assert runs == [("completed", 1)] * 3


def test_words_that_cooccur_in_the_captions_are_neighbours(cli) -> None:
    code, out, err = cli("words", "paella", "--top", "10")
    assert code == 0, err
    table = out.split("chart:")[0]
    assert len([word for word in FOOD if re.search(rf"\s{re.escape(word)}\s", table)]) >= 4
    assert not [word for word in FOOTBALL if re.search(rf"\s{re.escape(word)}\s", table)]
    png_from(out, "chart")


def test_unknown_words_exit_2_with_suggestions(cli) -> None:
    code, _, err = cli("words", "paella", "zzzqqq")
    assert code == 2
    assert "not in the word space vocabulary: 'zzzqqq'" in err and "Traceback" not in err


def test_languages_and_top_words(cli, demo_home: Path) -> None:
    code, out, err = cli("languages")
    assert code == 0, err
    counts = dict(query(demo_home, "SELECT lang, count(*) FROM curated_posts GROUP BY 1"))
    assert re.search(rf"\sen\s+\S*\s*{counts['en']}\s", out)
    png_from(out, "chart")
    code, out, err = cli("top-words", "--top", "5")
    assert code == 0, err
    assert all(language in out for language in ("en", "es", "ca"))
    png_from(out, "chart")
    code, out, err = cli("top-words", "--language", "es", "--top", "5")
    assert code == 0 and png_from(out, "chart").name == "top-words-es.png"
    code, _, err = cli("top-words", "--language", "xx")
    assert code == 2 and "no post in language 'xx'" in err


def test_retrieve_trains_a_regression_cnn_first_and_returns_posts_with_images(
    cli, demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(word_commands, "AUTO_REGRESSION_SETTINGS",
                        {"image_size": 16, "train": {"epochs": 1, "threads": 1, "device": "cpu"}})
    code, out, err = cli("retrieve", "paella", "bcn", "--top", "6")
    assert code == 0, err
    assert "no image-regression model yet" in err
    (model_id, config, metrics), = models_of(demo_home, "image_regression")
    newest_space = models_of(demo_home, "word_space")[-1][0]
    assert json.loads(config)["word_space_model_id"] == newest_space and json.loads(config)["loss"].startswith("1 -")
    assert {"test_mean_cosine", "test_recall_at_10", "test_median_rank"} <= set(json.loads(metrics))
    images = re.findall(rf"({re.escape(str(demo_home / 'media'))}/\S+)\s", out)
    assert len(images) == 6 and all(Path(image).is_file() for image in images)
    with_images = {row[0] for row in query(demo_home, "SELECT post_id FROM media WHERE status = 'stored'")}
    assert set(re.findall(r"\b((?:twitter|reddit|instagram):\S+)\s", out)) <= with_images
    png_from(out, "contact sheet")
    assert list((demo_home / "models" / model_id).glob("image-vectors-*.npy"))
    page = Path(re.search(r"^interactive page: (\S+\.html)$", out, re.MULTILINE).group(1))
    with browser() as chromium:
        opened = open_report(chromium, page)
        tiles = opened.page.locator("figure[data-post]")
        assert tiles.count() == 6
        assert all(image > 0 for image in tiles.locator("img").evaluate_all("all => all.map(i => i.naturalWidth)"))
        tiles.nth(1).click()
        assert "rank: 2" in opened.page.locator("#post-panel .meta").inner_text()
        assert opened.errors == [] and opened.blocked == []


def test_train_image_regression_then_map(cli, demo_home: Path) -> None:
    code, out, err = cli("train", "image-regression", "--epochs", "2", "--image-size", "16", "--device", "cpu",
                         "--threads", "1")
    assert code == 0, err
    assert "test recall@10" in out
    rows = models_of(demo_home, "image_regression")
    assert len(rows) == 2 and json.loads(rows[-1][2])["epochs"] == 2
    code, out, err = cli("image-map", "--sample", "60")
    assert code == 0, err
    assert rows[-1][0] in out
    png_from(out, "map")
    points = int(re.search(r"t-SNE map of (\d+) projected images", out).group(1))
    with browser() as chromium:
        opened = open_report(chromium, Path(re.search(r"^interactive map: (\S+\.html)$", out, re.MULTILINE).group(1)))
        page = opened.page
        assert page.locator("#image-map .scatterlayer .point").count() == points
        box = page.locator("#image-map .scatterlayer .point").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_function("() => document.getElementById('post-panel').dataset.row !== undefined")
        assert page.locator("#post-panel img").evaluate("image => image.naturalWidth") > 0
        assert opened.errors == [] and opened.blocked == []


def test_train_image_regression_on_frozen_features_records_its_encoder(cli, demo_home: Path) -> None:
    """The head on EfficientNet-Lite0's stored features trains end to end: the posts without features are encoded
    into the feature store first, the model is registered with its image encoder and both retrieval directions,
    and the analyses project images through the features."""
    code, out, err = cli("train", "image-regression", "--image-encoder", "efficientnet-lite0", "--hidden", "0",
                         "--epochs", "2", "--device", "cpu", "--threads", "1")
    assert code == 0, err
    assert "efficientnet-lite0 (frozen features" in out and "image->caption" in out
    model_id, config, metrics = models_of(demo_home, "image_regression")[-1]
    config, metrics = json.loads(config), json.loads(metrics)
    assert config["image_encoder"] == "efficientnet-lite0" and config["hidden"] == 0
    assert config["image_input"] == "stored frozen features"
    assert {"test_image_to_caption_recall_at_1", "test_image_to_caption_recall_at_10",
            "test_image_to_caption_median_rank", "test_recall_at_10"} <= set(metrics)
    featurized = query(demo_home, "SELECT count(vector) FROM post_features WHERE encoder = 'efficientnet-lite0'")
    stored = query(demo_home, "SELECT count(DISTINCT post_id) FROM media WHERE status = 'stored'")
    assert 0 < featurized[0][0] <= stored[0][0]
    code, out, err = cli("retrieve", "paella", "--top", "3", "--model", model_id)
    assert code == 0, err
    assert model_id in out
    code, _, err = cli("train", "image-regression", "--image-encoder", "efficientnet-lite0", "--grey")
    assert code == 2 and "scratch-cnn" in err
