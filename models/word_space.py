"""Paper 001's word space: Word2Vec over caption tokens, TF-IDF-weighted caption vectors, retrieval and t-SNE maps."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from gensim.corpora import Dictionary
from gensim.models import KeyedVectors, TfidfModel, Word2Vec
from openTSNE import TSNE
from scipy import sparse

from models.settings import Settings


@dataclass(frozen=True)
class WordSpaceSettings(Settings):
    """Word2Vec settings; the defaults are paper 001's (300-d, window 8, 50 epochs).

    skip_gram: False trains CBOW, gensim's default and so what the paper (which names no algorithm) ran; CBOW is
    also several times faster on 100k+ captions. True trains skip-gram, better for rare words at a higher cost.
    Reproducibility: gensim seeds the initial vectors and negative sampling from `seed`, so with workers=1 training
    is bit-for-bit repeatable (also across processes); with workers > 1 the threads' interleaving changes the
    result slightly from run to run.
    """

    dimensions: int = 300
    window: int = 8
    epochs: int = 50
    min_count: int = 5
    workers: int = 2
    seed: int = 13
    skip_gram: bool = False


class UnknownWords(KeyError):
    """Query words that are not in the word space's vocabulary, with close vocabulary words as suggestions."""

    def __init__(self, missing: Sequence[str], suggestions: dict[str, list[str]]) -> None:
        super().__init__(*missing)
        self.missing = list(missing)
        self.suggestions = suggestions

    def __str__(self) -> str:
        parts = []
        for word in self.missing:
            close = self.suggestions.get(word)
            parts.append(f"{word!r} (did you mean {', '.join(map(repr, close))}?)" if close else repr(word))
        return "not in the word space vocabulary: " + "; ".join(parts)


@dataclass(frozen=True, eq=False)
class WordSpace:
    """Word vectors plus the IDF weight of every vocabulary word (aligned with `vectors.index_to_key`)."""

    vectors: KeyedVectors
    idf: np.ndarray

    def __post_init__(self) -> None:
        if self.idf.shape != (len(self.vectors),):
            raise ValueError(f"idf has shape {self.idf.shape}, expected ({len(self.vectors)},)")

    @property
    def dimensions(self) -> int:
        """The vectors' size."""
        return self.vectors.vector_size

    def caption_vectors(self, token_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(n, d) float32 TF-IDF-weighted means of each caption's known word vectors, and which captions had one.

        Weights are term count x IDF; words outside the vocabulary are skipped. A caption whose known words all
        have IDF 0 (they occur in every training caption) gets the plain mean of them; one with no known word
        gets a zero vector and False.
        """
        index = self.vectors.key_to_index
        columns: list[int] = []
        indptr = [0]
        for tokens in token_lists:
            columns.extend(position for token in tokens if (position := index.get(token)) is not None)
            indptr.append(len(columns))
        counts = sparse.csr_matrix(
            (np.ones(len(columns), dtype=np.float32), np.asarray(columns, dtype=np.int64), np.asarray(indptr)),
            shape=(len(token_lists), len(index)),
        )
        counts.sum_duplicates()
        weights = counts.multiply(self.idf[np.newaxis, :]).tocsr()
        vectors = np.asarray(weights @ self.vectors.vectors, dtype=np.float32)
        totals = np.asarray(weights.sum(axis=1)).ravel()
        has_vector = np.diff(counts.indptr) > 0
        unweighted = has_vector & (totals <= 0)
        if unweighted.any():
            vectors[unweighted] = counts[unweighted] @ self.vectors.vectors
            totals[unweighted] = np.asarray(counts[unweighted].sum(axis=1)).ravel()
        vectors[has_vector] /= totals[has_vector, np.newaxis]
        return vectors, has_vector

    def query_vector(self, words: Sequence[str]) -> np.ndarray:
        """Unit vector of the sum of the words' unit vectors (paper 001's "barcelona + food")."""
        self._check_known(words)
        return self.vectors.get_mean_vector(list(words), pre_normalize=True, post_normalize=True)

    def nearest_words(self, words: Sequence[str], topn: int = 10) -> list[tuple[str, float]]:
        """The `topn` vocabulary words closest (cosine) to the combination of `words`, the query words excluded."""
        self._check_known(words)
        return [(word, float(score)) for word, score in self.vectors.most_similar(positive=list(words), topn=topn)]

    def _check_known(self, words: Sequence[str]) -> None:
        if not words:
            raise ValueError("no query words given")
        missing = [word for word in dict.fromkeys(words) if word not in self.vectors.key_to_index]
        if missing:
            vocabulary = self.vectors.index_to_key
            raise UnknownWords(missing, {word: difflib.get_close_matches(word, vocabulary, n=3) for word in missing})


def train_word_space(
    token_lists: Sequence[Sequence[str]], settings: WordSpaceSettings = WordSpaceSettings()
) -> WordSpace:
    """Train Word2Vec on the tokenised captions and gensim's TF-IDF model (IDF = log2(N / df)) on the same corpus."""
    dictionary = Dictionary(token_lists)
    if not any(count >= settings.min_count for count in dictionary.cfs.values()):
        raise ValueError(f"no word occurs at least min_count={settings.min_count} times in the corpus")
    model = Word2Vec(
        sentences=token_lists,
        vector_size=settings.dimensions,
        window=settings.window,
        epochs=settings.epochs,
        min_count=settings.min_count,
        workers=settings.workers,
        seed=settings.seed,
        sg=int(settings.skip_gram),
    )
    idfs = TfidfModel(dictionary=dictionary).idfs
    keyed = model.wv
    idf = np.array([idfs[dictionary.token2id[word]] for word in keyed.index_to_key], dtype=np.float32)
    return WordSpace(keyed, idf)


