"""models/clustering: both methods on small synthetic embeddings with coordinates (real fits, no mocks)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from models.clustering import (
    DefaultSettings,
    KernelCCA,
    PaperClustering,
    PaperSettings,
    ScalableClustering,
    label_agreement,
    make_clusterer,
    silhouette,
    unit_vectors,
)

CITIES = np.array([[41.39, 2.17], [35.68, 139.69], [-33.87, 151.21], [40.71, -74.01]])
SMALL_DEFAULT = {"micro_clusters": 40, "perplexity": 10.0}
SMALL_PAPER = {"perplexity": 10.0, "kcca_kernel_components": 100}


def blobs(per_blob: int = 60, blobs: int = 4, dims: int = 16, missing: float = 0.2, seed: int = 0):
    """Well separated Gaussian blobs, each posted from its own city; `missing` of the posts lack coordinates."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(blobs), per_blob)
    centres = rng.normal(scale=10.0, size=(blobs, dims))
    X = (centres[truth] + rng.normal(size=(len(truth), dims))).astype(np.float32)
    coordinates = CITIES[truth % len(CITIES)] + rng.normal(scale=0.02, size=(len(truth), 2))
    coordinates[rng.random(len(truth)) < missing] = np.nan
    return X, coordinates, truth, centres


def fit(method: str, X: np.ndarray, coordinates: np.ndarray, **overrides):
    small = SMALL_DEFAULT if method == "default" else SMALL_PAPER
    return make_clusterer(method, **{**small, **overrides}).fit(X, coordinates)


@pytest.mark.parametrize("method", ["default", "paper"])
def test_well_separated_blobs_are_recovered(method):
    X, coordinates, truth, _ = blobs()
    model = fit(method, X, coordinates, n_clusters=4)
    ari, nmi = label_agreement(list(truth), model.labels_)
    assert ari > 0.9 and nmi > 0.9
    assert model.n_clusters_ == 4
    assert model.xy_.shape == (len(X), 2) and model.xy_.dtype == np.float32
    assert model.parameters_["method"] == method
    assert model.parameters_["geography"]["used"]
    sizes = np.bincount(model.labels_)
    assert (np.diff(sizes) <= 0).all(), "cluster 0 is the largest"


def test_geography_splits_groups_whose_content_is_the_same():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 16)).astype(np.float32)
    city = np.arange(400) % 2
    coordinates = CITIES[city] + rng.normal(scale=0.01, size=(400, 2))
    with_geo = fit("default", X, coordinates, n_clusters=2, geo_weight=1.0)
    without = fit("default", X, coordinates, n_clusters=2, geo_weight=0.0)
    assert label_agreement(list(city), with_geo.labels_)[0] > 0.9
    assert label_agreement(list(city), without.labels_)[0] < 0.2
    assert without.parameters_["geography"] == {"used": False, "skipped_because": "geo_weight is 0", "geo_scale": 0.0}


@pytest.mark.parametrize("method", ["default", "paper"])
def test_posts_without_coordinates_are_never_dropped(method):
    X, coordinates, truth, _ = blobs(missing=0.5)
    model = fit(method, X, coordinates, n_clusters=4)
    assert len(model.labels_) == len(X) and len(model.xy_) == len(X)
    assert label_agreement(list(truth), model.labels_)[0] > 0.9
    assert model.parameters_["fraction_with_coordinates"] == pytest.approx(np.isfinite(coordinates[:, 0]).mean())

    nowhere = np.full_like(coordinates, np.nan)
    blind = fit(method, X, nowhere, n_clusters=4)
    assert len(blind.labels_) == len(X)
    assert not blind.parameters_["geography"]["used"]
    assert "coordinates" in blind.parameters_["geography"]["skipped_because"]
    assert label_agreement(list(truth), blind.labels_)[0] > 0.9


@pytest.mark.parametrize("method", ["default", "paper"])
def test_distance_threshold_cuts_the_tree(method):
    X, coordinates, truth, _ = blobs()
    one = fit(method, X, coordinates, n_clusters=None, distance_threshold=1e9)
    assert one.n_clusters_ == 1 and (one.labels_ == 0).all()
    many = fit(method, X, coordinates, n_clusters=None, distance_threshold=1e-6)
    assert many.n_clusters_ > 4


