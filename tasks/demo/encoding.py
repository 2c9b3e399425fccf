"""Encodings the planner and the writers share: base-36 ids, Instagram shortcodes, slugs, X API times."""

from __future__ import annotations

import random
import re
import unicodedata
from base64 import b64decode, b64encode
from datetime import UTC, datetime

BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
TWITTER_EPOCH_MS = 1_288_834_974_657
INSTAGRAM_EPOCH_MS = 1_314_220_021_721


def base36(value: int) -> str:
    """``value`` in base 36 (Reddit ids)."""
    digits = ""
    while value:
        value, rest = divmod(value, 36)
        digits = BASE36[rest] + digits
    return digits or "0"


def snowflake(ms: int, epoch_ms: int, sequence_bits: int, rng: random.Random) -> int:
    """A time-ordered id (X tweet ids, Instagram media ids): ms since ``epoch_ms``, then random sequence bits."""
    return ((ms - epoch_ms) << sequence_bits) | rng.getrandbits(sequence_bits)


def shortcode(media_id: int) -> str:
    """instaloader's ``Post.mediaid_to_shortcode``: base64url of the 9-byte id, leading 'A's dropped."""
    return b64encode(media_id.to_bytes(9, "big"), b"-_").decode().lstrip("A")


def media_id_of(code: str) -> int:
    """instaloader's ``Post.shortcode_to_mediaid`` (the inverse of ``shortcode``)."""
    return int.from_bytes(b64decode(("A" * (12 - len(code)) + code).encode(), b"-_"), "big")


def slug(text: str) -> str:
    """An ASCII slug of ``text`` (Reddit permalinks, location slugs)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")[:50] or "post"


def iso(ts: int) -> str:
    """X API time: ``2026-05-01T10:00:00.000Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
