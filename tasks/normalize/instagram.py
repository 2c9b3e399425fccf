"""Instagram normalizer: one instaloader 4.x structure file (``save_structure_to_file`` / ``--metadata-json``).

The payload is the decompressed JSON ``{"node": {...}, "instaloader": {"node_type": ..., "version": ...}}``.

- ``Post`` nodes (GraphQL ``GraphImage`` / ``GraphSidecar`` / ``GraphVideo``) give one post, the owner's user
  row (when the owner carries a username) and one media row per image. ``native_id`` is the shortcode
  (``instagram:<shortcode>``), the url ``https://www.instagram.com/p/<shortcode>/``; text is the caption
  (``edge_media_to_caption.edges[0].node.text``, else a plain ``caption``), None when there is none;
  hashtags and mentions come from the caption, lower-cased, unique, in order (``\\w`` is Unicode; usernames
  may hold inner dots); score is ``edge_media_preview_like.count``, else ``edge_liked_by.count``.
- A legacy instaloader v3 file (a bare node with ``shortcode``) is read as a Post.
- ``Profile`` nodes give a user row. ``Hashtag``, ``StoryItem`` and ``FrozenNodeIterator`` structures are
  valid instaloader files that hold no post: they give an empty ``Parsed``.
- Media: a sidecar gives one row per child (``position`` 0..), anything else one row (a video's row is its
  thumbnail, ``kind`` "video"). ``local_path`` is the matching attachment: instaloader writes
  ``<stem>.jpg`` for a single image and ``<stem>_1.jpg``, ``<stem>_2.jpg``... for sidecar children beside
  ``<stem>.json.xz``; the stem comes from the record's location or source. ``url`` is ``display_url``.
- ``accessibility_caption``, comments and tagged users have no column and are not kept.

Quarantine reasons: ``malformed_json`` (not JSON, or not UTF-8), ``wrong_shape`` (no node, unknown node
type, a post without shortcode); field rows ``bad_timestamp`` / ``impossible_coordinates`` (scope
``field``: the post is kept without the value). Never raises.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

import orjson

from storage.records import POST_KEYS, Parsed, RawRecord, make_post_id
from tasks.normalize.common import hashtags_of

PLATFORM = "instagram"
POST_URL = "https://www.instagram.com/p/{}/"
NON_POST_TYPES = frozenset({"Hashtag", "StoryItem", "FrozenNodeIterator"})
STRUCTURE_SUFFIXES = (".json.xz", ".json")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
# Instagram usernames: word characters and inner dots (instaloader's caption_mentions allows the same).
MENTION = re.compile(r"(?<![\w@])@(\w(?:(?:\w|\.(?!\.))*\w)?)")
NUMBERED = re.compile(r"^(?P<stem>.+?)(?:_(?P<number>\d+))?$")


def normalize_instaloader(record: RawRecord) -> Parsed:
    """Normalize one instaloader structure file (see the module docstring)."""
    try:
        doc = orjson.loads(record.payload)
    except orjson.JSONDecodeError as error:
        return _quarantined("malformed_json", str(error))
    try:
        return _document(doc, record)
    except Exception as error:  # noqa: BLE001 - a normalizer never raises on bad input
        return _quarantined("wrong_shape", f"{type(error).__name__}: {error}")


def _quarantined(reason: str, detail: str) -> Parsed:
    """A Parsed holding a single quarantine row."""
    return Parsed(quarantine=[{"reason": reason, "detail": detail}])


def _document(doc: Any, record: RawRecord) -> Parsed:
    """Dispatch on the structure's node type."""
    if not isinstance(doc, dict):
        return _quarantined("wrong_shape", f"expected a JSON object, got {type(doc).__name__}")
    if "node" not in doc and "shortcode" in doc:
        return _post(doc, record)  # instaloader v3 wrote the bare node
    node, meta = doc.get("node"), doc.get("instaloader")
    if not isinstance(node, dict) or not isinstance(meta, dict):
        return _quarantined("wrong_shape", f"not an instaloader structure: keys {sorted(doc)[:12]}")
    node_type = meta.get("node_type")
    if node_type == "Post":
        return _post(node, record)
    if node_type == "Profile":
        user = _user(node)
        return Parsed(users=[user]) if user else _quarantined("wrong_shape", "Profile node without id")
    if node_type in NON_POST_TYPES:
        return Parsed()
    return _quarantined("wrong_shape", f"unknown instaloader node_type {node_type!r}")


