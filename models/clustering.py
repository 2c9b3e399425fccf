"""Clustering of post embeddings with their geography: paper 000's pipeline (`paper`) and a scalable one (`default`).

Inputs are precomputed embeddings `X` (n x d float32) and `coordinates` (n x 2 float64: lat, lon in degrees; a row
with a NaN is a post without coordinates). Coordinates enter both methods as 3-D unit-sphere vectors, so distances
do not break at the antimeridian or near the poles.

paper (Liu & De Sabbata 2018): PCA keeping 98.2% of the variance -> openTSNE to 2-D -> kernel CCA between the 2-D
points and the coordinates -> agglomerative (Ward) clustering of the resulting 2-D representations. Ward on every
post needs O(n^2) memory (scipy keeps two condensed distance matrices, about 8 n^2 bytes: 7 GB at 30k posts), so
the method refuses more than `max_posts` posts.

default: per-feature standardisation and PCA -> a geography block appended, scaled so that its total variance is
`geo_weight` times the content's -> MiniBatchKMeans micro-clusters -> Ward on the micro-centroids; each post takes
its micro-cluster's cluster. Linear in the number of posts.

Posts without coordinates are never dropped:
- paper: the kernel CCA is fitted on the posts with coordinates. A post's 2-D representation is the mean of its
  content and geography canonical variates when it has coordinates, its content variate alone otherwise.
- default: the micro-clusters are fitted on the posts with coordinates (content + geography); a post without
  coordinates goes to the micro-centroid nearest in the content block alone.
Geography is skipped (and why is recorded in `parameters_["geography"]`) when fewer than MIN_GEO_POSTS posts, or a
fraction below `min_geo_fraction`, have coordinates; then only content is clustered.

Cluster ids run from 0 (the largest cluster) up. Fitted clusterers are picklable and assign new posts with
`predict` (and place them with `transform_xy`) without refitting.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from openTSNE import TSNE, TSNEEmbedding
from scipy.spatial.distance import pdist
from sklearn.cluster import AgglomerativeClustering, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.kernel_approximation import Nystroem
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, pairwise_distances_argmin
from sklearn.metrics import silhouette_score as sklearn_silhouette
from sklearn.neighbors import NearestNeighbors

from models.settings import Settings

MIN_POSTS = 10
MIN_GEO_POSTS = 10
LINKAGES = ("ward", "complete", "average", "single")
_CHUNK = 65_536


def _check_cut(n_clusters: int | None, distance_threshold: float | None) -> None:
    """Exactly one way to cut the tree: a number of clusters or a distance."""
    if (n_clusters is None) == (distance_threshold is None):
        raise ValueError("set exactly one of n_clusters and distance_threshold "
                         "(n_clusters=None together with a distance_threshold cuts the tree at that distance)")
    if n_clusters is not None and n_clusters < 1:
        raise ValueError(f"n_clusters must be at least 1, got {n_clusters}")
    if distance_threshold is not None and distance_threshold <= 0:
        raise ValueError(f"distance_threshold must be positive, got {distance_threshold}")


def _check_fraction(name: str, value: float, low_open: bool) -> None:
    if not (0 < value <= 1 if low_open else 0 <= value <= 1):
        raise ValueError(f"{name} must be in {'(0, 1]' if low_open else '[0, 1]'}, got {value}")


@dataclass(frozen=True)
class PaperSettings(Settings):
    """Paper 000's pipeline. The kernel CCA uses `kcca_kernel_components` Nyström components per view and a ridge
    of `kcca_regularization` (see KernelCCA); `max_posts` bounds Ward's O(n^2) memory."""

    variance: float = 0.982
    perplexity: float = 30.0
    n_clusters: int | None = 42
    distance_threshold: float | None = None
    linkage: str = "ward"
    kcca_regularization: float = 0.1
    kcca_kernel_components: int = 300
    min_geo_fraction: float = 0.0
    seed: int = 13
    max_posts: int = 30_000
    n_jobs: int = 1

    def __post_init__(self) -> None:
        _check_cut(self.n_clusters, self.distance_threshold)
        _check_fraction("variance", self.variance, low_open=True)
        _check_fraction("min_geo_fraction", self.min_geo_fraction, low_open=False)
        if self.linkage not in LINKAGES:
            raise ValueError(f"linkage must be one of {', '.join(LINKAGES)}, got {self.linkage!r}")
        if self.perplexity <= 0 or self.kcca_regularization <= 0 or self.kcca_kernel_components < 2:
            raise ValueError("perplexity and kcca_regularization must be positive, kcca_kernel_components >= 2")


