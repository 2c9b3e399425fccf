"""Reddit normalizer: API Listing documents and Pushshift / Arctic Shift NDJSON lines.

``normalize_reddit`` recognises a payload that is:

- a whole API ``Listing`` (``{"kind": "Listing", "data": {"children": [...], "after": ...}}``), or a JSON
  array of Listings (a ``/comments/<id>`` page); comments' nested ``replies`` Listings are walked too;
- one thing ``{"kind": "t3" | "t1", "data": {...}}``;
- one Pushshift / Arctic Shift dump line: a bare submission (``id`` with ``title`` / ``selftext``) or a
  bare comment (``body`` with ``link_id`` / ``parent_id``).

Decisions:

- ``native_id`` is the fullname (``t3_<id>`` for submissions, ``t1_<id>`` for comments): the two id
  spaces overlap, and ``parent_id`` / ``crosspost_parent`` are fullnames, so ``reply_to`` and ``repost_of``
  join to ``post_id`` directly. Pushshift's integer ``parent_id`` (a comment, base 10) and null
  ``parent_id`` (a top-level comment: the submission) are mapped to fullnames.
- ``author_id`` is ``reddit:<username>``: usernames are unique and permanent, while ``author_fullname``
  is missing from older listings and dumps. ``[deleted]`` authors give ``author_id`` None. Each author
  also yields a minimal user row.
- Submission text is ``title + "\\n\\n" + selftext`` (just the title when there is no selftext); comment
  text is the body. Text is HTML-unescaped (``&amp;``, ``&lt;``, ``&gt;``).
- A ``[removed]`` / ``[deleted]`` selftext or body, ``removed_by_category`` or Arctic Shift's
  ``_meta.removal_type`` gives a deletion row (reason: the category, else the removal type, else
  "removed" / "deleted"; ``deleted_at`` unknown, None) and the post is still kept; the placeholder itself
  is not kept as text (a removed comment has text None).
- Media: a gallery (``gallery_data`` order, else ``media_metadata`` order) or inline images give one row
  per valid ``media_metadata`` item (``s.u`` / ``s.gif`` / ``s.mp4``, ``&amp;`` unescaped); otherwise an
  image link (``post_hint == "image"``, or an image file on i.redd.it / i.imgur.com) gives one row with
  the preview's size. Reddit has no hashtag / mention entities and no coordinates: those stay empty/NULL.
- ``more`` placeholders (unloaded comments) are skipped; other kinds of things are quarantined as
  ``unsupported_payload``.

Quarantine reasons: ``malformed_json``, ``wrong_shape``, ``unsupported_payload``. Never raises on bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from storage.records import Parsed, RawRecord, make_post_id
from tasks.normalize.common import SHAPE_ERRORS, load_json, parse_timestamp, unescape, valid_id

PLATFORM = "reddit"
REDDIT = "https://www.reddit.com"
PLACEHOLDERS = ("[removed]", "[deleted]")
IMAGE_HOSTS = ("i.redd.it", "i.imgur.com")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
METADATA_KINDS = {"Image": "photo", "AnimatedImage": "animated_gif"}
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def normalize_reddit(record: RawRecord) -> Parsed:
    """Normalize a Reddit Listing document or one Pushshift / Arctic Shift dump line."""
    doc, answer = load_json(record.payload)
    if answer is not None:
        return answer
    out = Parsed()
    _add_document(out, doc, "document")
    out.users = list({user["user_id"]: user for user in out.users}.values())
    return out


def _add_document(out: Parsed, doc: Any, where: str) -> None:
    """Dispatch on the shape of a decoded payload (``where`` locates it in quarantine details)."""
    if isinstance(doc, list):
        for index, part in enumerate(doc):
            _add_document(out, part, f"{where}[{index}]")
    elif not isinstance(doc, dict):
        _reject(out, "wrong_shape", where, f"expected a JSON object, got {type(doc).__name__}")
    elif doc.get("kind") == "Listing":
        data = doc.get("data")
        children = data.get("children") if isinstance(data, dict) else None
        if not isinstance(children, list):
            _reject(out, "wrong_shape", where, "Listing without data.children")
            return
        for index, child in enumerate(children):
            _add_document(out, child, f"{where}.children[{index}]")
    elif "kind" in doc and "data" in doc:
        _add_thing(out, doc, where)
    elif "body" in doc and ("link_id" in doc or "parent_id" in doc):
        _add_safely(out, _comment, doc, where)
    elif "id" in doc and ("title" in doc or "selftext" in doc):
        _add_safely(out, _submission, doc, where)
    else:
        _reject(out, "wrong_shape", where, f"unrecognised object with keys {sorted(doc)[:12]}")


def _add_thing(out: Parsed, thing: dict, where: str) -> None:
    """Add one ``{"kind", "data"}`` thing: a submission, a comment (with its replies) or a skipped ``more``."""
    kind, data = thing.get("kind"), thing.get("data")
    if kind in ("t3", "t1") and not isinstance(data, dict):
        _reject(out, "wrong_shape", where, f"{kind} without a data object")
    elif kind == "t3":
        _add_safely(out, _submission, data, where)
    elif kind == "t1":
        _add_safely(out, _comment, data, where)
        if isinstance(data.get("replies"), dict):
            _add_document(out, data["replies"], f"{where}.replies")
    elif kind != "more":
        _reject(out, "unsupported_payload", where, f"Reddit thing of kind {kind!r}")


def _reject(out: Parsed, reason: str, where: str, detail: str) -> None:
    """Append a quarantine row."""
    out.quarantine.append({"reason": reason, "detail": f"{where}: {detail}"})


def _add_safely(out: Parsed, build: Callable[[dict], Parsed], thing: dict, where: str) -> None:
    """Merge the rows ``build`` makes of one thing, or quarantine the thing when its fields have wrong types."""
    try:
        part = build(thing)
    except SHAPE_ERRORS as error:
        _reject(out, "wrong_shape", where, f"{type(error).__name__}: {error}")
        return
    out.posts += part.posts
    out.users += part.users
    out.media += part.media
    out.deletions += part.deletions


def _submission(sub: dict) -> Parsed:
    """Post, media, author and deletion rows of a submission."""
    native_id = f"t3_{_thing_id(sub)}"
    title = unescape(sub.get("title")) or ""
    selftext = sub.get("selftext") or ""
    body = "" if selftext in PLACEHOLDERS else unescape(selftext)
    crosspost = sub.get("crosspost_parent")
    part = _post_rows(sub, native_id, f"{title}\n\n{body}" if body else title, selftext)
    part.posts[0].update(
        title=title,
        url=REDDIT + (sub.get("permalink") or f"/comments/{sub['id']}/"),
        is_repost=bool(crosspost),
        repost_of=make_post_id(PLATFORM, crosspost) if crosspost else None,
    )
    part.media = _submission_media(part.posts[0]["post_id"], sub)
    return part


def _comment(com: dict) -> Parsed:
    """Post, author and deletion rows of a comment."""
    native_id = f"t1_{_thing_id(com)}"
    body = com.get("body") or ""
    link_id = _fullname(com.get("link_id"), "t3_")
    parent_id = _fullname(com.get("parent_id"), "t1_") or link_id
    permalink = com.get("permalink") or (f"/comments/{link_id[3:]}/_/{com['id']}/" if link_id else None)
    part = _post_rows(com, native_id, None if body in PLACEHOLDERS else unescape(body), body)
    part.posts[0].update(
        url=REDDIT + permalink if permalink else None,
        reply_to=make_post_id(PLATFORM, parent_id) if parent_id else None,
    )
    return part


def _thing_id(thing: dict) -> str:
    """The base-36 id of a submission or comment; ValueError when it has none."""
    if not valid_id(thing.get("id")):
        raise ValueError(f"no usable id: {thing.get('id')!r}")
    return str(thing["id"])


def _post_rows(thing: dict, native_id: str, text: str | None, raw_text: str) -> Parsed:
    """The fields submissions and comments share, the author's user row and any deletion row."""
    post_id = make_post_id(PLATFORM, native_id)
    author = thing.get("author")
    author = author if author and author not in PLACEHOLDERS else None
    author_id = make_post_id(PLATFORM, author) if author else None
    post = {
        "post_id": post_id,
        "platform": PLATFORM,
        "native_id": native_id,
        "author_id": author_id,
        "author_name": author,
        "created_at": parse_timestamp(thing.get("created_utc")),
        "text": text,
        "platform_lang": None,
        "hashtags": [],
        "mentions": [],
        "place_name": None,
        "lat": None,
        "lon": None,
        "score": thing.get("score"),
        "url": None,
        "is_repost": False,
        "repost_of": None,
        "reply_to": None,
        "title": None,
        "community": thing.get("subreddit"),
    }
    part = Parsed(posts=[post])
    if author:
        part.users.append({"user_id": author_id, "platform": PLATFORM, "native_id": author, "username": author})
    reason = _removal_reason(thing, raw_text)
    if reason:
        part.deletions.append({"post_id": post_id, "reason": reason, "deleted_at": None})
    return part


