"""The tweet tokenizer, the vocabulary and the hashed split."""

from collections import Counter

import numpy as np
import pytest

from models.split import assign_splits, split_fraction
from models.text import CLASSIFIER_TOKENIZER, WORD_SPACE_TOKENIZER, TweetTokenizer, Vocabulary


def test_tokenizer_handles_urls_mentions_hashtags_emoji_and_case():
    tokens = CLASSIFIER_TOKENIZER("@Ana LOVE #BarcelonaFood 🍕 at https://t.co/abc, 2016 l’any")
    assert tokens == ["<user>", "love", "barcelonafood", "🍕", "at", "<url>", "<number>", "l'any"]


def test_hashtags_can_keep_their_sign_and_placeholders_can_go():
    tokenizer = TweetTokenizer(hashtags="keep", placeholders=False)
    assert tokenizer("see #Gaudi @bob http://x.y 12") == ["see", "#gaudi"]


def test_word_space_tokenizer_drops_en_es_ca_stop_words():
    tokens = WORD_SPACE_TOKENIZER("The paella de la Barceloneta i el vermut")
    assert tokens == ["paella", "barceloneta", "vermut"]


def test_vocabulary_pads_with_zero_and_maps_rare_tokens_to_unknown():
    documents = [["a", "b", "a"], ["a", "c"]]
    vocabulary = Vocabulary.build(documents, min_count=2)
    assert vocabulary.tokens == ("<pad>", "<unk>", "a")
    assert vocabulary.encode([["a", "zzz"], []], max_length=3).tolist() == [[2, 1, 0], [0, 0, 0]]


def test_split_is_fixed_by_post_id_and_close_to_80_5_15():
    ids = [f"twitter:{i}" for i in range(20_000)]
    first, again = assign_splits(ids), assign_splits(list(reversed(ids)))[::-1]
    assert (first == again).all()
    shares = Counter(first.tolist())
    assert shares["train"] / 20_000 == pytest.approx(0.80, abs=0.01)
    assert shares["val"] / 20_000 == pytest.approx(0.05, abs=0.01)
    assert shares["test"] / 20_000 == pytest.approx(0.15, abs=0.01)
    assert split_fraction("twitter:1") != split_fraction("twitter:1", salt="other")


def test_split_rejects_fractions_that_do_not_add_up():
    with pytest.raises(ValueError, match="adding up to 1"):
        assign_splits(["a"], (0.5, 0.2, 0.2))
    assert assign_splits([], (0.8, 0.1, 0.1)).shape == (0,)
    assert set(assign_splits(["x", "y"], (1.0, 0.0, 0.0))) == {"train"}
    assert isinstance(assign_splits(["x"]), np.ndarray)