@dataclass(frozen=True)
class DefaultSettings(Settings):
    """The scalable pipeline.

    PCA keeps the fewest components reaching `variance` of the standardised embeddings, at most `max_components`,
    fitted on at most `pca_sample` rows. `geo_weight`: the geography block is scaled so that its total variance is
    geo_weight times the content block's, i.e. on average geography adds geo_weight times as much as content to the
    squared distances k-means and Ward minimise (0 switches geography off). Geography is also ignored when fewer
    than `min_geo_fraction` of the posts have coordinates, since the micro-clusters are then fitted on those posts.
    MiniBatchKMeans (`n_init` initialisations, `batch_size` rows a step) learns the micro-centroids from at most
    `kmeans_sample` of the fitted rows in `kmeans_epochs` passes over them; then every post goes to its nearest one.
    `perplexity` and `n_jobs` are the openTSNE settings of the 2-D layout of the micro-centroids.
    `standardise` scales every feature to unit variance before the PCA (on for the autoencoder's codes); off, the
    PCA sees the vectors as given (feature embeddings, whose blocks are balanced beforehand:
    models/feature_embedding.py).
    """

    variance: float = 0.95
    max_components: int = 50
    pca_sample: int = 100_000
    micro_clusters: int = 2000
    n_clusters: int | None = 42
    distance_threshold: float | None = None
    geo_weight: float = 1.0
    min_geo_fraction: float = 0.1
    kmeans_sample: int = 200_000
    kmeans_epochs: int = 5
    batch_size: int = 4096
    n_init: int = 1
    perplexity: float = 30.0
    seed: int = 13
    n_jobs: int = 1
    standardise: bool = True

    def __post_init__(self) -> None:
        _check_cut(self.n_clusters, self.distance_threshold)
        _check_fraction("variance", self.variance, low_open=True)
        _check_fraction("min_geo_fraction", self.min_geo_fraction, low_open=False)
        if self.geo_weight < 0:
            raise ValueError(f"geo_weight must be >= 0, got {self.geo_weight}")
        counts = (self.max_components, self.pca_sample, self.micro_clusters, self.kmeans_sample, self.kmeans_epochs,
                  self.batch_size, self.n_init)
        if min(counts) < 1:
            raise ValueError("max_components, pca_sample, micro_clusters, kmeans_sample, kmeans_epochs, batch_size "
                             "and n_init must be >= 1")


def unit_vectors(coordinates: np.ndarray) -> np.ndarray:
    """(n, 3) float64 points on the unit sphere for (lat, lon) degree rows; rows with a NaN stay NaN."""
    lat, lon = np.radians(coordinates[:, 0]), np.radians(coordinates[:, 1])
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def has_coordinates(coordinates: np.ndarray) -> np.ndarray:
    """Which rows have both a latitude and a longitude."""
    return np.isfinite(coordinates).all(axis=1)


def _check_inputs(X: np.ndarray, coordinates: np.ndarray, minimum: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float32)
    coordinates = np.asarray(coordinates, dtype=np.float64)
    if X.ndim != 2 or coordinates.ndim != 2 or coordinates.shape[1] != 2 or len(X) != len(coordinates):
        raise ValueError(f"expected X of shape (n, d) and coordinates of shape (n, 2), got {X.shape} and "
                         f"{coordinates.shape}")
    if len(X) < minimum:
        raise ValueError(f"clustering needs at least {minimum} posts, got {len(X)}")
    if not np.isfinite(X).all():
        raise ValueError("X has NaN or infinite values")
    return X, coordinates


