"""What each cluster is about: c-TF-IDF terms, hashtags, languages, where and when, and representative posts.

Vectorised for a million posts: per-post work is numpy / pyarrow, and only the sampled texts are tokenised.

- Terms: class-based TF-IDF as in BERTopic. The texts of a cluster are concatenated into one document; a term's
  score in a cluster is its L1-normalised frequency there times log(1 + A / f), where f is the term's frequency over
  all clusters and A the average number of words per cluster. Terms come from `WORD_SPACE_TOKENIZER` (content words,
  en/es/ca stop words removed, hashtags as words). At most `max_docs_per_cluster` non-empty texts per cluster enter
  it, a uniform sample drawn from `seed` (the same inputs always give the same sample); ties go by term.
- Hashtags and languages: counts as given (no case folding), most common first, ties by name; None is skipped.
- Geography: the centroid is the spherical mean (mean of unit vectors, back to lat / lon), so lon 179 and -179 give
  180, not 0. The bounding box is the smallest longitude range holding every point: when it crosses the antimeridian
  min_lon > max_lon (the GeoJSON convention, RFC 7946 section 5.2).
- Representatives: the rows nearest (Euclidean, in X) to the cluster's mean embedding, nearest first.

`count_clusters` gives the part of a summary that adds up across posts (sizes, hashtag and language counts, the
sum of the coordinates' unit vectors, latitude, longitude and time ranges), so that posts assigned to fitted clusters
update them from the new posts alone (`covering_longitude_range` merges longitude ranges).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from sklearn.preprocessing import normalize

from models.text import WORD_SPACE_TOKENIZER

_CHUNK = 65_536


@dataclass(frozen=True)
class ClusterSummary:
    """One cluster: geo_centroid is (lat, lon), bbox (min_lat, min_lon, max_lat, max_lon), both None without any
    coordinates; first / last_post_at are None without any known time; representatives are row indices."""

    cluster_id: int
    size: int
    top_terms: list[tuple[str, float]]
    top_hashtags: list[tuple[str, int]]
    languages: list[tuple[str, int]]
    geo_centroid: tuple[float, float] | None
    bbox: tuple[float, float, float, float] | None
    posts_with_coordinates: int
    posts_with_text: int
    posts_with_hashtags: int
    texts_for_terms: int
    first_post_at: np.datetime64 | None
    last_post_at: np.datetime64 | None
    representatives: list[int]
    coordinate_sums: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class ClusterCounts:
    """What adds up across one cluster's posts: every hashtag and language with its count, the sum of the unit
    vectors of the coordinates (x, y, z), latitude and longitude ranges (None without coordinates; min_lon > max_lon
    when crossing the antimeridian) and the first / last known time."""

    cluster_id: int
    size: int
    hashtags: list[tuple[str, int]]
    languages: list[tuple[str, int]]
    posts_with_coordinates: int
    coordinate_sums: tuple[float, float, float]
    lat_range: tuple[float, float] | None
    lon_range: tuple[float, float] | None
    first_post_at: np.datetime64 | None
    last_post_at: np.datetime64 | None


def _sorted_pairs(matrix: sparse.csr_matrix, names: np.ndarray, row: int, top: int | None) -> list[tuple[str, float]]:
    """The row's nonzero columns as (name, value), largest value first, ties by name."""
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    values, columns = matrix.data[start:end], matrix.indices[start:end]
    order = np.lexsort((names[columns], -values))[:top]
    return [(str(names[column]), value.item()) for column, value in zip(columns[order], values[order], strict=True)]


def _value_counts(group: np.ndarray, k: int, values: pa.Array, parents: np.ndarray,
                  top: int | None) -> list[list[tuple[str, int]]]:
    """Per cluster, the most common non-null values (each counted once per occurrence) with their counts."""
    encoded = pc.dictionary_encode(values)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    known = encoded.indices.is_valid().to_numpy(zero_copy_only=False)
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=str)
    counts = sparse.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.int64), (group[parents[known]], codes[known].astype(np.int64))),
        shape=(k, len(names)),
    )
    return [_sorted_pairs(counts, names, c, top) for c in range(k)]


