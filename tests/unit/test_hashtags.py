"""Hashtag splitting with the corpus's word counts."""

from __future__ import annotations

from models.hashtags import split_hashtag

COUNTS = {"barcelona": 50, "beach": 30, "bar": 40, "cel": 1, "ona": 1, "bon": 20, "dia": 25, "sun": 10,
          "day": 30, "sunday": 15, "love": 60, "the": 500, "best": 40, "be": 80, "st": 2}


def test_known_words_win_over_fragments() -> None:
    assert split_hashtag("barcelonabeach", COUNTS) == ["barcelona", "beach"]
    assert split_hashtag("#BonDia", COUNTS) == ["bon", "dia"]
    assert split_hashtag("thebest", COUNTS) == ["the", "best"]


def test_a_known_whole_word_stays_whole() -> None:
    assert split_hashtag("sunday", COUNTS) == ["sunday"]


def test_unknown_stretches_stay_in_one_piece() -> None:
    assert split_hashtag("lovexyzzy", COUNTS) == ["love", "xyzzy"]
    assert split_hashtag("qwrtp", COUNTS) == ["qwrtp"]
    assert split_hashtag("", COUNTS) == []
