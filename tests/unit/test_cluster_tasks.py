"""The pure decisions of the clustering glue: refit or assign, which label task, the rows written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from models.cluster_summary import count_clusters, covering_longitude_range, summarise_clusters
from tasks.learn.clustering import (
    HASHTAGS_KEPT,
    assignments_table,
    choose_label_task,
    clusters_table,
    refit_due,
    updated_clusters,
)
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


def _posts(rng: np.random.Generator, n: int, k: int) -> dict:
    """n random posts in k clusters: some without coordinates, time or language, longitudes across the antimeridian."""
    lat = rng.uniform(-60, 60, n)
    lon = (rng.normal(175, 8, n) + 180) % 360 - 180
    lat[rng.random(n) < 0.2] = np.nan
    lon[np.isnan(lat)] = np.nan
    times = np.datetime64("2026-01-01T00:00:00", "us") + rng.integers(0, 10**12, n).astype("timedelta64[us]")
    times[rng.random(n) < 0.1] = np.datetime64("NaT")
    return {"labels": rng.integers(0, k, n), "hashtags": [list(rng.choice(["a", "b", "c", "d"], rng.integers(0, 3)))
                                                          for _ in range(n)],
            "languages": list(rng.choice(["en", "es", "ca", None], n)), "lat": lat, "lon": lon, "created_at": times}


def _summary_rows(posts: dict, top_hashtags: int = 10) -> list[dict]:
    summaries = summarise_clusters(posts["labels"], np.zeros((len(posts["labels"]), 2)), ["x"] * len(posts["labels"]),
                                   posts["hashtags"], posts["languages"], posts["lat"], posts["lon"],
                                   posts["created_at"], top_hashtags=top_hashtags)
    return clusters_table(summaries, np.array([f"p{i}" for i in range(len(posts["labels"]))], dtype=object),
                          np.zeros(len(posts["labels"]), bool), posts["labels"]).to_pylist()


def test_assigning_updates_the_rows_from_the_new_posts_alone_as_a_summary_of_all_would() -> None:
    """Fit rows updated with a second batch's counts equal the rows of both batches summarised together."""
    rng = np.random.default_rng(3)
    fitted, new = _posts(rng, 400, 4), _posts(rng, 150, 4)
    both = {name: np.concatenate([np.asarray(fitted[name], dtype=object if name in ("hashtags", "languages")
                                             else None), np.asarray(new[name], dtype=object if name in
                                             ("hashtags", "languages") else None)]) for name in fitted}
    both["hashtags"], both["languages"] = list(both["hashtags"]), list(both["languages"])
    counts = count_clusters(new["labels"], new["hashtags"], new["languages"], new["lat"], new["lon"], new["created_at"])
    images = {0: 2, 3: 1}
    updated = updated_clusters(_summary_rows(fitted), counts, images).to_pylist()
    expected = _summary_rows(both)
    exact = ["cluster_id", "size", "top_hashtags", "hashtag_counts", "languages", "language_counts",
             "posts_with_coordinates", "min_lat", "max_lat", "first_post_at", "last_post_at"]
    for got, want, before in zip(updated, expected, _summary_rows(fitted), strict=True):
        assert {name: got[name] for name in exact} == {name: want[name] for name in exact}
        for name in ("centroid_lat", "centroid_lon", "coordinate_sum_x", "coordinate_sum_y", "coordinate_sum_z"):
            assert got[name] == pytest.approx(want[name], abs=1e-9)
        assert got["posts_with_image"] == images.get(got["cluster_id"], 0)
        assert (got["name"], got["top_terms"], got["representative_post_ids"]) == (
            before["name"], before["top_terms"], before["representative_post_ids"])
        located = both["lon"][(both["labels"] == got["cluster_id"]) & ~np.isnan(both["lon"])]
        assert got["min_lon"] > got["max_lon"]  # the posts straddle the antimeridian
        assert ((located >= got["min_lon"]) | (located <= got["max_lon"])).all()


def test_hashtags_below_the_kept_top_count_from_the_fit_on() -> None:
    """A kept row holds the top hashtags only: the new posts' counts add to those, and new ones enter by count."""
    fitted = {"labels": np.zeros(3, int), "hashtags": [["a", "a", "b"], ["a", "c"], []],
              "languages": ["en", "en", None], "lat": np.full(3, np.nan), "lon": np.full(3, np.nan),
              "created_at": np.full(3, np.datetime64("NaT"), "datetime64[us]")}
    new = {**fitted, "hashtags": [["c"], ["c", "d"], ["b"]], "languages": ["es", None, None]}
    counts = count_clusters(new["labels"], new["hashtags"], new["languages"], new["lat"], new["lon"],
                            new["created_at"])
    [row] = updated_clusters(_summary_rows(fitted, top_hashtags=2), counts, {}).to_pylist()
    # at the fit: a 3, b 1, c 1 -> kept a, b; c's fitted post is not counted (c has 3 in all), d is new
    assert list(zip(row["top_hashtags"], row["hashtag_counts"], strict=True)) == [("a", 3), ("b", 2), ("c", 2),
                                                                                   ("d", 1)]
    assert HASHTAGS_KEPT >= 4
    assert (row["size"], row["languages"], row["language_counts"], row["posts_with_coordinates"],
            row["centroid_lat"], row["first_post_at"]) == (6, ["en", "es"], [2, 1], 0, None, None)


def test_posts_placed_in_a_cluster_the_run_lacks_are_an_error() -> None:
    """Counts for a cluster id the run's rows lack are refused, not dropped."""
    posts = _posts(np.random.default_rng(1), 20, 2)
    counts = count_clusters(posts["labels"] + 5, posts["hashtags"], posts["languages"], posts["lat"], posts["lon"],
                            posts["created_at"])
    with pytest.raises(ValueError, match="clusters the run does not have"):
        updated_clusters(_summary_rows(posts), counts, {})


@pytest.mark.parametrize(("ranges", "covering"), [
    ([(-10.0, 10.0), (20.0, 20.0)], (-10.0, 20.0)),
    ([(170.0, 175.0), (-175.0, -170.0)], (170.0, -170.0)),  # across the antimeridian: 20 degrees, not 345
    ([(170.0, -170.0), (-160.0, -160.0)], (170.0, -160.0)),  # a crossing range widened east
    ([(100.0, 110.0), (-100.0, -90.0), (0.0, 0.0)], (-100.0, 110.0)),  # the widest gap left out, 110 to 260 (-100)
    ([(0.0, 0.0)], (0.0, 0.0)),
    ([(-180.0, 180.0), (5.0, 5.0)], (-180.0, 180.0)),
    ([(-170.0, 170.0), (175.0, 175.0)], (-170.0, 175.0)),  # a gap inside a range is never left out
])
def test_covering_longitude_range(ranges: list[tuple[float, float]], covering: tuple[float, float]) -> None:
    """The smallest range holding all the ranges."""
    assert covering_longitude_range(ranges) == covering
