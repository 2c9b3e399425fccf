"""Paper 001's word space: Word2Vec neighbours, TF-IDF caption vectors, retrieval, t-SNE, save/load."""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path

import numpy as np
import pytest

from models.word_space import (
    UnknownWords,
    WordSpace,
    WordSpaceSettings,
    language_counts,
    nearest_rows,
    top_words_by_language,
    train_word_space,
    tsne_map,
)
from storage.word_vectors import load_word_space, save_word_space

BEER = ["beer", "cerveza", "brewery", "lager"]
FOOD = ["food", "paella", "tapas", "restaurant"]
SMALL = WordSpaceSettings(dimensions=16, window=3, epochs=50, min_count=1, workers=1)


def topic_corpus(seed: int = 0, captions: int = 400) -> list[list[str]]:
    """Captions about beer or food, each with shared filler words and "barcelona"."""
    rng = random.Random(seed)
    filler = [f"w{i}" for i in range(20)]
    corpus = []
    for i in range(captions):
        caption = rng.sample(BEER if i % 2 else FOOD, 3) + rng.sample(filler, 2) + ["barcelona"]
        rng.shuffle(caption)
        corpus.append(caption)
    return corpus


@pytest.fixture(scope="module")
def space() -> WordSpace:
    """A small word space trained on the beer / food corpus."""
    return train_word_space(topic_corpus(), SMALL)


def test_nearest_words_rank_cooccurring_words_above_the_other_topic(space: WordSpace) -> None:
    """Nearest words rank cooccurring words above the other topic."""
    ranking = [word for word, _ in space.nearest_words(["beer"], topn=len(space.vectors))]
    assert "beer" not in ranking
    assert max(ranking.index(word) for word in ("cerveza", "brewery", "lager")) < min(
        ranking.index(word) for word in FOOD
    )
    scores = [score for _, score in space.nearest_words(["beer"], topn=5)]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)


def test_combined_query_is_the_unit_sum_of_unit_vectors_and_excludes_the_query_words(space: WordSpace) -> None:
    """Combined query is the unit sum of unit vectors and excludes the query words."""
    unit = {word: space.vectors[word] / np.linalg.norm(space.vectors[word]) for word in ("beer", "food")}
    expected = unit["beer"] + unit["food"]
    np.testing.assert_allclose(space.query_vector(["beer", "food"]), expected / np.linalg.norm(expected), atol=1e-6)
    words = [word for word, _ in space.nearest_words(["beer", "food"], topn=len(space.vectors))]
    assert "beer" not in words and "food" not in words and len(words) == len(space.vectors) - 2


def test_training_is_repeatable_for_a_seed_with_one_worker() -> None:
    """Training is repeatable for a seed with one worker."""
    corpus = topic_corpus(captions=100)
    first, again = train_word_space(corpus, SMALL), train_word_space(corpus, SMALL)
    other_seed = train_word_space(corpus, WordSpaceSettings(**{**SMALL.__dict__, "seed": 14}))
    assert first.vectors.index_to_key == again.vectors.index_to_key
    np.testing.assert_array_equal(first.vectors.vectors, again.vectors.vectors)
    assert not np.array_equal(first.vectors.vectors, other_seed.vectors.vectors)


def test_min_count_drops_rare_words_and_an_empty_vocabulary_is_an_error() -> None:
    """Min count drops rare words and an empty vocabulary is an error."""
    corpus = [["often", "rare"], ["often"], ["often"]]
    assert train_word_space(corpus, WordSpaceSettings(dimensions=4, epochs=1, min_count=2)).vectors.index_to_key == [
        "often"
    ]
    with pytest.raises(ValueError, match="min_count=5"):
        train_word_space(corpus, WordSpaceSettings(dimensions=4, epochs=1))


def test_caption_vector_is_the_tfidf_weighted_mean_of_known_words() -> None:
    """Caption vector is the tfidf weighted mean of known words."""
    corpus = [["x", "a", "b"], ["x", "a", "c"], ["x", "b"], ["x", "d"]]
    space = train_word_space(corpus, WordSpaceSettings(dimensions=8, epochs=2, min_count=1, workers=1))
    idf = dict(zip(space.vectors.index_to_key, space.idf, strict=True))
    hand_idf = {"x": 0.0, "a": 1.0, "b": 1.0, "c": 2.0, "d": 2.0}  # log2(4 captions / captions with the word)
    assert idf == pytest.approx(hand_idf)
    v = space.vectors

    vectors, has_vector = space.caption_vectors(
        [["b", "b", "c", "unknown"], ["x", "x", "a"], ["x", "x"], ["unknown"], []]
    )
    assert vectors.dtype == np.float32 and vectors.shape == (5, 8)
    assert has_vector.tolist() == [True, True, True, False, False]
    np.testing.assert_allclose(vectors[0], (2 * 1.0 * v["b"] + 1 * 2.0 * v["c"]) / (2 * 1.0 + 1 * 2.0), rtol=1e-5)
    np.testing.assert_allclose(vectors[1], v["a"], rtol=1e-5)  # x weighs 0
    np.testing.assert_allclose(vectors[2], v["x"], rtol=1e-5)  # only IDF-0 words: their plain mean
    np.testing.assert_array_equal(vectors[3:], 0)


