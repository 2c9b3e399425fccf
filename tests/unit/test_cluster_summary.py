"""models/cluster_summary: c-TF-IDF terms, counts, spherical geography, time range and representatives."""

from __future__ import annotations

import numpy as np
import pytest

from models.cluster_summary import class_tfidf, summarise_clusters

NAT = np.datetime64("NaT", "us")


def summarise(labels, X=None, texts=None, hashtags=None, languages=None, lat=None, lon=None, created_at=None, **kw):
    """summarise_clusters with empty defaults for the columns a test does not care about."""
    n = len(labels)
    return summarise_clusters(
        np.asarray(labels), np.zeros((n, 2), np.float32) if X is None else X, texts or [None] * n,
        hashtags or [None] * n, languages or [None] * n, np.full(n, np.nan) if lat is None else np.asarray(lat),
        np.full(n, np.nan) if lon is None else np.asarray(lon),
        np.full(n, NAT) if created_at is None else np.asarray(created_at, dtype="datetime64[us]"), **kw,
    )


def test_class_tfidf_picks_each_clusters_distinctive_word_not_the_shared_one():
    texts = ["sunset beach paella"] * 5 + ["sunset mountain hiking"] * 5 + ["sunset museum gaudi sunset"] * 5
    terms = class_tfidf(np.repeat([0, 1, 2], 5), 3, texts, top=3)
    assert [cluster[0][0] for cluster in terms] == ["beach", "hiking", "gaudi"]
    assert all("sunset" not in dict(cluster[:2]) for cluster in terms)
    scores = dict(terms[0])
    assert scores["beach"] == pytest.approx(scores["paella"])
    assert scores["beach"] > scores["sunset"]


def test_terms_come_from_a_deterministic_sample_of_at_most_max_docs_per_cluster():
    labels = np.repeat([0, 1], [30, 4])
    texts = ["the tapas tapas"] * 30 + ["surf", None, "", "surf waves"]
    first = summarise(labels, texts=texts, max_docs_per_cluster=10)
    again = summarise(labels, texts=texts, max_docs_per_cluster=10)
    assert first == again
    assert [s.texts_for_terms for s in first] == [10, 2]
    assert [s.posts_with_text for s in first] == [30, 2]
    assert first[0].top_terms[0][0] == "tapas", "stop words ('the') are left out"
    assert [term for term, _ in first[1].top_terms] == ["surf", "waves"]


def test_hashtags_languages_and_sizes():
    labels = [5, 5, 5, 9, 9]
    hashtags = [["bcn", "food"], ["food"], None, [], ["beach"]]
    languages = ["es", "ca", "es", None, "en"]
    first, second = summarise(labels, hashtags=hashtags, languages=languages)
    assert (first.cluster_id, first.size, second.cluster_id, second.size) == (5, 3, 9, 2)
    assert first.top_hashtags == [("food", 2), ("bcn", 1)]
    assert first.languages == [("es", 2), ("ca", 1)]
    assert second.languages == [("en", 1)]
    assert (first.posts_with_hashtags, second.posts_with_hashtags) == (2, 1)


def test_spherical_centroid_and_bounding_box_across_the_antimeridian():
    labels = [0, 0, 1, 1, 1, 2]
    lat = [-17.0, -19.0, 41.3, 41.5, np.nan, np.nan]
    lon = [179.0, -179.0, 2.0, 2.2, 2.1, np.nan]
    fiji, barcelona, nowhere = summarise(labels, lat=lat, lon=lon)
    assert fiji.geo_centroid[0] == pytest.approx(-18.0, abs=0.01)
    assert abs(fiji.geo_centroid[1]) == pytest.approx(180.0, abs=0.01), "not 0, the naive mean of 179 and -179"
    assert fiji.bbox == (-19.0, 179.0, -17.0, -179.0), "min_lon > max_lon: the box crosses the antimeridian"
    assert barcelona.bbox == (41.3, 2.0, 41.5, 2.2)
    assert barcelona.geo_centroid == pytest.approx((41.4, 2.1), abs=0.01)
    assert barcelona.posts_with_coordinates == 2
    assert (nowhere.geo_centroid, nowhere.bbox, nowhere.posts_with_coordinates) == (None, None, 0)


def test_first_and_last_post_times_skip_unknown_ones():
    labels = [0, 0, 0, 1]
    created = np.array(["2024-03-02T10:00", NAT, "2024-01-05T08:30", NAT], dtype="datetime64[us]")
    known, unknown = summarise(labels, created_at=created)
    assert known.first_post_at == np.datetime64("2024-01-05T08:30", "us")
    assert known.last_post_at == np.datetime64("2024-03-02T10:00", "us")
    assert unknown.first_post_at is None and unknown.last_post_at is None


def test_representatives_are_the_rows_nearest_the_centroid():
    X = np.array([[0.0, 0], [10, 0], [-10, 0], [1, 0], [0, 100], [50, 50], [50, 51], [50, 49]], dtype=np.float32)
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    first, second = summarise(labels, X=X, representatives=3)
    # Cluster 0's centroid is (0.25, 0): rows 0 and 3 are nearest, then rows 1 and 2 (distances 9.75 and 10.25).
    assert first.representatives == [0, 3, 1]
    # Cluster 1's centroid is (37.5, 62.5): squared distances 288.5 (row 6), 312.5 (row 5), 338.5 (row 7), 2812.5.
    assert second.representatives == [6, 5, 7]


def test_inputs_must_align():
    with pytest.raises(ValueError, match="different lengths"):
        summarise_clusters(np.zeros(3, int), np.zeros((3, 2)), [None] * 3, [None] * 3, [None] * 2,
                           np.zeros(3), np.zeros(3), np.full(3, NAT))
