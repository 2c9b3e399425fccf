"""Helpers shared by the normalizers: JSON loading, ids, tags, timestamps."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

from storage.encoding import decode_text
from storage.records import Parsed

SHAPE_ERRORS = (AttributeError, KeyError, TypeError, ValueError, IndexError)

HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
MENTION = re.compile(r"(?<![\w@])@(\w{1,30})")


def hashtags_of(text: str | None) -> list[str]:
    """Hashtags in ``text``, lower-cased, without '#', in order of appearance, unique."""
    return list(dict.fromkeys(tag.lower() for tag in HASHTAG.findall(text or "")))


def mentions_of(text: str | None) -> list[str]:
    """@usernames in ``text``, lower-cased, without '@', unique."""
    return list(dict.fromkeys(name.lower() for name in MENTION.findall(text or "")))


def parse_timestamp(value: object) -> datetime | None:
    """A UTC datetime from ISO 8601 text or epoch seconds (int, float or digits); None if unparseable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def quarantined(reason: str, detail: str) -> Parsed:
    """A Parsed holding a single quarantine row."""
    return Parsed(quarantine=[{"reason": reason, "detail": detail}])


def load_json(payload: bytes) -> tuple[Any, Parsed | None]:
    """The decoded payload, or a ready answer: empty for blank input, quarantine for invalid JSON.

    A line in a legacy code page (a dump re-encoded by some tool) is decoded by detecting its encoding.
    """
    if not payload.strip():
        return None, Parsed()
    try:
        return orjson.loads(payload), None
    except orjson.JSONDecodeError as error:
        if "utf-8" not in str(error).lower():
            return None, quarantined("malformed_json", str(error))
        text, _ = decode_text(payload)
        try:
            return orjson.loads(text), None
        except orjson.JSONDecodeError as second:
            return None, quarantined("malformed_json", str(second))


def unescape(text: str | None) -> str | None:
    """Undo the platforms' HTML escaping of ``&``, ``<`` and ``>``."""
    if text and "&" in text:
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text


def valid_id(value: Any) -> bool:
    """Whether ``value`` can be a native id: a non-empty string or an integer."""
    return (isinstance(value, str) and value != "") or (isinstance(value, int) and not isinstance(value, bool))