def _sample_texts(group: np.ndarray, has_text: np.ndarray, max_docs: int, seed: int) -> np.ndarray:
    """Rows of at most `max_docs` texts per cluster, drawn uniformly and deterministically, by cluster."""
    rows = np.flatnonzero(has_text)
    rows = rows[np.lexsort((np.random.default_rng(seed).random(len(rows)), group[rows]))]
    clusters = group[rows]
    rank = np.arange(len(rows)) - np.searchsorted(clusters, clusters)
    return rows[rank < max_docs]


def class_tfidf(groups: np.ndarray, k: int, texts: Sequence[str], top: int) -> list[list[tuple[str, float]]]:
    """BERTopic's c-TF-IDF top terms per cluster of the texts (cluster `groups[i]` for text i, clusters 0..k-1)."""
    vocabulary: dict[str, int] = {}
    columns: list[int] = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    for position, tokens in enumerate(WORD_SPACE_TOKENIZER.many(texts)):
        columns.extend(vocabulary.setdefault(token, len(vocabulary)) for token in tokens)
        lengths[position] = len(tokens)
    if not vocabulary:
        return [[] for _ in range(k)]
    frequency = sparse.csr_matrix(
        (np.ones(len(columns)), (np.repeat(groups, lengths), np.asarray(columns, dtype=np.int64))),
        shape=(k, len(vocabulary)),
    )
    average_words = frequency.sum() / k
    idf = np.log1p(average_words / np.asarray(frequency.sum(axis=0)).ravel())
    scores = sparse.csr_matrix(normalize(frequency, norm="l1").multiply(idf[np.newaxis, :]))
    names = np.asarray(list(vocabulary), dtype=str)
    return [_sorted_pairs(scores, names, c, top) for c in range(k)]


def centroid_of(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) in degrees of the spherical mean whose unit vectors sum to ``sums`` (..., 3): x, y, z."""
    sums = np.asarray(sums, dtype=np.float64)
    x, y, z = sums[..., 0], sums[..., 1], sums[..., 2]
    return np.degrees(np.arctan2(z, np.hypot(x, y))), np.degrees(np.arctan2(y, x))


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The (n, 3) unit vectors of coordinates in degrees."""
    phi, lam = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)


