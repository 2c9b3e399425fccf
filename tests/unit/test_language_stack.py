"""The stacked language identifier: its pieces on hand-made input, and the whole on real TweetLID tweets."""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa
import pytest

from models.language_id import (
    CANDIDATES,
    LanguageModel,
    author_prior,
    balanced_accuracy,
    char_ngram_counts,
    fit_language_model,
    normalise,
)
from tasks.curate_run import load_detector
from tasks.filters import CurateConfig, FastDetector, StackDetector, run_rules
from tests.unit.test_curate import needs_tweetlid, posts, tweetlid_rows


def test_normalise_keeps_only_the_words() -> None:
    text = "Holaaaa @amiga!! Mira https://t.co/x pic.twitter.com/abc #BonDia 😀 123 l'àvia"
    assert normalise([text, None, ""]) == ["holaa mira bon dia l'àvia", "", ""]


def test_char_ngrams_count_every_ngram_of_the_padded_text() -> None:
    counts = char_ngram_counts(["ab", "aaa"], n_features=2**20).toarray()
    # " ab ": 4 unigrams (the space twice), 3 bigrams, 2 trigrams, 1 4-gram
    assert counts[0].sum() == 4 + 3 + 2 + 1
    assert (counts[0] > 0).sum() == 3 + 3 + 2 + 1
    # " aaa ": unigrams ' ' x2 and 'a' x3; bigrams ' a', 'aa' x2, 'a '; trigrams ' aa', 'aaa', 'aa '; 4-grams 2
    assert sorted(counts[1][counts[1] > 0].tolist()) == [1] * 7 + [2, 2, 3]
    # no n-gram spans two texts: the same text alone gives the same row
    assert (char_ngram_counts(["aaa"], n_features=2**20).toarray()[0] == counts[1]).all()


def test_author_prior_is_the_mean_of_the_other_posts() -> None:
    base = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    prior, others = author_prior(base, np.array([0, 0, 0, -1]))
    assert others.tolist() == [2, 2, 2, 0]
    # post 0: others are [0,1] and [1,0] -> sum [1,1], smoothed (+1/2 each) over 3 -> [0.5, 0.5]
    np.testing.assert_allclose(prior[0], [0.5, 0.5])
    np.testing.assert_allclose(prior[1], [(2 + 0.5) / 3, 0.5 / 3])
    np.testing.assert_allclose(prior[3], [0.5, 0.5])  # no author: uniform


def _stack(model: LanguageModel) -> StackDetector:
    return StackDetector(model)


def _table(rows: list[list[str]]) -> pa.Table:
    return posts(*({"post_id": f"t:{row[0]}", "author_id": row[1], "text": row[3]} for row in rows))


@pytest.mark.shared_data
@needs_tweetlid
def test_stack_fitted_on_some_users_beats_fasttext_on_the_others() -> None:
    """Fit on two thirds of the users, decide the tweets of the others through the curate rule: the stack (with the
    author prior) must beat fastText alone by a clear margin, and the prior must help."""
    rows = [row for row in tweetlid_rows() if row[2] in CANDIDATES]
    held_out = {user for user in {row[1] for row in rows} if zlib.crc32(user.encode()) % 3 == 0}  # stable split
    train = [row for row in rows if row[1] not in held_out]
    test = [row for row in rows if row[1] in held_out]
    model, report = fit_language_model([r[3] for r in train], [r[2] for r in train], [r[1] for r in train],
                                       n_features=2**16, folds=3)
    should_keep = np.array([row[2] in ("es", "ca", "en") for row in test])
    table = _table(test)
    scores = {}
    for name, detector in (("stack", _stack(model)), ("fast", FastDetector())):
        (result,) = run_rules(table, CurateConfig(rules=("language",), detector=name), detector)
        kept = result.kept.to_numpy(zero_copy_only=False)
        scores[name] = (kept[should_keep].mean() + (~kept[~should_keep]).mean()) / 2
    no_prior = table.set_column(table.schema.get_field_index("author_id"), "author_id",
                                pa.array([f"alone-{i}" for i in range(len(test))]))
    (alone,) = run_rules(no_prior, CurateConfig(rules=("language",)), _stack(model))
    kept = alone.kept.to_numpy(zero_copy_only=False)
    scores["stack without authors"] = (kept[should_keep].mean() + (~kept[~should_keep]).mean()) / 2
    assert scores["stack"] > scores["stack without authors"] > scores["fast"] + 0.03, scores
    assert scores["stack"] > 0.93, scores
    # the fit's own out-of-fold figures agree with the held-out users
    kept_class = np.isin(np.array(CANDIDATES), ["es", "ca", "en"])
    oof = balanced_accuracy(report.context[:, kept_class].sum(axis=1), kept_class[report.labels],
                            float(model.threshold))
    assert abs(oof - scores["stack"]) < 0.03, (oof, scores)


