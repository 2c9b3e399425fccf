"""Rows of CSV / Parquet tables mapped onto the post model with ``--map FIELD=COLUMN``."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import orjson

from storage.records import Parsed, RawRecord, make_post_id
from tasks.normalize.common import hashtags_of, mentions_of, parse_timestamp

TABLE_FIELDS = ("id", "text", "author", "created_at", "lat", "lon", "image", "hashtags", "place")


class MappingError(ValueError):
    """A --map or --label option that cannot work."""


def parse_mapping(pairs: list[str], allowed: tuple[str, ...] | None = None) -> dict[str, str]:
    """``["id=tweet_id", ...]`` as a dict, checking field names against ``allowed``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        key, sep, column = pair.partition("=")
        if not sep or not key or not column:
            raise MappingError(f"{pair!r} is not FIELD=COLUMN")
        if allowed is not None and key not in allowed:
            raise MappingError(f"unknown field {key!r} in --map; fields: {', '.join(allowed)}")
        mapping[key] = column
    return mapping


def _number(value: object) -> object:
    """A finite float; None for an empty cell; anything else as it is, so validation quarantines it (shown)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value
    return number if math.isfinite(number) else value


def _tags(value: object, text: str) -> list[str]:
    if isinstance(value, list):
        return [str(tag).lstrip("#").lower() for tag in value if str(tag).strip()]
    if isinstance(value, str) and value.strip():
        return [tag.lstrip("#").lower() for tag in value.replace(",", " ").split()]
    return hashtags_of(text)


def make_table_normalizer(
    platform: str, field_map: dict[str, str], label_map: dict[str, str]
) -> Callable[[RawRecord], Parsed]:
    """A normalizer for rows whose columns are named by ``field_map`` (``id`` is required)."""
    if "id" not in field_map:
        raise MappingError("--map id=COLUMN is required: it gives each row its native id")

    def column(row: dict, field: str) -> object:
        name = field_map.get(field)
        return row.get(name) if name is not None else None

    def normalize(record: RawRecord) -> Parsed:
        try:
            row = orjson.loads(record.payload)
        except orjson.JSONDecodeError as error:
            return Parsed(quarantine=[{"reason": "malformed_row", "detail": str(error)}])
        if field_map["id"] not in row:
            return Parsed(quarantine=[{"reason": "wrong_shape", "detail": f"no column {field_map['id']!r}"}])
        native_id = str(row[field_map["id"]]).strip()
        if not native_id:
            return Parsed(quarantine=[{"reason": "missing_id", "detail": "empty id"}])
        text = str(column(row, "text") or "").strip()
        author = column(row, "author")
        post_id = make_post_id(platform, native_id)
        post = {
            "post_id": post_id,
            "platform": platform,
            "native_id": native_id,
            "author_id": make_post_id(platform, author) if author not in (None, "") else None,
            "author_name": str(author) if author not in (None, "") else None,
            "created_at": parse_timestamp(column(row, "created_at")),
            "text": text,
            "hashtags": _tags(column(row, "hashtags"), text),
            "mentions": mentions_of(text),
            "place_name": column(row, "place") or None,
            "lat": _number(column(row, "lat")),
            "lon": _number(column(row, "lon")),
            "is_repost": text.startswith("RT @"),
        }
        parsed = Parsed(posts=[post])
        image = column(row, "image")
        if image:
            image_path = Path(str(image))
            if not image_path.is_absolute():  # relative to the table file
                image_path = Path(record.source).parent / image_path
            parsed.media.append(
                {"post_id": post_id, "position": 0, "media_key": image_path.name, "kind": "photo",
                 "local_path": str(image_path)}
            )
        for task, label_column in label_map.items():
            label = row.get(label_column)
            if label not in (None, ""):
                parsed.labels.append({"post_id": post_id, "task": task, "label": str(label), "source": "table"})
        return parsed

    return normalize