def _post(node: dict, record: RawRecord) -> Parsed:
    """Post, owner, media and mention rows of a Post node."""
    shortcode = node.get("shortcode") or node.get("code")
    if not isinstance(shortcode, str) or not shortcode:
        return _quarantined("wrong_shape", "Post node without shortcode")
    post_id = make_post_id(PLATFORM, shortcode)
    out = Parsed()
    owner = node.get("owner") if isinstance(node.get("owner"), dict) else {}
    owner_id = _text_id(owner.get("id"))
    author_id = make_post_id(PLATFORM, owner_id) if owner_id else None
    caption = _caption(node)
    mentions = _mentions_of(caption)
    lat, lon = _coordinates(node.get("location"), out)
    location = node.get("location") if isinstance(node.get("location"), dict) else {}
    stem, folder = _structure_name(record)
    out.posts.append({
        **dict.fromkeys(POST_KEYS),
        "post_id": post_id,
        "platform": PLATFORM,
        "native_id": shortcode,
        "author_id": author_id,
        "author_name": owner.get("username") if isinstance(owner.get("username"), str) else None,
        "created_at": _created_at(node, out),
        "text": caption,
        "platform_lang": None,
        "hashtags": hashtags_of(caption),
        "mentions": mentions,
        "place_name": location.get("name") if isinstance(location.get("name"), str) else None,
        "lat": lat,
        "lon": lon,
        "score": _likes(node),
        "url": POST_URL.format(shortcode),
        "is_repost": False,
        "repost_of": None,
        "reply_to": None,
        "title": None,
        "community": folder[1:].lower() if folder and folder.startswith("#") and len(folder) > 1 else None,
    })
    user = _user(owner)
    if user and user["username"]:
        out.users.append(user)
    out.mentions = [
        {"post_id": post_id, "src_user_id": author_id, "dst_user_id": None, "dst_username": name} for name in mentions
    ]
    out.media = _media(post_id, shortcode, node, _attachment_index(record.attachments, stem))
    return out


def _caption(node: dict) -> str | None:
    """The caption text, or None when the post has none."""
    edges = (node.get("edge_media_to_caption") or {}).get("edges") or []
    if edges and isinstance(edges[0], dict):
        text = (edges[0].get("node") or {}).get("text")
        return text if isinstance(text, str) else None
    caption = node.get("caption")
    if isinstance(caption, dict):  # iPhone-API nodes: {"text": ...}
        caption = caption.get("text")
    return caption if isinstance(caption, str) else None


def _mentions_of(text: str | None) -> list[str]:
    """@usernames in a caption, lower-cased, without '@', unique, in order."""
    return list(dict.fromkeys(name.lower() for name in MENTION.findall(text or "")))


def _created_at(node: dict, out: Parsed) -> datetime | None:
    """``taken_at_timestamp`` (or ``date``) as UTC; a quarantine row when it is unusable."""
    value = node.get("taken_at_timestamp", node.get("date"))
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError("a boolean")
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError) as error:
        out.quarantine.append({"reason": "bad_timestamp", "detail": f"{value!r}: {error}", "scope": "field"})
        return None


def _coordinates(location: Any, out: Parsed) -> tuple[float | None, float | None]:
    """(lat, lon) of the post's location when both are given and on the globe."""
    if not isinstance(location, dict) or location.get("lat") is None or location.get("lng") is None:
        return None, None
    lat, lon = location["lat"], location["lng"]
    try:
        lat_f, lon_f = float(lat), float(lon)
    except (TypeError, ValueError):
        lat_f = lon_f = math.nan
    if not (math.isfinite(lat_f) and math.isfinite(lon_f) and -90 <= lat_f <= 90 and -180 <= lon_f <= 180):
        detail = f"location lat={lat!r} lng={lon!r}; post kept without them"
        out.quarantine.append({"reason": "impossible_coordinates", "detail": detail, "scope": "field"})
        return None, None
    return lat_f, lon_f