def _geography_skipped(has: np.ndarray, min_fraction: float) -> str | None:
    """Why geography is left out, or None when it is used."""
    if has.sum() < MIN_GEO_POSTS:
        return f"only {int(has.sum())} posts have coordinates (at least {MIN_GEO_POSTS} needed)"
    if has.mean() < min_fraction:
        return f"only {has.mean():.1%} of the posts have coordinates (min_geo_fraction={min_fraction})"
    return None


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a deterministic sample of min(n, size) rows."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def _size_order(labels: np.ndarray) -> np.ndarray:
    """old id -> new id such that 0 is the largest cluster (ties: the lower old id first)."""
    order = np.argsort(-np.bincount(labels), kind="stable")
    mapping = np.empty(len(order), dtype=np.int64)
    mapping[order] = np.arange(len(order))
    return mapping


def _agglomerate(points: np.ndarray, n_clusters: int | None, distance_threshold: float | None,
                 linkage: str = "ward") -> np.ndarray:
    """Agglomerative clustering labels of the rows; n_clusters is capped at the number of rows."""
    if len(points) < 2:
        return np.zeros(len(points), dtype=np.int64)
    model = AgglomerativeClustering(
        n_clusters=None if n_clusters is None else min(n_clusters, len(points)),
        distance_threshold=distance_threshold, linkage=linkage,
    )
    return model.fit_predict(points).astype(np.int64)


def _tsne(points: np.ndarray, perplexity: float, seed: int, n_jobs: int) -> TSNEEmbedding:
    """openTSNE embedding (centred on the origin, so that later `transform` calls do not move it)."""
    tsne = TSNE(n_components=2, perplexity=min(perplexity, (len(points) - 1) / 3), random_state=seed,
                n_jobs=n_jobs, verbose=False, initialization="pca" if points.shape[1] >= 2 else "random")
    embedding = tsne.fit(np.asarray(points, dtype=np.float64))
    embedding -= (embedding.max(axis=0) + embedding.min(axis=0)) / 2
    return embedding


def _median_gamma(points: np.ndarray, seed: int, sample: int = 1000) -> float:
    """RBF gamma by the median heuristic: 1 / median squared distance between (sampled) distinct points."""
    distances = pdist(points[_sample(len(points), sample, seed)], "sqeuclidean")
    distances = distances[distances > 0]
    return 1.0 / float(np.median(distances)) if len(distances) else 1.0


