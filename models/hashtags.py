"""Hashtags split into words (paper 002's hashtag part is the mean word vector of a post's split hashtags).

Hashtags are stored lower-cased ("barcelonabeach"), so the split uses the corpus itself: the most probable
sequence of known words under a unigram model of the word counts (Viterbi over the characters); a stretch no known
word covers stays one piece. Counts come from the warehouse's own texts, so it works in any language.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

MAX_WORD = 24  # longest word tried
UNKNOWN_PER_CHARACTER = 10.0  # penalty (in nats) per character of a stretch no known word covers


def split_hashtag(tag: str, counts: Mapping[str, int], min_length: int = 2) -> list[str]:
    """``tag``'s most probable split into words of ``counts`` (words shorter than ``min_length`` only when the
    tag is that short); the whole tag when it is a known word."""
    tag = tag.lower().lstrip("#")
    if not tag:
        return []
    total = sum(counts.values()) or 1
    unknown_cost = math.log(total) + UNKNOWN_PER_CHARACTER
    best = [0.0] + [math.inf] * len(tag)
    back = [0] * (len(tag) + 1)
    for end in range(1, len(tag) + 1):
        for start in range(max(0, end - MAX_WORD), end):
            piece = tag[start:end]
            count = counts.get(piece, 0) if len(piece) >= min_length or len(piece) == len(tag) else 0
            cost = -math.log(count / total) if count else unknown_cost * len(piece)
            if best[start] + cost < best[end]:
                best[end], back[end] = best[start] + cost, start
    pieces, end = [], len(tag)
    while end > 0:
        pieces.append(tag[back[end] : end])
        end = back[end]
    return _join_unknown(pieces[::-1], counts)


def _join_unknown(pieces: list[str], counts: Mapping[str, int]) -> list[str]:
    """Neighbouring pieces that are not words merged back into one."""
    joined: list[str] = []
    for piece in pieces:
        if joined and piece not in counts and joined[-1] not in counts:
            joined[-1] += piece
        else:
            joined.append(piece)
    return joined