@pytest.mark.parametrize("settings", [PaperSettings, DefaultSettings])
def test_exactly_one_way_to_cut_the_tree(settings):
    with pytest.raises(ValueError, match="exactly one of n_clusters and distance_threshold"):
        settings(n_clusters=None, distance_threshold=None)
    with pytest.raises(ValueError, match="exactly one"):
        settings(n_clusters=5, distance_threshold=2.0)


def test_paper_refuses_more_than_max_posts():
    X, coordinates, _, _ = blobs()
    with pytest.raises(ValueError, match="use method 'default'"):
        PaperClustering(PaperSettings(max_posts=100)).fit(X, coordinates)


@pytest.mark.parametrize("method", ["default", "paper"])
def test_new_posts_near_a_cluster_get_that_cluster_and_survive_pickling(method):
    X, coordinates, truth, centres = blobs()
    model = fit(method, X, coordinates, n_clusters=4)
    rng = np.random.default_rng(7)
    blob = np.repeat(np.arange(4), 5)
    new = (centres[blob] + 0.3 * rng.normal(size=(len(blob), X.shape[1]))).astype(np.float32)
    new_coordinates = CITIES[blob].copy()
    new_coordinates[::2] = np.nan
    expected = np.array([np.bincount(model.labels_[truth == b]).argmax() for b in blob])
    predicted = model.predict(new, new_coordinates)
    np.testing.assert_array_equal(predicted, expected)
    assert model.transform_xy(new, new_coordinates).shape == (len(new), 2)
    placed, xy = model.place(new, new_coordinates)  # both at once, as the nightly assignment uses them
    np.testing.assert_array_equal(placed, predicted)
    np.testing.assert_allclose(xy, model.transform_xy(new, new_coordinates), atol=1e-4)

    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(new, new_coordinates), predicted)
    np.testing.assert_array_equal(restored.labels_, model.labels_)


def test_default_places_fitted_and_new_posts_alike():
    X, coordinates, _, _ = blobs()
    model = fit("default", X, coordinates, n_clusters=4)
    np.testing.assert_array_equal(model.predict(X, coordinates), model.labels_)
    np.testing.assert_allclose(model.transform_xy(X, coordinates), model.xy_, atol=1e-4)


def test_kernel_cca_finds_correlated_views_only():
    rng = np.random.default_rng(3)
    content = rng.normal(scale=30.0, size=(500, 2))
    related = np.column_stack([content[:, 0] / 30, np.tanh(content[:, 1] / 30)])
    lat_lon = np.column_stack([20 * related[:, 1], 40 * related[:, 0]]) + rng.normal(scale=0.5, size=(500, 2))
    unrelated = np.column_stack([rng.uniform(-60, 60, 500), rng.uniform(-180, 180, 500)])
    high = KernelCCA(regularization=0.1, kernel_components=150).fit(content, unit_vectors(lat_lon))
    low = KernelCCA(regularization=0.1, kernel_components=150).fit(content, unit_vectors(unrelated))
    assert min(high.correlations_) > 0.9
    assert max(low.correlations_) < 0.5
    assert high.transform_content(content[:3]).shape == (3, 2)
    assert high.transform_geo(unit_vectors(lat_lon[:3])).shape == (3, 2)


def test_make_clusterer_by_name():
    model = make_clusterer("default", n_clusters=7)
    assert isinstance(model, ScalableClustering) and model.settings.n_clusters == 7
    assert isinstance(make_clusterer("paper"), PaperClustering)
    with pytest.raises(ValueError, match="unknown clustering method 'kmeans'; choose from paper, default"):
        make_clusterer("kmeans")
    with pytest.raises(ValueError, match="unknown setting"):
        make_clusterer("paper", micro_clusters=10)


def test_fit_checks_its_inputs():
    X, coordinates, _, _ = blobs()
    with pytest.raises(ValueError, match="coordinates of shape"):
        make_clusterer("default").fit(X, coordinates[:10])
    with pytest.raises(ValueError, match="at least 10 posts"):
        make_clusterer("default").fit(X[:5], coordinates[:5])


def test_silhouette_and_label_agreement():
    X, coordinates, truth, _ = blobs()
    assert silhouette(X, truth) > 0.7
    assert np.isnan(silhouette(X, np.zeros(len(X), dtype=int)))
    assert silhouette(X, truth, sample_size=50) > 0.5

    true_labels = ["a", "a", "b", "b", None, None]
    assert label_agreement(true_labels, np.array([0, 0, 1, 1, 0, 1])) == pytest.approx((1.0, 1.0))
    assert np.isnan(label_agreement([None, None], np.array([0, 1]))).all()
