"""The language filter through the command line and the warehouse: the default stack, its per-post cache, a
model fitted by `postatlas train language` from the user's labels, and too-short posts as a decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main
from tests.helpers import counts_add_up, query

pytestmark = pytest.mark.integration
ROWS = 2500
BALANCED = """
WITH d AS (
    SELECT f.kept, l.label IN ('es', 'ca', 'en') AS should FROM filter_decisions f JOIN post_labels l USING (post_id)
    WHERE f.rule = 'language' AND l.task = 'lang' AND l.label IN ('es', 'ca', 'en', 'pt', 'gl', 'eu'))
SELECT (avg(kept::INT) FILTER (WHERE should) + avg((NOT kept)::INT) FILTER (WHERE NOT should)) / 2 FROM d
"""


@pytest.fixture
def tweetlid_home(home: Path, tmp_path: Path, shared_data: Path, prefect_server) -> Path:
    lines = (shared_data / "tweetlid" / "train_complete_clean.txt").read_text(encoding="utf-8").splitlines()
    sample = tmp_path / "tweetlid.tsv"
    sample.write_text("\n".join(lines[:ROWS]) + "\n", encoding="utf-8")
    assert main(["ingest", "table", str(sample), "--platform", "twitter", "--columns", "id,user,lang,text",
                 "--map", "id=id", "--map", "text=text", "--map", "author=user", "--label", "lang=lang"]) == 0
    return home


def test_default_stack_records_language_and_caches_stage_one(tweetlid_home: Path) -> None:
    home = tweetlid_home
    assert main(["curate", "--only", "language", "--languages", "es,ca,en"]) == 0
    rows = query(home, "SELECT count(*), count(lang), count(lang_confidence), any_value(lang_detector) "
                       "FROM filter_decisions WHERE rule = 'language'")
    assert rows == [(ROWS, ROWS, ROWS, "stack")]
    # in-sample (the shipped model was fitted on this file): this checks the wiring, bench_language the quality
    assert query(home, BALANCED)[0][0] > 0.95
    assert query(home, "SELECT count(*) FROM posts WHERE lang_detector = 'stack' AND len(lang_scores) = 7") == [
        (ROWS - query(home, "SELECT count(*) FROM filter_decisions WHERE lang = 'und'")[0][0],)]
    decisions = query(home, "SELECT post_id, kept, detail, lang, lang_confidence FROM filter_decisions ORDER BY 1")
    scores = query(home, "SELECT post_id, lang_scores FROM posts ORDER BY 1")
    assert main(["curate", "--only", "language", "--languages", "es,ca,en"]) == 0  # from the cache this time
    assert query(home, "SELECT post_id, kept, detail, lang, lang_confidence FROM filter_decisions ORDER BY 1") \
        == decisions
    assert query(home, "SELECT post_id, lang_scores FROM posts ORDER BY 1") == scores
    assert counts_add_up(home) == []


def test_a_model_fitted_on_the_users_labels(tweetlid_home: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    home = tweetlid_home
    model = tmp_path / "mine.npz"
    assert main(["train", "language", "--labels", "lang", "--out", str(model)]) == 0
    printed = capsys.readouterr().out
    assert model.is_file() and "the author's other posts (stage 2)" in printed and "Recall per language" in printed
    assert main(["curate", "--only", "language", "--language-model", str(model)]) == 0
    assert query(home, "SELECT DISTINCT lang_detector FROM filter_decisions") == [("stack:mine",)]
    assert query(home, BALANCED)[0][0] > 0.9
    assert main(["curate", "--only", "language", "--language-model", str(tmp_path / "nothing.npz")]) == 2
    assert "no language model at" in capsys.readouterr().err
    assert main(["train", "language", "--labels", "sentiment"]) == 2
    assert "label task 'sentiment' has 0 posts" in capsys.readouterr().err


def test_too_short_posts_are_dropped_or_kept_by_option(tweetlid_home: Path) -> None:
    home = tweetlid_home
    short = "SELECT count(*) FROM filter_decisions WHERE detail = 'too short to tell (< 12 letters)'"
    assert main(["curate", "--only", "language", "--too-short", "drop", "--min-letters", "12"]) == 0
    dropped = query(home, short)[0][0]
    assert dropped > 0
    assert main(["curate", "--only", "language", "--too-short", "keep", "--min-letters", "12"]) == 0
    assert query(home, short) == [(0,)]
    kept = query(home, "SELECT count(*) FROM filter_decisions WHERE kept")[0][0]
    assert main(["curate", "--only", "language"]) == 0
    assert query(home, "SELECT count(*) FROM filter_decisions WHERE kept")[0][0] < kept
