"""Incremental curate (issue 16): after every nightly increment, deciding only what changed gives exactly the
decisions and curated set of `curate --full` over the whole warehouse.

The increments are real TweetLID tweets (real authors, several past the per-user limit) and real MVSA images,
ingested through the CLI in an order that is not their time order, with the cases that make a changed post move
other posts' decisions: an author crossing the per-user limit, a new post older than an author's kept ones (the
cap keeps the earliest), texts repeated across nights (the earliest copy is kept), the first copy of a text and
the kept first of a group of near-identical images deleted later by compliance events, an image arriving late for a
post ingested without one.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from flows.cli import main
from flows.curate import curate_flow
from tests.helpers import query

pytestmark = pytest.mark.integration
ROWS = 1400
NIGHTS = 4
TABLE = ["--platform", "twitter", "--map", "id=id", "--map", "text=text", "--map", "author=user",
         "--map", "created_at=created_at", "--map", "image=image"]
CONFIGS = {
    "default": {},  # the stack (author prior), per_user drop > 20, duplicates, near-duplicate images
    "cap": {"detector": "fast", "per_user_mode": "cap", "per_user_cap": 3},  # ranks: the earliest 3 per author
}


def _nights(shared_data: Path, folder: Path) -> list[list[dict]]:
    """TweetLID rows with times, repeated texts and shared images, cut into nights out of time order."""
    lines = (shared_data / "tweetlid" / "train_complete_clean.txt").read_text(encoding="utf-8").splitlines()
    rng = np.random.default_rng(7)
    rows = []
    for line in lines[:ROWS]:
        tweet_id, user, lang, text = line.split("\t", 3)
        at = datetime(2014, 3, 1, tzinfo=UTC) + timedelta(minutes=int(rng.integers(0, 90 * 24 * 60)))
        rows.append({"id": tweet_id, "user": user, "text": text, "created_at": at.isoformat(), "image": "",
                     "lang": lang})
    for copy, source in rng.choice(len(rows), size=(60, 2), replace=False):  # the same text on other posts
        rows[copy]["text"] = rows[source]["text"]
    images = sorted((shared_data / "mvsa-single" / "data").glob("*.jpg"))[:25]
    # 4 posts per image (near-identical), on posts most rules keep: a kept language, words, an author of their own
    likely_kept = [i for i, row in enumerate(rows) if row["lang"] in ("es", "ca", "en") and len(row["text"].split()) > 5]
    for row_index, image in zip(rng.choice(likely_kept, size=100, replace=False), np.repeat(images, 4), strict=True):
        shutil.copy(image, folder / image.name)
        rows[row_index].update(image=image.name, user=f"photographer{row_index}")
    order = rng.permutation(len(rows))
    nights = [[rows[i] for i in part] for part in np.array_split(order, NIGHTS)]
    return nights


def _write_table(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "user", "text", "created_at", "image"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _content(home: Path) -> dict[str, list[tuple]]:
    return {
        "decisions": query(home, "SELECT post_id, rule, kept, detail, lang FROM filter_decisions ORDER BY ALL"),
        "curated": query(home, "SELECT post_id FROM curated_set ORDER BY 1"),
    }


def _comparable(content: dict[str, list[tuple]], fast: bool) -> dict[str, list[tuple]]:
    """fastText's language detail says "<=" where a cached answer decided (every post, in the full run)."""
    if not fast:
        return content
    decisions = [(*row[:3], None if row[1] == "language" else row[3], row[4]) for row in content["decisions"]]
    return {**content, "decisions": sorted(decisions, key=repr)}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_nightly_increments_decide_as_a_full_run(
        config: str, home: Path, tmp_path: Path, shared_data: Path, prefect_server) -> None:
    options = CONFIGS[config]
    folder = tmp_path / "input"
    folder.mkdir()
    nights = _nights(shared_data, folder)
    late_image = next(row for row in nights[0] if row["image"])
    first_night = [{**row, "image": ""} if row is late_image else row for row in nights[0]]
    reports = []
    for night, rows in enumerate([first_night, *nights[1:]]):
        if night == 1:  # the image of a post ingested on night 0 arrives with tonight's batch
            rows = [*rows, late_image]
        assert main(["ingest", "table", str(_write_table(folder / f"night-{night}.csv", rows)), *TABLE]) == 0
        if night == 2:  # compliance: a kept first copy of a text and a kept first of near-identical images go
            dropped_by = [
                query(home, "SELECT regexp_extract(detail, '(twitter:[0-9]+)$') FROM filter_decisions "
                            "WHERE rule = ? AND NOT kept ORDER BY post_id LIMIT 1", [rule])[0][0]
                for rule in ("duplicate", "near_duplicate_image")
            ]
            events = tmp_path / "compliance.jsonl"
            events.write_text("".join(json.dumps({"id": post_id.removeprefix("twitter:"), "action": "delete",
                                                  "reason": "deleted", "created_at": "2014-06-01T00:00:00.000Z"}) + "\n"
                                      for post_id in dropped_by))
            assert main(["ingest", "twitter-v2", str(events)]) == 0
            assert query(home, "SELECT count(*) FROM posts WHERE deleted") == [(2,)]
        result = curate_flow(options=options, home=str(home))
        reports.append(result)
        reference_home = tmp_path / f"full-{night}"
        reference_home.mkdir()
        shutil.copy(home / "warehouse.duckdb", reference_home / "warehouse.duckdb")
        reference = curate_flow(options=options, home=str(reference_home), full=True)
        assert reference.full_reason == "--full"
        assert _comparable(_content(home), bool(options)) == _comparable(_content(reference_home), bool(options))
        assert result.curated == reference.kept
        curated = query(home, "SELECT post_id FROM curated_set")
        assert len(set(curated)) == len(curated)  # replaced, never added twice (the table has no key to refuse it)
        assert result.read == result.kept + result.filtered

    assert reports[0].full_reason == "first run"
    assert all(report.full_reason is None for report in reports[1:])
    night_posts = [len(rows) for rows in nights]
    # a night decides its own posts and the posts they reopen, not the warehouse
    assert all(report.read < sum(night_posts[: night + 1]) for night, report in enumerate(reports[1:], 1))
    assert reports[2].removed == 2
    assert any(report.reopened > 0 for report in reports[1:])


def test_an_unchanged_warehouse_decides_nothing_and_other_options_decide_everything(
        home: Path, tmp_path: Path, shared_data: Path, prefect_server) -> None:
    folder = tmp_path / "input"
    folder.mkdir()
    nights = _nights(shared_data, folder)
    assert main(["ingest", "table", str(_write_table(folder / "all.csv", nights[0])), *TABLE]) == 0
    first = curate_flow(options={"detector": "fast"}, home=str(home))
    before = _content(home)
    again = curate_flow(options={"detector": "fast"}, home=str(home))
    assert (again.read, again.full_reason, again.curated) == (0, None, first.kept)
    assert _content(home) == before
    other = curate_flow(options={"detector": "fast", "min_words": 5}, home=str(home))
    assert other.full_reason == "the options differ from the last run's" and other.read == len(nights[0])
    assert query(home, "SELECT count(*) FROM curate_changes") == [(0,)]
