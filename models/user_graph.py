"""Users as vectors from the weighted mention graph (paper 002's user part): node2vec with p = q = 1.

An edge u -> v weighs the posts in which u mentions v; the graph is taken as undirected (as node2vec is usually run
on mention graphs). With p = q = 1 node2vec's walks are weighted random walks, drawn here for all walkers at once
in NumPy (one ``searchsorted`` per step over the cumulative edge weights), then gensim's skip-gram turns the walks
into vectors. fastnode2vec 0.0.7, the paper's implementation, fails on gensim 4.4 (``_train_epoch() got an
unexpected keyword argument 'progress_bar'``) and pecanpy 2.0.9 requires numpy < 2, hence the walks here.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from gensim.models import Word2Vec


def weighted_walks(sources: np.ndarray, targets: np.ndarray, weights: np.ndarray, nodes: int,
                   walks_per_node: int = 10, walk_length: int = 20, seed: int = 0) -> np.ndarray:
    """(nodes * walks_per_node, walk_length) node ids: from every node, walks whose next step is a neighbour drawn
    in proportion to the edge weight; a node without neighbours stays where it is."""
    both = sp.coo_matrix(
        (np.r_[weights, weights].astype(np.float64), (np.r_[sources, targets], np.r_[targets, sources])),
        shape=(nodes, nodes),
    ).tocsr()
    both.sum_duplicates()
    cumulative = np.cumsum(both.data)
    before_row = np.r_[0.0, cumulative][both.indptr[:-1]]
    row_total = np.r_[0.0, cumulative][both.indptr[1:]] - before_row
    rng = np.random.default_rng(seed)
    walks = np.empty((nodes * walks_per_node, walk_length), dtype=np.int64)
    walks[:, 0] = np.tile(np.arange(nodes), walks_per_node)
    for step in range(1, walk_length):
        current = walks[:, step - 1]
        moving = row_total[current] > 0
        target = before_row[current] + rng.random(len(current)) * row_total[current]
        edge = np.minimum(np.searchsorted(cumulative, target, side="right"), len(cumulative) - 1)
        walks[:, step] = np.where(moving, both.indices[edge] if len(cumulative) else current, current)
    return walks


def node_vectors(walks: np.ndarray, nodes: int, dimension: int = 300, window: int = 5, epochs: int = 5,
                 seed: int = 0, workers: int = 1) -> np.ndarray:
    """(nodes, dimension) skip-gram vectors of the walks (zeros for a node no walk visits)."""
    sentences = [[str(node) for node in walk] for walk in walks.tolist()]
    model = Word2Vec(sentences, vector_size=dimension, window=window, min_count=1, sg=1, workers=workers,
                     epochs=epochs, seed=seed)
    vectors = np.zeros((nodes, dimension), dtype=np.float32)
    for node in range(nodes):
        if str(node) in model.wv:
            vectors[node] = model.wv[str(node)]
    return vectors
