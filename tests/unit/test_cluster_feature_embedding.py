"""Clustering on pretrained features: names, and per-block balancing so that no encoder swamps another."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from models.clustering import make_clusterer
from models.feature_embedding import (
    balance_block,
    balanced_features,
    feature_embedding_name,
    is_feature_embedding,
    parse_feature_embedding,
)

N, CLUSTERS = 600, 3


def _blocks(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 'text' block (384-d) that holds the clusters, as sentence encoders do: a large direction every vector
    shares plus small cluster offsets; an 'image' block (1280-d) of large-scale noise; the true labels."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, CLUSTERS, N)
    shared = rng.normal(size=384) * 10
    offsets = rng.normal(size=(CLUSTERS, 384))
    text = shared + offsets[truth] + 0.3 * rng.normal(size=(N, 384))
    image = 50 * rng.normal(size=(N, 1280))
    return text.astype(np.float32), image.astype(np.float32), truth


def _nmi(vectors: np.ndarray, truth: np.ndarray) -> float:
    clusterer = make_clusterer("default", n_clusters=CLUSTERS, micro_clusters=40, standardise=False,
                               geo_weight=0).fit(vectors, np.full((len(vectors), 2), np.nan))
    return normalized_mutual_info_score(truth, clusterer.labels_)


def test_every_block_gets_unit_total_variance_and_absent_rows_sit_at_its_mean() -> None:
    """Every block gets unit total variance and absent rows sit at its mean."""
    text, image, _ = _blocks()
    present = np.ones(N, bool)
    present[::7] = False
    for block in (text, image, 1e-4 * image[:, :16]):
        balanced = balance_block(block, present)
        assert balanced.dtype == np.float32 and balanced.shape == block.shape
        assert balanced[present].var(axis=0).sum() == pytest.approx(1.0, rel=1e-4)
        assert np.allclose(balanced[present].mean(axis=0), 0, atol=1e-5)
        assert not balanced[~present].any()
    # scale does not matter: each row is L2-normalised first
    assert np.allclose(balance_block(text * 1000, present), balance_block(text, present), atol=1e-5)
    both = balanced_features([text, image], [present, np.ones(N, bool)])
    assert both.shape == (N, 384 + 1280)
    assert both[:, :384].var(axis=0).sum() == pytest.approx(both[:, 384:].var(axis=0).sum(), rel=0.2)
    assert not balance_block(np.zeros((5, 4)), np.zeros(5, bool)).any()


def test_balanced_blocks_keep_the_small_block_s_clusters_that_a_plain_concatenation_loses() -> None:
    """Balanced blocks keep the small block's clusters that a plain concatenation loses.

    The check that per-block balancing works: the 1280-d noise block must not swamp the 384-d block that
    holds the clusters. L2-normalising rows alone is not enough (the text vectors share one large direction, so
    what tells them apart is a small share of their norm).
    """
    text, image, truth = _blocks()
    present = np.ones(N, bool)
    assert _nmi(text, truth) > 0.95  # the clusters are there
    unit = [block / np.linalg.norm(block, axis=1, keepdims=True) for block in (text, image)]
    assert _nmi(np.concatenate(unit, 1), truth) < 0.3  # plain L2 + concatenation: the noise block wins
    assert _nmi(balanced_features([text, image], [present, present]), truth) > 0.9


def test_feature_embedding_names() -> None:
    """Feature embedding names."""
    assert parse_feature_embedding("features:e5-small+efficientnet-lite0") == ("e5-small", "efficientnet-lite0")
    assert feature_embedding_name(("e5-small", "ocr")) == "features:e5-small+ocr"
    assert is_feature_embedding("features:minilm") and not is_feature_embedding("autoencoder-abc")
    assert not is_feature_embedding(None)
    for bad, message in (("features:", "no encoder"), ("features:gru", "not a frozen"), ("features:nope", "nope"),
                         ("features:minilm+minilm", "twice"), ("e5-small", "features:")):
        with pytest.raises(ValueError, match=message):
            parse_feature_embedding(bad)


def test_standardise_off_keeps_the_scales_and_on_is_the_default() -> None:
    """Standardise off keeps the scales and on is the default."""
    assert make_clusterer("default").settings.standardise is True
    rng = np.random.default_rng(1)
    X = np.column_stack([100 * rng.normal(size=300), rng.normal(size=300)]).astype(np.float32)
    on = make_clusterer("default", n_clusters=2, micro_clusters=10, variance=0.9).fit(X, np.full((300, 2), np.nan))
    off = make_clusterer("default", n_clusters=2, micro_clusters=10, variance=0.9, standardise=False).fit(
        X, np.full((300, 2), np.nan))
    assert on.projection_.weights_.shape[1] == 2  # standardised: both features weigh alike
    assert off.projection_.weights_.shape[1] == 1  # as given: the large feature alone reaches 90%
