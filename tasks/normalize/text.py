"""Small text helpers shared by the normalizers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

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
