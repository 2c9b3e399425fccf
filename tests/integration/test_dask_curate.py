"""Curate with its partition tasks on a local Dask cluster of 2 workers ends with the same warehouse content as
the default task runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.cli import main
from flows.curate import curate_flow, on_dask
from tests.helpers import query

pytestmark = pytest.mark.integration
ROWS = 1500


def _content(home: Path) -> dict[str, list[tuple]]:
    return {
        "decisions": query(home, "SELECT post_id, rule, kept, detail FROM filter_decisions ORDER BY ALL"),
        "curated": query(home, "SELECT post_id FROM curated_set ORDER BY 1"),
        "languages": query(home, "SELECT post_id, lang, lang_confidence, lang_detector FROM posts ORDER BY 1"),
    }


def test_curate_on_two_dask_workers_matches_the_default_runner(
        home: Path, tmp_path: Path, shared_data: Path, prefect_server, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (shared_data / "tweetlid" / "train_complete_clean.txt").read_text(encoding="utf-8").splitlines()
    sample = tmp_path / "tweetlid.tsv"
    sample.write_text("\n".join(lines[:ROWS]) + "\n", encoding="utf-8")
    assert main(["ingest", "table", str(sample), "--platform", "twitter", "--columns", "id,user,lang,text",
                 "--map", "id=id", "--map", "text=text", "--map", "author=user"]) == 0
    other, unpartitioned = tmp_path / "other-home", tmp_path / "unpartitioned-home"
    shutil.copytree(home, other)
    shutil.copytree(home, unpartitioned)
    options = {"detector": "langdetect"}  # nothing cached for it yet: every post is detected in partitions

    default = curate_flow(options=options, home=str(home), partitions=2)
    on_cluster = on_dask("local:2")(options=options, home=str(other), partitions=2)

    assert default.kept == on_cluster.kept and 0 < default.kept < ROWS
    assert _content(home) == _content(other)
    reference = curate_flow(options=options, home=str(unpartitioned))  # no partition tasks at all
    assert reference.kept == default.kept
    # same decisions; only the wording differs where the cached language decided ("p(allowed)<=" vs "=")
    assert [row[:3] for row in _content(unpartitioned)["decisions"]] == [row[:3] for row in _content(home)["decisions"]]
    assert query(other, "SELECT count(*) FROM posts WHERE lang_detector = 'langdetect'") == [(ROWS,)]
    staged = sorted(p.name for p in (other / "staging").rglob("*.parquet"))
    assert staged == ["langdetect-000-of-002-answers.parquet", "langdetect-000-of-002-languages.parquet",
                      "langdetect-001-of-002-answers.parquet", "langdetect-001-of-002-languages.parquet"]


def test_the_stack_in_partitions_decides_as_without(
        home: Path, tmp_path: Path, shared_data: Path, prefect_server) -> None:
    lines = (shared_data / "tweetlid" / "train_complete_clean.txt").read_text(encoding="utf-8").splitlines()
    sample = tmp_path / "tweetlid.tsv"
    sample.write_text("\n".join(lines[:ROWS]) + "\n", encoding="utf-8")
    assert main(["ingest", "table", str(sample), "--platform", "twitter", "--columns", "id,user,lang,text",
                 "--map", "id=id", "--map", "text=text", "--map", "author=user"]) == 0
    unpartitioned = tmp_path / "unpartitioned-home"
    shutil.copytree(home, unpartitioned)
    partitioned = curate_flow(options={}, home=str(home), partitions=2)  # the default detector: the stack
    reference = curate_flow(options={}, home=str(unpartitioned))
    assert partitioned.kept == reference.kept and 0 < reference.kept < ROWS
    decisions = "SELECT post_id, rule, kept, detail, lang, lang_confidence, lang_detector FROM filter_decisions ORDER BY ALL"
    assert query(home, decisions) == query(unpartitioned, decisions)
    # the partitions detected every post; without them only the posts the language rule reached were
    reached = "SELECT p.post_id, p.lang_scores FROM posts p JOIN filter_decisions f ON f.post_id = p.post_id AND " \
              "f.rule = 'language' ORDER BY 1"
    assert query(home, reached) == query(unpartitioned, reached)
    assert query(home, "SELECT count(*) FROM posts WHERE lang_detector = 'stack'") == [(ROWS,)]