def nearest_rows(matrix: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine scores of the `k` rows of `matrix` closest to `query`, best first.

    All-zero rows (captions or images without a vector) are never returned; ties keep row order.
    """
    norms = np.linalg.norm(matrix, axis=1)
    query_norm = float(np.linalg.norm(query))
    if query_norm == 0:
        raise ValueError("query vector is zero")
    candidates = np.flatnonzero(norms > 0)
    scores = (matrix[candidates] @ query) / (norms[candidates] * query_norm)
    k = min(k, len(candidates))
    if k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    top = np.argpartition(-scores, k - 1)[:k] if k < len(candidates) else np.arange(len(candidates))
    top = top[np.lexsort((candidates[top], -scores[top]))]
    return candidates[top], scores[top].astype(np.float32)


def language_counts(languages: Iterable[str]) -> list[tuple[str, int]]:
    """(language, posts) pairs, most frequent first, ties by name."""
    return sorted(Counter(languages).items(), key=lambda pair: (-pair[1], pair[0]))


def top_words_by_language(
    token_lists: Sequence[Sequence[str]], languages: Sequence[str], top: int = 15, exclude: Collection[str] = ()
) -> dict[str, list[tuple[str, int]]]:
    """Per language (most posts first), the `top` words by number of posts using them; `exclude` drops words
    such as the collection's own query term ("barcelona")."""
    if len(token_lists) != len(languages):
        raise ValueError(f"{len(token_lists)} token lists but {len(languages)} languages")
    counters: dict[str, Counter[str]] = {}
    for tokens, language in zip(token_lists, languages, strict=True):
        counters.setdefault(language, Counter()).update(set(tokens).difference(exclude))
    return {
        language: sorted(counters[language].items(), key=lambda pair: (-pair[1], pair[0]))[:top]
        for language, _ in language_counts(languages)
    }


def tsne_map(vectors: np.ndarray, seed: int = 13, perplexity: float = 30.0, n_jobs: int = 1) -> np.ndarray:
    """(n, 2) float32 openTSNE embedding of the rows' directions (rows are L2-normalised, so distances follow cosine).

    Perplexity is lowered to (n - 1) / 3 for small n, as t-SNE needs 3 x perplexity neighbours. The result is
    repeatable for a seed with n_jobs=1.
    """
    n = len(vectors)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    data = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    data = np.divide(data, norms, out=np.zeros_like(data), where=norms > 0)
    tsne = TSNE(
        n_components=2, perplexity=min(perplexity, (n - 1) / 3), random_state=seed, n_jobs=n_jobs, verbose=False
    )
    return np.asarray(tsne.fit(data), dtype=np.float32)