def test_unknown_words_are_all_named_with_suggestions(space: WordSpace) -> None:
    """Unknown words are all named with suggestions."""
    with pytest.raises(UnknownWords) as caught:
        space.nearest_words(["beer", "beeer", "qqqq"])
    error = caught.value
    assert isinstance(error, KeyError)
    assert error.missing == ["beeer", "qqqq"]
    assert "beer" in error.suggestions["beeer"] and error.suggestions["qqqq"] == []
    assert "'beeer' (did you mean 'beer'" in str(error) and "'qqqq'" in str(error)
    with pytest.raises(UnknownWords, match="paelya"):
        space.query_vector(["paelya"])


def test_nearest_rows_orders_by_cosine_and_never_returns_zero_rows() -> None:
    """Nearest rows orders by cosine and never returns zero rows."""
    matrix = np.array([[0, 0], [1, 0], [10, 1], [0, 1], [-1, 0], [2, 0]], dtype=np.float32)
    indices, scores = nearest_rows(matrix, np.array([1.0, 0.0]), k=3)
    assert indices.tolist() == [1, 5, 2]  # rows 1 and 5 tie at cosine 1: row order
    np.testing.assert_allclose(scores, [1.0, 1.0, 10 / math.sqrt(101)], rtol=1e-6)
    everything, _ = nearest_rows(matrix, np.array([1.0, 0.0]), k=10)
    assert everything.tolist() == [1, 5, 2, 3, 4]
    with pytest.raises(ValueError, match="zero"):
        nearest_rows(matrix, np.zeros(2), k=1)


def test_language_counts_and_top_words_by_language() -> None:
    """Language counts and top words by language."""
    languages = ["es", "en", "es", "ca", "es", "en"]
    token_lists = [
        ["tapas", "barcelona", "tapas"],
        ["beer", "barcelona"],
        ["tapas", "vino"],
        ["cervesa"],
        ["vino", "playa"],
        ["beer", "food"],
    ]
    assert language_counts(languages) == [("es", 3), ("en", 2), ("ca", 1)]
    top = top_words_by_language(token_lists, languages, top=2, exclude={"barcelona"})
    assert list(top) == ["es", "en", "ca"]
    assert top == {"es": [("tapas", 2), ("vino", 2)], "en": [("beer", 2), ("food", 1)], "ca": [("cervesa", 1)]}
    with pytest.raises(ValueError):
        top_words_by_language(token_lists, languages[:-1])


def test_tsne_map_shape_and_determinism_for_a_seed(caplog: pytest.LogCaptureFixture) -> None:
    """Tsne map shape and determinism for a seed."""
    vectors = np.random.default_rng(0).normal(size=(60, 10)).astype(np.float32)
    xy = tsne_map(vectors, seed=5)
    assert xy.shape == (60, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    np.testing.assert_array_equal(xy, tsne_map(vectors, seed=5))
    assert not np.array_equal(xy, tsne_map(vectors, seed=6))
    with caplog.at_level(logging.WARNING):
        assert tsne_map(vectors[:5]).shape == (5, 2)
    assert "too high" not in caplog.text  # we lower the perplexity ourselves, openTSNE need not complain
    with pytest.raises(ValueError, match="at least 4"):
        tsne_map(vectors[:3])


def test_save_load_round_trip_keeps_vectors_weights_and_neighbours(space: WordSpace, tmp_path: Path) -> None:
    """Save load round trip keeps vectors weights and neighbours."""
    target = tmp_path / "models" / "word_space"
    assert save_word_space(target, space.vectors, space.idf) == target
    loaded = WordSpace(*load_word_space(target))
    assert loaded.vectors.index_to_key == space.vectors.index_to_key
    np.testing.assert_array_equal(loaded.vectors.vectors, space.vectors.vectors)
    np.testing.assert_array_equal(loaded.idf, space.idf)
    assert loaded.nearest_words(["beer", "barcelona"]) == space.nearest_words(["beer", "barcelona"])
    captions = [["beer", "tapas"], ["nothing"]]
    for mine, theirs in zip(loaded.caption_vectors(captions), space.caption_vectors(captions), strict=True):
        np.testing.assert_array_equal(mine, theirs)

    smaller = train_word_space([["one", "two"], ["two"]], WordSpaceSettings(dimensions=4, epochs=1, min_count=1))
    save_word_space(target, smaller.vectors, smaller.idf)
    assert load_word_space(target)[0].index_to_key == ["two", "one"]
    assert sorted(path.name for path in target.parent.iterdir()) == ["word_space"]