def _likes(node: dict) -> int | None:
    """Like count: ``edge_media_preview_like`` (what instaloader reads), else ``edge_liked_by``."""
    for key in ("edge_media_preview_like", "edge_liked_by"):
        count = (node.get(key) or {}).get("count")
        if isinstance(count, int) and not isinstance(count, bool):
            return count
    count = node.get("like_count")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _user(node: dict) -> dict | None:
    """A user row from a Profile node or a post's ``owner``; None without an id."""
    native_id = _text_id(node.get("id") or node.get("pk"))
    if not native_id:
        return None
    return {
        "user_id": make_post_id(PLATFORM, native_id),
        "platform": PLATFORM,
        "native_id": native_id,
        "username": node.get("username"),
        "display_name": node.get("full_name") or None,
        "description": node.get("biography") or None,
        "location": None,
        "followers": (node.get("edge_followed_by") or {}).get("count"),
        "following": (node.get("edge_follow") or {}).get("count"),
        "post_count": (node.get("edge_owner_to_timeline_media") or {}).get("count"),
        "verified": node.get("is_verified"),
        "created_at": None,
    }


def _text_id(value: Any) -> str | None:
    """An id as text (instaloader writes them as strings or ints), or None."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    return str(value) if isinstance(value, (str, int)) else None


def _structure_name(record: RawRecord) -> tuple[str | None, str | None]:
    """(stem, parent folder name) of the structure file, from the record's location and source."""
    found = [_split_structure_path(str(candidate)) for candidate in (record.location, record.source)]
    stem = next((s for s, _ in found if s), None)
    folder = next((f for s, f in found if s and f), None)
    return stem, folder


def _split_structure_path(candidate: str) -> tuple[str | None, str | None]:
    """(stem, parent folder name) when ``candidate`` names a ``.json`` / ``.json.xz`` file."""
    path = PurePath(candidate.removeprefix("member ").strip())
    for suffix in STRUCTURE_SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name[: -len(suffix)], (path.parent.name or None)
    return None, None


def _attachment_index(attachments: tuple[str, ...], stem: str | None) -> dict[int, str]:
    """Attachments by image number: 0 for ``<stem>.jpg``, n for ``<stem>_<n>.jpg``.

    With a known stem only that stem's files count; without one (or when none match it), names are
    split as ``<anything>[_<n>]``.
    """
    images = [(path, PurePath(path)) for path in attachments if PurePath(path).suffix.lower() in IMAGE_SUFFIXES]
    index: dict[int, str] = {}
    if stem:
        for path, pure in images:
            name = pure.name[: -len(pure.suffix)]
            rest = name.removeprefix(stem + "_")
            if name == stem:
                index.setdefault(0, path)
            elif rest != name and rest.isdigit():
                index.setdefault(int(rest), path)
        if index:
            return index
    for path, pure in images:
        match = NUMBERED.match(pure.name[: -len(pure.suffix)])
        if match:
            index.setdefault(int(match.group("number") or 0), path)
    return index


def _media(post_id: str, shortcode: str, node: dict, files: dict[int, str]) -> list[dict]:
    """One media row per image: the sidecar's children in order, else the post itself."""
    children = [
        edge.get("node") for edge in (node.get("edge_sidecar_to_children") or {}).get("edges") or ()
        if isinstance(edge, dict) and isinstance(edge.get("node"), dict)
    ]
    if children:
        return [
            _media_row(post_id, position, child, files.get(position + 1), f"{shortcode}_{position + 1}")
            for position, child in enumerate(children)
        ]
    local = files.get(0) or (next(iter(files.values())) if len(files) == 1 else None)
    row = _media_row(post_id, 0, node, local, shortcode)
    return [row] if row["url"] or row["local_path"] else []


def _media_row(post_id: str, position: int, node: dict, local_path: str | None, fallback_key: str) -> dict:
    """A media row from a post or sidecar-child node."""
    size = node.get("dimensions") or {}
    return {
        "post_id": post_id,
        "position": position,
        "media_key": _text_id(node.get("id")) or fallback_key,
        "kind": "video" if node.get("is_video") else "photo",
        "url": node.get("display_url") or node.get("display_src"),
        "local_path": local_path,
        "width": size.get("width"),
        "height": size.get("height"),
    }