def _inverse_sqrt(covariance: np.ndarray, ridge: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(covariance)
    return (vectors / np.sqrt(np.clip(values, 0, None) + ridge)) @ vectors.T


class KernelCCA:
    """Regularised kernel CCA of a content view and a geography view.

    Each view goes through an RBF Nyström feature map (`kernel_components` landmarks, gamma by the median
    heuristic: 1 / median squared distance between points), then a linear CCA of the centred features: whitening
    by (C + r I)^-1/2 and an SVD of the whitened cross-covariance. The RBF features have unit norm (k(x, x) = 1), so
    each covariance's trace is at most 1 and r = `regularization` is a ridge on that scale.
    `correlations_` are the Pearson correlations of the paired canonical variates on the fitted rows.
    """

    def __init__(self, n_components: int = 2, regularization: float = 0.1, kernel_components: int = 300,
                 seed: int = 13) -> None:
        self.n_components = n_components
        self.regularization = regularization
        self.kernel_components = kernel_components
        self.seed = seed

    def fit(self, content: np.ndarray, geo: np.ndarray) -> KernelCCA:
        """Fit the feature maps and the canonical weights on paired rows of the two views."""
        views = [np.asarray(view, dtype=np.float64) for view in (content, geo)]
        self.maps_ = [
            Nystroem(kernel="rbf", gamma=_median_gamma(view, self.seed),
                     n_components=min(self.kernel_components, len(view)), random_state=self.seed).fit(view)
            for view in views
        ]
        features = [feature_map.transform(view) for feature_map, view in zip(self.maps_, views, strict=True)]
        self.means_ = [block.mean(axis=0) for block in features]
        a, b = (block - mean for block, mean in zip(features, self.means_, strict=True))
        whiten_a = _inverse_sqrt(a.T @ a / len(a), self.regularization)
        whiten_b = _inverse_sqrt(b.T @ b / len(b), self.regularization)
        u, _, vt = np.linalg.svd(whiten_a @ (a.T @ b / len(a)) @ whiten_b)
        k = min(self.n_components, u.shape[1], vt.shape[0])
        self.weights_ = [whiten_a @ u[:, :k], whiten_b @ vt[:k].T]
        variates = a @ self.weights_[0], b @ self.weights_[1]
        self.correlations_ = [float(np.corrcoef(variates[0][:, i], variates[1][:, i])[0, 1]) for i in range(k)]
        return self

    def _transform(self, view: int, points: np.ndarray) -> np.ndarray:
        features = self.maps_[view].transform(np.asarray(points, dtype=np.float64)) - self.means_[view]
        return features @ self.weights_[view]

    def transform_content(self, content: np.ndarray) -> np.ndarray:
        """The content view's canonical variates."""
        return self._transform(0, content)

    def transform_geo(self, geo: np.ndarray) -> np.ndarray:
        """The geography view's canonical variates."""
        return self._transform(1, geo)


class ContentProjection:
    """Per-feature standardisation (unless `standardise` is off) then PCA (the fewest components reaching
    `variance`, at most `max_components`), fitted on a deterministic sample of at most `sample_size` rows;
    `transform` works in chunks, in float32."""

    def __init__(self, variance: float = 0.95, max_components: int = 50, sample_size: int = 100_000,
                 seed: int = 13, standardise: bool = True) -> None:
        self.variance = variance
        self.max_components = max_components
        self.sample_size = sample_size
        self.seed = seed
        self.standardise = standardise

    def fit(self, X: np.ndarray) -> ContentProjection:
        """Fit the standardisation (unless switched off) and the PCA on a sample of the rows."""
        sample = np.asarray(X[_sample(len(X), self.sample_size, self.seed)], dtype=np.float64)
        mean, scale = sample.mean(axis=0), sample.std(axis=0)
        scale[scale == 0] = 1.0
        if not self.standardise:
            scale = np.ones_like(scale)
        pca = PCA(svd_solver="covariance_eigh").fit((sample - mean) / scale)
        reached = np.searchsorted(np.cumsum(pca.explained_variance_ratio_), self.variance - 1e-9) + 1
        k = int(min(reached, self.max_components, len(pca.components_)))
        self.weights_ = (pca.components_[:k] / scale).T.astype(np.float32)
        self.offset_ = (mean @ self.weights_).astype(np.float32)
        self.explained_variance_ = pca.explained_variance_[:k]
        self.explained_variance_ratio_ = float(pca.explained_variance_ratio_[:k].sum())
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The rows in the fitted space, float32."""
        out = np.empty((len(X), self.weights_.shape[1]), dtype=np.float32)
        for start in range(0, len(X), _CHUNK):
            block = np.asarray(X[start:start + _CHUNK], dtype=np.float32)
            out[start:start + _CHUNK] = block @ self.weights_ - self.offset_
        return out


def content_space(X: np.ndarray, variance: float = 0.95, max_components: int = 50, seed: int = 13) -> np.ndarray:
    """The rows in the standardised PCA space the default method clusters content in (without geography)."""
    return ContentProjection(variance, max_components, seed=seed).fit(X).transform(X)


class PaperClustering:
    """Paper 000: PCA -> openTSNE 2-D -> kernel CCA with the coordinates -> agglomerative clustering.

    `xy_` holds the 2-D points that were clustered: the kernel CCA representations (mean of the two canonical
    variates for posts with coordinates, the content variate alone for the others), or the t-SNE points when
    geography was skipped. New posts are placed with openTSNE's `transform` of their PCA'd embeddings and the
    fitted kernel CCA, then take the cluster with the nearest centroid in that 2-D space.
    """

    def __init__(self, settings: PaperSettings = PaperSettings()) -> None:
        self.settings = settings

    def fit(self, X: np.ndarray, coordinates: np.ndarray) -> PaperClustering:
        """Cluster the posts: sets labels_, xy_, n_clusters_, centroids_ and parameters_."""
        s = self.settings
        X, coordinates = _check_inputs(X, coordinates, MIN_POSTS)
        if len(X) > s.max_posts:
            raise ValueError(
                f"{len(X)} posts are more than the paper method's max_posts={s.max_posts}: its agglomerative "
                f"clustering of every post needs O(n^2) memory (about {8 * len(X) ** 2 / 1e9:.0f} GB here); "
                f"use method 'default', which scales to millions of posts, or a sample")
        self.pca_ = PCA(n_components=s.variance if s.variance < 1 else None, svd_solver="full").fit(X)
        self.embedding_ = _tsne(self.pca_.transform(X), s.perplexity, s.seed, s.n_jobs)
        has = has_coordinates(coordinates)
        skipped = _geography_skipped(has, s.min_geo_fraction)
        if skipped is None and float(unit_vectors(coordinates[has]).var(axis=0).sum()) < 1e-12:
            skipped = "all posts with coordinates are at the same place"
        self.kcca_ = None if skipped else KernelCCA(
            2, s.kcca_regularization, s.kcca_kernel_components, s.seed
        ).fit(np.asarray(self.embedding_)[has], unit_vectors(coordinates[has]))
        self.xy_ = self._represent(np.asarray(self.embedding_), coordinates)
        labels = _agglomerate(self.xy_, s.n_clusters, s.distance_threshold, s.linkage)
        self.labels_ = _size_order(labels)[labels]
        self.n_clusters_ = int(self.labels_.max()) + 1
        self.centroids_ = np.stack([self.xy_[self.labels_ == c].mean(axis=0) for c in range(self.n_clusters_)])
        self.parameters_: dict[str, Any] = {
            "method": "paper", "settings": s.as_dict(), "posts": len(X),
            "pca_components": int(self.pca_.n_components_),
            "explained_variance": float(self.pca_.explained_variance_ratio_.sum()),
            "perplexity": float(min(s.perplexity, (len(X) - 1) / 3)),
            "fraction_with_coordinates": float(has.mean()),
            "geography": {"used": skipped is None, "skipped_because": skipped},
            "kcca": None if self.kcca_ is None else {
                "canonical_correlations": self.kcca_.correlations_,
                "gamma": [float(m.gamma) for m in self.kcca_.maps_],
                "kernel_components": [int(m.n_components) for m in self.kcca_.maps_],
            },
            "n_clusters": self.n_clusters_,
        }
        return self

    def _represent(self, tsne_xy: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
        """The 2-D points clustered: kernel CCA variates (see the class docstring), or the t-SNE points."""
        if self.kcca_ is None:
            return tsne_xy.astype(np.float32)
        points = self.kcca_.transform_content(tsne_xy)
        has = has_coordinates(coordinates)
        if has.any():
            points[has] = (points[has] + self.kcca_.transform_geo(unit_vectors(coordinates[has]))) / 2
        return points.astype(np.float32)

    def transform_xy(self, X: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
        """(n, 2) float32 positions of new posts in the space of `xy_`."""
        X, coordinates = _check_inputs(X, coordinates)
        if len(X) == 0:
            return np.zeros((0, 2), dtype=np.float32)
        tsne_xy = np.asarray(self.embedding_.transform(self.pca_.transform(X)))
        return self._represent(tsne_xy, coordinates)

    def predict(self, X: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
        """Cluster ids of new posts: the nearest cluster centroid to their `transform_xy` position."""
        return self.place(X, coordinates)[0]

    def place(self, X: np.ndarray, coordinates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cluster ids, 2-D positions) of new posts, computing the t-SNE transform once."""
        xy = self.transform_xy(X, coordinates)
        labels = pairwise_distances_argmin(xy, self.centroids_) if len(xy) else np.zeros(0, dtype=np.int64)
        return labels, xy


class ScalableClustering:
    """Standardised PCA + weighted geography -> MiniBatchKMeans micro-clusters -> Ward on the micro-centroids.

    Ward runs on the (unweighted) micro-centroids, so `distance_threshold` is a Ward distance between them in the
    content + geography space. Micro-clusters that end up empty are dropped before Ward.
    `xy_`: openTSNE lays out the micro-centroids in 2-D; each post sits at its micro-centroid's position plus a
    Gaussian jitter (standard deviation a quarter of the median distance between neighbouring micro-centroids in
    the layout) drawn from `seed` in row order, so positions are deterministic and a micro-cluster shows as a cloud
    the size of its post count, not as one dot. New posts (`predict`, `transform_xy`) go to the nearest
    micro-centroid exactly as the fitted posts did.
    """

    def __init__(self, settings: DefaultSettings = DefaultSettings()) -> None:
        self.settings = settings

    def fit(self, X: np.ndarray, coordinates: np.ndarray) -> ScalableClustering:
        """Cluster the posts: sets labels_, xy_, n_clusters_, micro-clusters and parameters_."""
        s = self.settings
        X, coordinates = _check_inputs(X, coordinates, MIN_POSTS)
        self.projection_ = ContentProjection(s.variance, s.max_components, s.pca_sample, s.seed,
                                             s.standardise).fit(X)
        content = self.projection_.transform(X)
        has = has_coordinates(coordinates)
        skipped = "geo_weight is 0" if s.geo_weight == 0 else _geography_skipped(has, s.min_geo_fraction)
        self.geo_scale_ = 0.0
        if skipped is None:
            geo_variance = float(unit_vectors(coordinates[has]).var(axis=0).sum())
            if geo_variance < 1e-12:
                skipped = "all posts with coordinates are at the same place"
            else:
                content_variance = max(float(self.projection_.explained_variance_.sum()), 1e-12)
                self.geo_scale_ = float(np.sqrt(s.geo_weight * content_variance / geo_variance))
        rows = np.flatnonzero(has) if skipped is None else np.arange(len(X))
        rows = rows[_sample(len(rows), s.kmeans_sample, s.seed)]
        points = self._points(content[rows], coordinates[rows]) if skipped is None else content[rows]
        n_micro = min(s.micro_clusters, max(len(points) // 5, min(len(points), MIN_POSTS)))
        kmeans = MiniBatchKMeans(n_clusters=n_micro, batch_size=s.batch_size, n_init=s.n_init,
                                 max_iter=s.kmeans_epochs, random_state=s.seed, compute_labels=False).fit(points)
        del points
        centres = kmeans.cluster_centers_.astype(np.float32)
        micro = self._assign(content, coordinates, centres)
        used = np.bincount(micro, minlength=n_micro) > 0
        self.micro_centres_ = centres[used]
        micro = (np.cumsum(used) - 1)[micro]
        micro_labels = _agglomerate(self.micro_centres_, s.n_clusters, s.distance_threshold)
        self.micro_labels_ = _size_order(micro_labels[micro])[micro_labels]
        self.labels_ = self.micro_labels_[micro]
        self.n_clusters_ = int(self.labels_.max()) + 1
        self.micro_xy_, self.jitter_ = self._layout()
        self.xy_ = self._place(micro)
        self.parameters_: dict[str, Any] = {
            "method": "default", "settings": s.as_dict(), "posts": len(X),
            "pca_components": int(self.projection_.weights_.shape[1]),
            "explained_variance": self.projection_.explained_variance_ratio_,
            "fraction_with_coordinates": float(has.mean()),
            "geography": {"used": skipped is None, "skipped_because": skipped, "geo_scale": self.geo_scale_},
            "micro_clusters": int(len(self.micro_centres_)),
            "n_clusters": self.n_clusters_,
        }
        return self

    def _points(self, content: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
        """Content rows with the scaled geography block appended (rows must have coordinates)."""
        geo = (self.geo_scale_ * unit_vectors(coordinates)).astype(np.float32)
        return np.hstack([content, geo])

    def _assign(self, content: np.ndarray, coordinates: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """Nearest centre of each post: in content + geography when geography is used and the post has
        coordinates, in the content block alone otherwise."""
        micro = np.zeros(len(content), dtype=np.int64)
        geo = has_coordinates(coordinates) & (self.geo_scale_ > 0)
        if geo.any():
            micro[geo] = pairwise_distances_argmin(self._points(content[geo], coordinates[geo]), centres)
        if not geo.all():
            micro[~geo] = pairwise_distances_argmin(content[~geo], centres[:, : content.shape[1]])
        return micro

    def _layout(self) -> tuple[np.ndarray, float]:
        """2-D positions of the micro-centroids (openTSNE; their first two components when fewer than 4) and the
        jitter's standard deviation."""
        centres = self.micro_centres_
        if len(centres) < 4:
            xy = np.zeros((len(centres), 2), dtype=np.float32)
            xy[:, : min(2, centres.shape[1])] = centres[:, :2]
        else:
            s = self.settings
            xy = np.asarray(_tsne(centres, s.perplexity, s.seed, s.n_jobs), dtype=np.float32)
        if len(xy) < 2:
            return xy, 0.0
        distances, _ = NearestNeighbors(n_neighbors=2).fit(xy).kneighbors(xy)
        return xy, 0.25 * float(np.median(distances[:, 1]))

    def _place(self, micro: np.ndarray) -> np.ndarray:
        jitter = np.random.default_rng(self.settings.seed).normal(scale=self.jitter_, size=(len(micro), 2))
        return (self.micro_xy_[micro] + jitter).astype(np.float32)

    def transform_xy(self, X: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
        """(n, 2) float32 positions of new posts in the space of `xy_`."""
        X, coordinates = _check_inputs(X, coordinates)
        return self._place(self._assign(self.projection_.transform(X), coordinates, self.micro_centres_))

    def predict(self, X: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
        """Cluster ids of new posts: the cluster of their nearest micro-centroid."""
        return self.place(X, coordinates)[0]

    def place(self, X: np.ndarray, coordinates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cluster ids, 2-D positions) of new posts, finding their micro-centroids once."""
        X, coordinates = _check_inputs(X, coordinates)
        micro = self._assign(self.projection_.transform(X), coordinates, self.micro_centres_)
        return self.micro_labels_[micro], self._place(micro)


METHODS: dict[str, tuple[type, type]] = {
    "paper": (PaperSettings, PaperClustering),
    "default": (DefaultSettings, ScalableClustering),
}


def make_clusterer(method: str, **overrides: Any) -> PaperClustering | ScalableClustering:
    """An unfitted clusterer of a method in METHODS, its settings' defaults replaced by `overrides`."""
    if method not in METHODS:
        raise ValueError(f"unknown clustering method {method!r}; choose from {', '.join(METHODS)}")
    settings_class, clusterer_class = METHODS[method]
    return clusterer_class(settings_class.from_dict(overrides))


def silhouette(X: np.ndarray, labels: np.ndarray, sample_size: int = 10_000, seed: int = 13) -> float:
    """Silhouette of the labels on a sample of rows, in the standardised PCA content space (`content_space`) of
    that sample, so that both methods are scored in the same space; NaN when it is undefined (< 2 clusters)."""
    labels = np.asarray(labels)
    rows = _sample(len(labels), sample_size, seed)
    distinct = len(np.unique(labels[rows]))
    if distinct < 2 or distinct >= len(rows):
        return float("nan")
    return float(sklearn_silhouette(content_space(np.asarray(X)[rows], seed=seed), labels[rows]))


def label_agreement(true_labels: Sequence[Hashable | None], labels: np.ndarray) -> tuple[float, float]:
    """(adjusted Rand index, normalised mutual information) against known labels; rows labelled None are left
    out, and no labelled row gives NaNs."""
    keep = np.array([label is not None for label in true_labels], dtype=bool)
    if not keep.any():
        return float("nan"), float("nan")
    truth = [str(label) for label in true_labels if label is not None]
    predicted = np.asarray(labels)[keep]
    return float(adjusted_rand_score(truth, predicted)), float(normalized_mutual_info_score(truth, predicted))