def _removal_reason(thing: dict, raw_text: str) -> str | None:
    """Why a post was removed, or None when nothing says it was."""
    meta = thing.get("_meta")
    return (
        thing.get("removed_by_category")
        or (meta.get("removal_type") if isinstance(meta, dict) else None)
        or (raw_text[1:-1] if raw_text in PLACEHOLDERS else None)
    )


def _fullname(value: Any, int_prefix: str) -> str | None:
    """A thing's fullname from ``t3_abc`` / bare ``abc`` text, or from Pushshift's base-10 integer ids."""
    if isinstance(value, int) and not isinstance(value, bool):
        digits = ""
        while value:
            value, rest = divmod(value, 36)
            digits = BASE36[rest] + digits
        return int_prefix + (digits or "0")
    if isinstance(value, str) and value:
        return value if value[:3] in ("t1_", "t3_") else int_prefix + value
    return None


def _submission_media(post_id: str, sub: dict) -> list[dict]:
    """Media rows of a submission: gallery / inline images, else a linked image."""
    metadata = sub.get("media_metadata")
    if isinstance(metadata, dict) and metadata:
        items = (sub.get("gallery_data") or {}).get("items")
        order = [item.get("media_id") for item in items] if items else list(metadata)
        rows = (_metadata_row(post_id, position, key, metadata.get(key)) for position, key in enumerate(order))
        return [row for row in rows if row]
    url = sub.get("url_overridden_by_dest") or sub.get("url")
    if not isinstance(url, str) or not _is_image_link(sub, url):
        return []
    images = (sub.get("preview") or {}).get("images") or [{}]
    source = images[0].get("source") or {}
    path = urlsplit(url).path
    return [{
        "post_id": post_id,
        "position": 0,
        "media_key": path.rsplit("/", 1)[-1] or None,
        "kind": "animated_gif" if path.lower().endswith(".gif") else "photo",
        "url": url.replace("&amp;", "&"),
        "width": source.get("width"),
        "height": source.get("height"),
    }]


def _is_image_link(sub: dict, url: str) -> bool:
    """Whether a submission links straight to an image."""
    if sub.get("post_hint") == "image":
        return True
    parts = urlsplit(url)
    return parts.hostname in IMAGE_HOSTS and parts.path.lower().endswith(IMAGE_SUFFIXES)


def _metadata_row(post_id: str, position: int, key: str, item: Any) -> dict | None:
    """A media row from one ``media_metadata`` entry, or None when it has no usable source."""
    if not isinstance(item, dict) or item.get("status", "valid") != "valid":
        return None
    source = item.get("s") or {}
    url = source.get("u") or source.get("gif") or source.get("mp4")
    if not url:
        return None
    return {
        "post_id": post_id,
        "position": position,
        "media_key": key,
        "kind": METADATA_KINDS.get(item.get("e"), "photo"),
        "url": url.replace("&amp;", "&"),
        "width": source.get("x"),
        "height": source.get("y"),
    }
