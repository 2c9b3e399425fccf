"""Tweet-aware tokenizer and vocabulary shared by every text model."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

URL_TOKEN, USER_TOKEN, NUMBER_TOKEN = "<url>", "<user>", "<number>"
PAD, UNK = "<pad>", "<unk>"
STOPWORD_LANGUAGES = ("en", "es", "ca")

_TOKEN = re.compile(
    r"(?P<url>https?://\S+|www\.\S+)"
    r"|(?P<mention>@\w+)"
    r"|(?P<hashtag>#\w+)"
    r"|(?P<word>[^\W\d_]+(?:['’][^\W\d_]+)*)"
    r"|(?P<number>\d+(?:[.,:]\d+)*)"
    r"|(?P<symbol>[^\w\s])",
    re.UNICODE,
)


def _is_emoji(char: str) -> bool:
    """Pictographs, dingbats and other symbols (Unicode category So); skin-tone and joiner marks excluded."""
    return unicodedata.category(char) == "So"


@lru_cache(maxsize=8)
def stop_words(languages: tuple[str, ...] = STOPWORD_LANGUAGES) -> frozenset[str]:
    """Stop words of the given ISO 639-1 languages, from the stopwords-iso lists (package `stopwordsiso`)."""
    import stopwordsiso

    return frozenset(word.lower() for word in stopwordsiso.stopwords(list(languages)))


@dataclass(frozen=True)
class TweetTokenizer:
    """Splits a post into lower-cased tokens; URLs, mentions, numbers and emoji are handled explicitly.

    hashtags: "word" turns `#BarcelonaFood` into `barcelonafood` (paper 001 treats hashtags as words),
    "keep" keeps the `#`, "drop" leaves hashtags out (paper 002's text part). URLs and mentions become placeholder
    tokens, or vanish with `placeholders=False`.
    """

    lowercase: bool = True
    hashtags: str = "word"
    placeholders: bool = True
    emoji: bool = True
    numbers: bool = True
    remove_stop_words: bool = False
    stop_word_languages: tuple[str, ...] = STOPWORD_LANGUAGES
    min_length: int = 1

    def __call__(self, text: str | None) -> list[str]:
        """The tokens of ``text`` (empty for a missing text)."""
        if not text:
            return []
        stop = stop_words(self.stop_word_languages) if self.remove_stop_words else frozenset()
        tokens: list[str] = []
        for match in _TOKEN.finditer(text):
            kind, value = match.lastgroup, match.group()
            if kind == "url" or kind == "mention":
                if self.placeholders:
                    tokens.append(URL_TOKEN if kind == "url" else USER_TOKEN)
                continue
            if kind == "number":
                if self.numbers and self.placeholders:
                    tokens.append(NUMBER_TOKEN)
                continue
            if kind == "symbol":
                if self.emoji and _is_emoji(value):
                    tokens.append(value)
                continue
            if kind == "hashtag" and self.hashtags == "drop":
                continue
            if kind == "hashtag" and self.hashtags == "word":
                value = value[1:]
            if self.lowercase:
                value = value.lower()
            value = value.replace("’", "'")
            bare = value.lstrip("#")
            if len(bare) < self.min_length or bare in stop:
                continue
            tokens.append(value)
        return tokens

    def many(self, texts: Iterable[str | None]) -> list[list[str]]:
        """The tokens of each text."""
        return [self(text) for text in texts]


CLASSIFIER_TOKENIZER = TweetTokenizer()
"""Keeps stop words (negations carry sentiment) and placeholders."""

WORD_SPACE_TOKENIZER = TweetTokenizer(placeholders=False, remove_stop_words=True, min_length=2)
"""Paper 001: content words only, en/es/ca stop words removed, hashtags as words."""


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> id mapping; id 0 pads, id 1 stands for tokens not in the vocabulary."""

    tokens: tuple[str, ...]

    @classmethod
    def build(cls, documents: Iterable[Sequence[str]], min_count: int = 2, max_size: int = 50_000) -> Vocabulary:
        """The vocabulary of the tokens used at least ``min_count`` times, most frequent first, at most ``max_size``."""
        counts = Counter(token for document in documents for token in document)
        frequent = [token for token, count in counts.most_common() if count >= min_count][: max_size - 2]
        return cls((PAD, UNK, *sorted(frequent, key=lambda t: (-counts[t], t))))

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def index(self) -> dict[str, int]:
        """Token -> position."""
        return _index(self.tokens)

    def encode(self, documents: Sequence[Sequence[str]], max_length: int = 64) -> np.ndarray:
        """Documents as a (n, max_length) int64 array of ids, right-padded with 0 and truncated."""
        index = self.index
        ids = np.zeros((len(documents), max_length), dtype=np.int64)
        for row, document in enumerate(documents):
            encoded = [index.get(token, 1) for token in document[:max_length]]
            ids[row, : len(encoded)] = encoded
        return ids


@lru_cache(maxsize=4)
def _index(tokens: tuple[str, ...]) -> dict[str, int]:
    return {token: position for position, token in enumerate(tokens)}
