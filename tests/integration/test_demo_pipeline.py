"""`postatlas demo` end to end: the embedded dataset through every reader, the quarantine and every rule."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from flows.cli import main
from tasks.demo import generate_demo
from tests.helpers import DATA_TABLES, counts_add_up, query, snapshot
from tests.helpers import DEMO_POSTS as POSTS
from tests.helpers import DEMO_SEED as SEED

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def expected() -> dict:
    return generate_demo(POSTS, SEED).expected


def test_every_well_formed_post_lands_once_per_platform(demo_home: Path, expected: dict) -> None:
    per_platform = dict(query(demo_home, "SELECT platform, count(*) FROM posts GROUP BY 1"))
    assert per_platform == expected["written"]
    assert query(demo_home, "SELECT count(*) - count(DISTINCT post_id) FROM posts") == [(0,)]
    clean = {pid for ids in expected["post_ids"].values() for pid in ids}
    stored = {row[0] for row in query(demo_home, "SELECT post_id FROM posts")}
    assert clean <= stored


def test_malformed_records_are_quarantined_with_their_reason(demo_home: Path, expected: dict) -> None:
    wanted = Counter()
    for reasons in expected["quarantine_reasons"].values():
        wanted.update(reasons)
    found = Counter(dict(query(demo_home, "SELECT reason, count(*) FROM quarantine GROUP BY 1")))
    assert found == wanted
    assert query(demo_home, "SELECT count(*) FROM media WHERE status = 'corrupt'")[0][0] == wanted["corrupt_image"]


def test_labels_and_images_arrive(demo_home: Path, expected: dict) -> None:
    assert query(demo_home, "SELECT count(*) FROM post_labels WHERE task = 'topic'") == [(expected["labels"]["count"],)]
    stored = query(demo_home, "SELECT count(*) FROM media WHERE status = 'stored'")[0][0]
    assert stored > 0.9 * sum(expected["images"].values()) - 5


def test_curate_drops_the_planted_noise(demo_home: Path, expected: dict) -> None:
    spam = {pid for ids in expected["city_spam"].values() for pid in ids}
    dropped_as_spam = {r[0] for r in query(demo_home, "SELECT post_id FROM filter_decisions "
                                                      "WHERE rule = 'city_spam' AND NOT kept")}
    assert dropped_as_spam <= spam and len(dropped_as_spam) >= 0.8 * len(spam)  # some spam dies earlier
    heavy = {h["author_id"] for h in expected["heavy_posters"] if h["posts"] > 20}
    kept_authors = {r[0] for r in query(demo_home, "SELECT DISTINCT author_id FROM curated_posts")}
    assert heavy and not heavy & kept_authors
    # one decision per post and rule reached; a dropped post has exactly one `kept = false` row
    assert query(demo_home, "SELECT count(*) FROM (SELECT post_id FROM filter_decisions WHERE NOT kept "
                            "GROUP BY 1 HAVING count(*) > 1)") == [(0,)]
    assert query(demo_home, "SELECT count(*) FROM (SELECT post_id, rule FROM filter_decisions "
                            "GROUP BY 1, 2 HAVING count(*) > 1)") == [(0,)]
    curated, dropped, total = query(
        demo_home, "SELECT (SELECT count(*) FROM curated_set), (SELECT count(DISTINCT post_id) FROM "
                   "filter_decisions WHERE NOT kept), (SELECT count(*) FROM posts WHERE NOT deleted)")[0]
    assert curated + dropped == total
    assert counts_add_up(demo_home) == []


def test_running_the_demo_again_changes_no_data(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tables = tuple(t for t in DATA_TABLES if t != "filter_decisions")  # its run_id column names the new run
    before = snapshot(demo_home, tables)
    decisions = query(demo_home, "SELECT post_id, rule, kept, detail FROM filter_decisions ORDER BY ALL")
    monkeypatch.setenv("POSTATLAS_HOME", str(demo_home))
    assert main(["demo", "--posts", str(POSTS), "--seed", str(SEED)]) == 0
    after = snapshot(demo_home, tables)
    assert {t: rows for t, rows in after.items() if t != "curated_set"} == {
        t: rows for t, rows in before.items() if t != "curated_set"}
    assert [r[0] for r in after["curated_set"]] == [r[0] for r in before["curated_set"]]
    assert query(demo_home, "SELECT post_id, rule, kept, detail FROM filter_decisions ORDER BY ALL") == decisions


def test_curate_only_some_rules_and_bad_options(demo_home: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("POSTATLAS_HOME", str(demo_home))
    assert main(["curate", "--only", "min_words,empty", "--min-words", "5"]) == 0
    out = capsys.readouterr().out
    assert "min_words" in out and "city_spam" not in out
    rules = [r[0] for r in query(demo_home, "SELECT DISTINCT rule FROM filter_decisions ORDER BY 1")]
    assert rules == ["empty", "min_words"]
    short = query(demo_home, "SELECT count(*) FROM filter_decisions WHERE rule = 'min_words' AND NOT kept")[0][0]
    assert short > 0
    assert main(["curate", "--only", "nonsense"]) == 2
    assert "unknown rule" in capsys.readouterr().err
    assert main(["curate"]) == 0  # leave the module's warehouse as the demo made it


def test_flows_publish_their_counts_as_artifacts(demo_home: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["curate-summary", "ingest-summary"])))
    by_key: dict[str, list[str]] = {}
    for artifact in artifacts:
        by_key.setdefault(artifact.key, []).append(artifact.data)
    assert {"curate-summary", "ingest-summary"} <= set(by_key)
    # the demo's full curate run (other curate runs of this module ran only some rules)
    assert any("near_duplicate_image" in data and "kept" in data for data in by_key["curate-summary"])
    assert all("quarantined" in data for data in by_key["ingest-summary"])


def test_the_demo_trains_every_fusion_variant_and_predicts(demo_home: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    variants = {row[0] for row in query(demo_home, "SELECT variant FROM models WHERE task = 'topic'")}
    assert variants == {"image", "text", "late", "early", "joint", "common", "probe", "ensemble"}
    unlabelled = query(demo_home, "SELECT count(*) FROM curated_posts WHERE post_id NOT IN "
                                  "(SELECT post_id FROM post_labels WHERE task = 'topic')")[0][0]
    assert query(demo_home, "SELECT count(DISTINCT post_id), count(*) FROM predictions") == [(unlabelled, unlabelled)]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["train-fusion-summary", "predict-fusion-summary"])))
    assert {a.key for a in artifacts} == {"train-fusion-summary", "predict-fusion-summary"}
    assert any("acc. image only" in a.data and "common" in a.data for a in artifacts)


def test_the_demo_ends_with_the_cluster_report(demo_home: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    curated = query(demo_home, "SELECT count(*) FROM curated_posts")[0][0]
    assert query(demo_home, "SELECT count(*), count(DISTINCT post_id) FROM embeddings") == [(curated, curated)]
    runs = query(demo_home, "SELECT run, method, posts, n_clusters, label_task, ari, nmi, report_path "
                            "FROM cluster_runs")
    assert len(runs) == 1  # the second demo run replaced the same clustering run
    run, method, posts, clusters, task, ari, nmi, report = runs[0]
    assert (method, posts, clusters, task) == ("default", curated, 12, "topic")
    assert 0 < ari <= 1 and 0 < nmi <= 1  # the clusters follow the demo's topics, at least partly
    assert query(demo_home, "SELECT count(*) FROM cluster_assignments WHERE run = ?", [run]) == [(curated,)]
    html = (demo_home / report).read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") >= 3  # map, scatter and at least one contact sheet
    assert str(demo_home / report) in (demo_home / "demo-output.txt").read_text(encoding="utf-8")
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["cluster-report", "clusters"])))
    assert {a.key for a in artifacts} == {"cluster-report", "clusters"}
    assert any(run in str(a.data) and str(demo_home / report) in str(a.data) for a in artifacts)
