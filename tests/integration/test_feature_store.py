"""`postatlas featurize` on real MVSA posts: each (post, encoder) encoded once, counts that add up, unreadable
images recorded with their reason, and vectors read back in the order asked."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from flows.cli import main
from storage import features
from storage.home import Home
from tests.helpers import query

pytestmark = [pytest.mark.integration, pytest.mark.shared_data]
POSTS = ("1", "2", "3", "4", "5", "6", "8", "9")


@pytest.fixture
def mvsa_home(shared_data: Path, home: Path, tmp_path: Path, prefect_server) -> Path:
    folder = tmp_path / "mvsa"
    folder.mkdir()
    for post in POSTS:
        for suffix in (".txt", ".jpg"):
            shutil.copy(shared_data / "mvsa-single" / "data" / f"{post}{suffix}", folder)
    (folder / "9.txt").write_text("   ")  # a post without text: no text encoder has anything to encode
    assert main(["ingest", "mvsa", str(folder)]) == 0
    return home


def stored_rows(home: Path) -> list[tuple]:
    return query(home, "SELECT encoder, post_id, vector IS NULL, problem FROM post_features ORDER BY 1, 2")


def test_featurize_encodes_each_post_once_and_counts_add_up(mvsa_home: Path, capsys) -> None:
    broken = query(mvsa_home, "SELECT post_id, path FROM media WHERE post_id LIKE '%:3' AND status = 'stored'")
    [(broken_post, broken_path)] = broken
    (mvsa_home / broken_path).write_bytes(b"\xff\xd8 not a jpeg any more")  # damaged on disk after ingest

    assert main(["featurize"]) == 0
    out = capsys.readouterr().out
    rows = stored_rows(mvsa_home)
    by_encoder = {name: [r for r in rows if r[0] == name] for name in ("e5-small", "efficientnet-lite0")}
    assert len(by_encoder["e5-small"]) == len(POSTS) - 1  # the post without text is not encoded
    assert len(by_encoder["efficientnet-lite0"]) == len(POSTS)
    problems = [(r[1], r[2], r[3]) for r in by_encoder["efficientnet-lite0"] if r[3] is not None]
    assert problems == [(broken_post, True, "image could not be decoded")]
    assert "e5-small" in out and "efficientnet-lite0" in out and "without input" in out
    ledger = query(mvsa_home, "SELECT written, quarantined, counts->'efficientnet-lite0'->>'unreadable' FROM runs "
                              "WHERE flow = 'featurize'")
    assert ledger == [(2 * len(POSTS) - 2, 1, "1")]

    assert main(["featurize"]) == 0  # a rerun encodes nothing, and never retries the unreadable image
    assert stored_rows(mvsa_home) == rows
    assert query(mvsa_home, "SELECT count(*) - count(DISTINCT (post_id, encoder)) FROM post_features") == [(0,)]
    summary = capsys.readouterr().out
    line = next(line for line in summary.splitlines() if "efficientnet-lite0" in line)
    assert [cell.strip() for cell in line.split("│")[2:7]] == [str(len(POSTS)), str(len(POSTS)), "0", "0", "0"]


def test_vectors_come_back_in_the_order_asked(mvsa_home: Path) -> None:
    assert main(["featurize", "--encoder", "e5-small"]) == 0
    post_ids = [row[0] for row in query(mvsa_home, "SELECT post_id FROM posts ORDER BY post_id DESC")]
    asked = [*post_ids, "mvsa:unknown"]
    vectors, present = features.read_features(Home.at(mvsa_home), "e5-small", asked, 384)
    stored = dict(query(mvsa_home, "SELECT post_id, vector FROM post_features WHERE encoder = 'e5-small'"))
    for row, post_id in enumerate(asked):
        assert present[row] == (post_id in stored)
        if post_id in stored:
            np.testing.assert_allclose(vectors[row], stored[post_id], rtol=1e-6)
        else:
            assert not vectors[row].any()


def test_only_frozen_encoders_can_be_featurized(mvsa_home: Path, capsys) -> None:
    assert main(["featurize", "--encoder", "bag-max"]) == 2
    assert "featurize knows e5-small" in capsys.readouterr().err


def test_an_image_the_encoder_fails_on_is_recorded_and_the_run_goes_on(mvsa_home: Path) -> None:
    from PIL import Image

    [(thin_post, thin_path)] = query(mvsa_home, "SELECT post_id, path FROM media WHERE post_id LIKE '%:4' "
                                                "AND status = 'stored'")
    Image.new("RGB", (4, 3000), "white").save(mvsa_home / thin_path, format="JPEG")  # rapidocr cannot resize it
    assert main(["featurize", "--encoder", "ocr"]) == 0
    rows = query(mvsa_home, "SELECT post_id, vector IS NULL, problem FROM post_features WHERE encoder = 'ocr'")
    assert len(rows) == len(POSTS)
    failed = [(post, null, problem) for post, null, problem in rows if problem is not None]
    assert len(failed) == 1 and failed[0][:2] == (thin_post, True)
    assert failed[0][2].startswith("ocr failed on this image: ")