def covering_longitude_range(ranges: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The smallest longitude range holding every range of ``ranges`` (each (min_lon, max_lon), min_lon > max_lon
    when it crosses the antimeridian; a point is (lon, lon)); (-180, 180) when together they go round the globe.

    The result leaves out the widest gap between the ranges' ends that lies inside none of them; a range crosses the
    antimeridian only when that is strictly narrower, as in the summaries.
    """
    if not ranges:
        raise ValueError("no longitude range to cover")
    bounds = np.asarray(ranges, dtype=np.float64)
    spans = np.where(bounds[:, 0] <= bounds[:, 1], bounds[:, 1] - bounds[:, 0], bounds[:, 1] - bounds[:, 0] + 360)
    ends = np.unique(bounds)
    gaps = np.append(np.diff(ends), ends[0] + 360 - ends[-1])  # gap i runs east from ends[i]; the last one wraps
    middles = ends + gaps / 2
    inside = (((middles[:, np.newaxis] - bounds[np.newaxis, :, 0]) % 360) < spans[np.newaxis, :]).any(axis=1)
    gaps[inside] = -1.0
    if (gaps < 0).all():
        return -180.0, 180.0
    order = np.roll(np.arange(len(ends)), 1)  # the wrapping gap first: it wins ties, so ties do not cross
    widest = order[np.argmax(gaps[order])]
    if widest == len(ends) - 1:
        return float(ends[0]), float(ends[-1])
    return float(ends[widest + 1]), float(ends[widest])


def _geography(group: np.ndarray, k: int, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per cluster: posts with coordinates, centroid lat / lon, bounding box (NaN where none) and the (k, 3) sums of
    the coordinates' unit vectors."""
    has = np.isfinite(lat) & np.isfinite(lon)
    g, la, lo = group[has], lat[has], lon[has]
    counts = np.bincount(g, minlength=k)
    vectors = unit_vectors(la, lo)
    sums = np.stack([np.bincount(g, weights=vectors[:, axis], minlength=k) for axis in range(3)], axis=1)
    centroid_lat, centroid_lon = centroid_of(sums)
    min_lat, max_lat = np.full(k, np.inf), np.full(k, -np.inf)
    np.minimum.at(min_lat, g, la)
    np.maximum.at(max_lat, g, la)
    # Longitudes sorted within each cluster: the box leaves out the largest gap between neighbours, wrap included.
    order = np.lexsort((lo, g))
    lo, g = lo[order], g[order]
    starts = np.searchsorted(g, np.arange(k))
    ends = starts + counts
    filled = counts > 0
    min_lon, max_lon = np.full(k, np.nan), np.full(k, np.nan)
    min_lon[filled], max_lon[filled] = lo[starts[filled]], lo[ends[filled] - 1]
    gaps = np.full(len(lo), -1.0)
    same = g[1:] == g[:-1]
    gaps[:-1][same] = np.diff(lo)[same]
    widest = np.lexsort((gaps, g))[ends[filled] - 1]
    crosses = gaps[widest] > 360 - (max_lon[filled] - min_lon[filled])
    crossing = np.flatnonzero(filled)[crosses]
    min_lon[crossing], max_lon[crossing] = lo[widest[crosses] + 1], lo[widest[crosses]]
    nan = ~filled
    centroid_lat[nan] = centroid_lon[nan] = min_lat[nan] = max_lat[nan] = np.nan
    return counts, centroid_lat, centroid_lon, min_lat, min_lon, max_lat, max_lon, sums


def _time_range(group: np.ndarray, k: int, created_at: np.ndarray) -> tuple[list, list]:
    """Per cluster, the first and last known time (None when none is known)."""
    known = ~np.isnat(created_at)
    ticks, g = created_at[known].view(np.int64), group[known]
    first, last = np.full(k, np.iinfo(np.int64).max), np.full(k, np.iinfo(np.int64).min)
    np.minimum.at(first, g, ticks)
    np.maximum.at(last, g, ticks)
    has = np.bincount(g, minlength=k) > 0
    as_time = first.astype(created_at.dtype), last.astype(created_at.dtype)
    return ([as_time[0][c] if has[c] else None for c in range(k)],
            [as_time[1][c] if has[c] else None for c in range(k)])


def _representatives(group: np.ndarray, k: int, X: np.ndarray, count: int) -> list[list[int]]:
    """Per cluster, the `count` rows nearest its mean row, nearest first (ties: lower row first)."""
    n = len(group)
    members = sparse.csr_matrix((np.ones(n), (group, np.arange(n))), shape=(k, n))
    centroids = (members @ X) / np.bincount(group, minlength=k)[:, np.newaxis]
    distances = np.empty(n)
    for start in range(0, n, _CHUNK):
        block = slice(start, start + _CHUNK)
        distances[block] = ((X[block] - centroids[group[block]]) ** 2).sum(axis=1)
    order = np.lexsort((distances, group))
    starts = np.searchsorted(group[order], np.arange(k))
    sizes = np.bincount(group, minlength=k)
    return [order[starts[c]: starts[c] + min(count, sizes[c])].tolist() for c in range(k)]


def _aligned(labels: np.ndarray, lat: np.ndarray, lon: np.ndarray, created_at: np.ndarray,
             *others: Sequence) -> tuple[np.ndarray, ...]:
    """The numeric inputs as arrays (created_at as datetime64, None becoming NaT), checked to align with the rest."""
    labels = np.asarray(labels)
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    created_at = np.asarray(created_at)
    if created_at.dtype.kind != "M":
        created_at = np.asarray(created_at, dtype="datetime64[us]")
    lengths = {len(column) for column in (labels, lat, lon, created_at, *others)}
    if len(lengths) != 1:
        raise ValueError(f"inputs have different lengths: {sorted(lengths)}")
    return labels, lat, lon, created_at


def _counts(group: np.ndarray, cluster_ids: np.ndarray, tag_lists: pa.Array, languages: Sequence[str | None],
            lat: np.ndarray, lon: np.ndarray, created_at: np.ndarray, top_hashtags: int | None) -> list[ClusterCounts]:
    k = len(cluster_ids)
    sizes = np.bincount(group, minlength=k)
    tags = _value_counts(group, k, pc.list_flatten(tag_lists),
                         pc.list_parent_indices(tag_lists).to_numpy(zero_copy_only=False), top_hashtags)
    langs = _value_counts(group, k, pa.array(languages, pa.string()), np.arange(len(group)), None)
    with_coordinates, _, _, min_lat, min_lon, max_lat, max_lon, sums = _geography(group, k, lat, lon)
    first, last = _time_range(group, k, created_at)
    return [
        ClusterCounts(
            cluster_id=cluster_ids[c].item(), size=int(sizes[c]), hashtags=tags[c], languages=langs[c],
            posts_with_coordinates=int(with_coordinates[c]), coordinate_sums=tuple(float(v) for v in sums[c]),
            lat_range=(float(min_lat[c]), float(max_lat[c])) if with_coordinates[c] else None,
            lon_range=(float(min_lon[c]), float(max_lon[c])) if with_coordinates[c] else None,
            first_post_at=first[c], last_post_at=last[c],
        )
        for c in range(k)
    ]


def count_clusters(labels: np.ndarray, hashtags: Sequence[Sequence[str] | None], languages: Sequence[str | None],
                   lat: np.ndarray, lon: np.ndarray, created_at: np.ndarray) -> list[ClusterCounts]:
    """One ClusterCounts per distinct label, by label, with every hashtag counted; inputs as in summarise_clusters."""
    labels, lat, lon, created_at = _aligned(labels, lat, lon, created_at, hashtags, languages)
    cluster_ids, group = np.unique(labels, return_inverse=True)
    return _counts(group.astype(np.int64), cluster_ids, pa.array(hashtags, pa.list_(pa.string())), languages,
                   lat, lon, created_at, None)


def summarise_clusters(
    labels: np.ndarray, X: np.ndarray, texts: Sequence[str | None], hashtags: Sequence[Sequence[str] | None],
    languages: Sequence[str | None], lat: np.ndarray, lon: np.ndarray, created_at: np.ndarray, *,
    top_terms: int = 10, top_hashtags: int = 10, representatives: int = 5, max_docs_per_cluster: int = 2000,
    seed: int = 13,
) -> list[ClusterSummary]:
    """One summary per distinct label, by label; rows align across the inputs.

    lat / lon: float arrays, NaN when unknown; created_at: a datetime64 array, NaT when unknown (other sequences are
    converted to datetime64[us], None becoming NaT).
    """
    X = np.asarray(X)
    labels, lat, lon, created_at = _aligned(labels, lat, lon, created_at, X, texts, hashtags, languages)
    cluster_ids, group = np.unique(labels, return_inverse=True)
    group = group.astype(np.int64)
    k = len(cluster_ids)

    text_array = pa.array(texts, pa.string())
    has_text = pc.fill_null(pc.greater(pc.utf8_length(text_array), 0), False).to_numpy(zero_copy_only=False)
    sampled = _sample_texts(group, has_text, max_docs_per_cluster, seed)
    terms = class_tfidf(group[sampled], k, text_array.take(pa.array(sampled)).to_pylist(), top_terms)

    tag_lists = pa.array(hashtags, pa.list_(pa.string()))
    has_tags = pc.fill_null(pc.greater(pc.list_value_length(tag_lists), 0), False).to_numpy(zero_copy_only=False)
    counts = _counts(group, cluster_ids, tag_lists, languages, lat, lon, created_at, top_hashtags)
    centroid_lat, centroid_lon = centroid_of(np.array([c.coordinate_sums for c in counts]).reshape(k, 3))
    nearest = _representatives(group, k, X, representatives)
    text_counts = np.bincount(group[has_text], minlength=k)
    tag_counts = np.bincount(group[has_tags], minlength=k)
    sampled_counts = np.bincount(group[sampled], minlength=k)
    return [
        ClusterSummary(
            cluster_id=n.cluster_id, size=n.size, top_terms=terms[c], top_hashtags=n.hashtags,
            languages=n.languages,
            geo_centroid=(float(centroid_lat[c]), float(centroid_lon[c])) if n.posts_with_coordinates else None,
            bbox=(n.lat_range[0], n.lon_range[0], n.lat_range[1], n.lon_range[1]) if n.lat_range else None,
            posts_with_coordinates=n.posts_with_coordinates, posts_with_text=int(text_counts[c]),
            posts_with_hashtags=int(tag_counts[c]), texts_for_terms=int(sampled_counts[c]),
            first_post_at=n.first_post_at, last_post_at=n.last_post_at, representatives=nearest[c],
            coordinate_sums=n.coordinate_sums if n.posts_with_coordinates else None,
        )
        for c, n in enumerate(counts)
    ]
