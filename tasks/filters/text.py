"""Text helpers over Arrow string arrays: URLs and @mentions, whitespace, accents, words."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from tasks.filters.arrays import contiguous

URL_PATTERN = r"https?://\S+|www\.\S+"
MENTION_PATTERN = r"(?:^|\s)@\S+"


def strip_urls_mentions(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Text with URLs and @mention tokens replaced by spaces."""
    return pc.replace_substring_regex(text, f"{URL_PATTERN}|{MENTION_PATTERN}", " ")


def collapse_whitespace(text: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Whitespace runs as single spaces, trimmed (split and join: faster than a regex)."""
    return contiguous(pc.binary_join(pc.utf8_split_whitespace(pc.utf8_trim_whitespace(text)), " "))


def normalized_text(text: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Duplicate key: lower-cased, URLs removed, whitespace collapsed and trimmed."""
    return collapse_whitespace(pc.replace_substring_regex(pc.utf8_lower(text), URL_PATTERN, " "))


def fold(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Accents removed (NFKD, combining marks dropped) and lower-cased: "Málaga" -> "malaga"."""
    decomposed = pc.utf8_normalize(text, "NFKD")
    return pc.utf8_lower(pc.replace_substring_regex(decomposed, r"\p{Mn}+", ""))


def folded_words(text: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Folded text as words joined by single spaces (anything not a letter or digit separates)."""
    spaced = pc.replace_substring_regex(fold(text), r"[^\pL\pN]+", " ")
    return contiguous(pc.utf8_trim_whitespace(spaced))
