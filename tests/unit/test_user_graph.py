"""User vectors from the mention graph: weighted walks follow edges in proportion to their weights; communities
end up close."""

from __future__ import annotations

import numpy as np

from models.user_graph import node_vectors, weighted_walks


def test_walks_follow_edges_in_proportion_to_their_weights() -> None:
    # 0 -> 1 weighs 9, 0 -> 2 weighs 1; node 3 has no edge
    walks = weighted_walks(np.array([0, 0]), np.array([1, 2]), np.array([9.0, 1.0]), nodes=4,
                           walks_per_node=2000, walk_length=2, seed=1)
    from_zero = walks[walks[:, 0] == 0, 1]
    assert set(from_zero) == {1, 2}
    assert 0.87 < (from_zero == 1).mean() < 0.93
    assert (walks[walks[:, 0] == 3, 1] == 3).all()  # isolated: stays
    assert (walks[walks[:, 0] == 1, 1] == 0).all()  # the graph is undirected: 1 can only go back to 0
    edges = {(0, 1), (1, 0), (0, 2), (2, 0), (3, 3)}
    long = weighted_walks(np.array([0, 0]), np.array([1, 2]), np.array([9.0, 1.0]), nodes=4, walk_length=10)
    assert {(a, b) for walk in long.tolist() for a, b in zip(walk, walk[1:], strict=False)} <= edges


def test_users_of_one_community_are_closer_than_users_of_two() -> None:
    rng = np.random.default_rng(0)
    first, second = np.arange(0, 10), np.arange(10, 20)
    pairs = [(a, b) for group in (first, second) for a in group for b in group if a < b]
    sources, targets = np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])
    weights = rng.integers(1, 5, len(pairs)).astype(float)
    sources, targets, weights = np.r_[sources, 9], np.r_[targets, 10], np.r_[weights, 1.0]  # one weak bridge
    vectors = node_vectors(weighted_walks(sources, targets, weights, nodes=20, walk_length=20), nodes=20,
                           dimension=16, epochs=10)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    within = np.mean([similarity[a, b] for a in first for b in first if a != b])
    across = np.mean([similarity[a, b] for a in first for b in second])
    assert within > across + 0.3
