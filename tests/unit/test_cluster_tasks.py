"""The pure decisions of the clustering glue: refit or assign, which label task, the rows written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from models.cluster_summary import summarise_clusters
from tasks.learn.clustering import assignments_table, choose_label_task, clusters_table, refit_due
from tasks.learn.errors import LearningInputError

NOW = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)


def _run(days_old: float, posts: int = 1000, assigned: int = 0) -> dict:
    return {"run": "cluster-default-x", "created_at": NOW - timedelta(days=days_old), "posts": posts,
            "assigned_since_fit": assigned}


def test_refit_when_old_or_when_many_posts_are_new_else_assign() -> None:
    """Refit when old or when many posts are new else assign."""
    assert refit_due(_run(8), 10, refit_days=7, refit_fraction=0.2, now=NOW)[0]
    assert not refit_due(_run(1), 10, refit_days=7, refit_fraction=0.2, now=NOW)[0]
    due, reason = refit_due(_run(1, posts=1000, assigned=100), 300, refit_days=7, refit_fraction=0.2, now=NOW)
    assert due and "300 new posts" in reason and "1100" in reason
    assert not refit_due(_run(1, posts=1000, assigned=100), 200, refit_days=7, refit_fraction=0.2, now=NOW)[0]


def test_label_task_is_the_largest_real_one_unless_asked() -> None:
    """Label task is the largest real one unless asked."""
    sizes = [("split", 900, 3), ("lang", 800, 5), ("sentiment", 700, 3), ("stance", 50, 2), ("constant", 990, 1)]
    assert choose_label_task(sizes, None) == "sentiment"
    assert choose_label_task(sizes, "stance") == "stance"
    assert choose_label_task(sizes, "none") is None
    assert choose_label_task([("split", 9, 3)], None) is None
    with pytest.raises(LearningInputError, match="emotion"):
        choose_label_task(sizes, "emotion")


def test_rows_written_match_the_summaries() -> None:
    """Rows written match the summaries."""
    labels = np.array([0, 0, 1, 1, 1])
    vectors = np.arange(10, dtype=np.float32).reshape(5, 2)
    lat = np.array([41.4, 41.39, np.nan, 40.4, 40.41])
    lon = np.array([2.17, 2.18, np.nan, -3.7, -3.71])
    stamps = np.array(["2026-05-01T10:00", "NaT", "2026-05-03T10:00", "2026-05-02T09:00", "2026-05-04T12:00"],
                      dtype="datetime64[us]")
    summaries = summarise_clusters(labels, vectors, ["tapas bar", "tapas beach", None, "museo prado", "museo"],
                                   [["bcn"], None, [], ["madrid"], ["madrid"]], ["es", "ca", None, "es", "es"],
                                   lat, lon, stamps)
    post_ids = np.array(["p0", "p1", "p2", "p3", "p4"], dtype=object)
    table = clusters_table(summaries, post_ids, np.array([True, False, False, True, True]), labels)
    rows = {row["cluster_id"]: row for row in table.to_pylist()}
    assert rows[1]["size"] == 3 and rows[1]["posts_with_coordinates"] == 2 and rows[1]["posts_with_image"] == 2
    assert rows[1]["top_terms"][0] == "museo" and rows[1]["top_hashtags"] == ["madrid"]
    assert rows[0]["name"].startswith("tapas") and rows[0]["languages"] == ["ca", "es"]
    assert set(rows[1]["representative_post_ids"]) <= {"p2", "p3", "p4"}
    assert rows[1]["first_post_at"] == datetime(2026, 5, 2, 9, tzinfo=UTC)
    assert rows[1]["last_post_at"] == datetime(2026, 5, 4, 12, tzinfo=UTC)
    assert 40.39 < rows[1]["centroid_lat"] < 40.42 and rows[1]["min_lon"] <= rows[1]["max_lon"]
    assigned = assignments_table(["p0", "p1"], np.array([0, 1]), np.zeros((2, 2)), "assign").to_pylist()
    assert [(r["post_id"], r["cluster_id"], r["assigned_by"]) for r in assigned] == [("p0", 0, "assign"),
                                                                                       ("p1", 1, "assign")]