def test_the_author_prior_decides_an_ambiguous_post() -> None:
    catalan = ["Bon dia a tothom, avui fa molt de sol", "Anem a la platja aquesta tarda amb els amics",
               "Quina calor que fa avui a Barcelona", "Moltes gràcies per tot, ens veiem demà"]
    galician = ["Bos días a todos, hoxe vai moita calor", "Imos á praia esta tarde cos amigos",
                "Moitas grazas por todo, vémonos mañá", "Que ben se está na casa cando chove"]
    ambiguous = "que calor"
    table = posts(*(
        [{"author_id": "cat", "text": text} for text in [*catalan, ambiguous]]
        + [{"author_id": "gal", "text": text} for text in [*galician, ambiguous]]
    ))
    (result,) = run_rules(table, CurateConfig(rules=("language",)), load_detector("stack"))
    lang = result.lang.to_pylist()
    assert lang[:4] == ["ca"] * 4 and lang[5:9] == ["gl"] * 4
    assert (lang[4], lang[9]) == ("ca", "gl")
    assert result.kept.to_pylist()[4] is True and result.kept.to_pylist()[9] is False
    assert result.detail.to_pylist()[9].startswith("lang=gl p(allowed)=")


def test_cached_stage_one_is_reused_and_gives_the_same_decisions() -> None:
    texts = ["Bon dia a tothom", "Boa tarde a todos vocês", "good morning everyone", "que calor"]
    table = posts(*({"author_id": "a", "text": text} for text in texts))
    detector = load_detector("stack")
    (first,) = run_rules(table, CurateConfig(rules=("language",)), detector)
    assert first.detected.all() and len(first.lang_scores[0]) == len(CANDIDATES) + 1
    cached = table.set_column(table.schema.get_field_index("lang_scores"), "lang_scores", first.lang_scores)
    cached = cached.set_column(cached.schema.get_field_index("lang_detector"), "lang_detector",
                               pa.array(["stack"] * len(texts)))

    class Refusing(StackDetector):
        def detect(self, texts: list[str]) -> list:
            raise AssertionError(f"detected again: {texts}")

    (second,) = run_rules(cached, CurateConfig(rules=("language",)), Refusing(detector.model))
    assert not second.detected.any()
    assert second.kept.to_pylist() == first.kept.to_pylist() and second.lang.to_pylist() == first.lang.to_pylist()


@pytest.mark.parametrize("too_short, kept", [("detect", [True, False, True]), ("keep", [True, True, True]),
                                             ("drop", [False, False, True])])
def test_too_short_posts_are_a_decision(too_short: str, kept: list[bool]) -> None:
    table = posts({"text": "bon dia", "author_id": "a"}, {"text": "obrigado", "author_id": "b"},
                  {"text": "bon dia a tothom, com anem?", "author_id": "c"})
    config = CurateConfig(rules=("language",), too_short=too_short, min_letters=10)
    (result,) = run_rules(table, config, load_detector("stack"))
    assert result.kept.to_pylist() == kept
    if too_short == "drop":
        assert result.detail.to_pylist()[:2] == ["too short to tell (< 10 letters)"] * 2


def test_languages_outside_the_model_fall_back_to_fasttext() -> None:
    table = posts({"text": "bonjour tout le monde, il fait beau"}, {"text": "buenos días a todos"})
    (result,) = run_rules(table, CurateConfig(rules=("language",), languages=("fr",)),
                          load_detector("stack"))
    assert result.lang_detector == "fast" and result.kept.to_pylist() == [True, False]


def test_other_languages_are_dropped_by_the_stack() -> None:
    table = posts({"text": "Ich gehe heute Abend mit meinen Freunden ins Kino"},
                  {"text": "Questa sera andiamo al cinema con gli amici"})
    (result,) = run_rules(table, CurateConfig(rules=("language",)), load_detector("stack"))
    assert result.lang.to_pylist() == ["other", "other"] and result.kept.to_pylist() == [False, False]


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path) -> None:
    from storage.language_models import read_model_arrays

    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="is not a language model file"):
        read_model_arrays(broken)
    with pytest.raises(FileNotFoundError, match="postatlas train language"):
        read_model_arrays(tmp_path / "missing.npz")
