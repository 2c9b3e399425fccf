"""X/Twitter normalizers: API v2 / twarc2 lines and v1.1 status lines, one JSONL line per record.

``normalize_twitter_v2`` recognises, per line:

- a response page ``{"data": [...], "includes": {...}, "errors": [...], "meta": {...}}``;
- a filtered-stream line, where ``data`` is one tweet object (``matching_rules`` is ignored);
- a twarc2 "flat" line: one tweet with its expansions inlined (``author``, ``attachments.media``,
  ``geo`` merged with its place, ``referenced_tweets`` merged with the referenced tweets);
- a compliance event ``{"id", "action": "delete", "created_at", "reason"}``;
- a page of users (``/2/users``): users only;
- an error line ``{"errors": [...]}`` without data, and pages of other objects (tweet counts, lists).

Decisions:

- Only the tweets in ``data`` become posts. ``includes.tweets`` (retweeted, quoted, replied-to and
  pinned tweets) are context: they give ``repost_of`` / ``reply_to`` ids but are not posts of the page,
  so a collection holds exactly the tweets its query matched.
- A retweet keeps its own (truncated ``RT @x: ...``) text; ``is_repost`` and ``repost_of`` point to the
  original. ``note_tweet.text`` (and its entities) replace the truncated text of long tweets.
- Each version of an edited tweet is its own post; later versions carry ``edit_of`` = the first id of
  ``edit_history_tweet_ids``. Withheld tweets are kept, ``withheld`` = comma-joined country codes.
- ``lat`` / ``lon`` come only from a GeoJSON point (``[lon, lat]``), never from a place's bounding box.
- Tweet text is HTML-unescaped (the API escapes ``&``, ``<`` and ``>``); hashtags and mention usernames
  are lower-cased and de-duplicated in order; mention edges use the lower-cased username.
- Media keys that ``includes.media`` does not resolve are dropped (``position`` keeps the key's index).
- Compliance events become deletions. The event does not say whether its ids are tweets or users, so a
  file whose name contains "user" (``users_compliance.jsonl``) yields ``{user_id, reason, deleted_at}``
  rows and any other file ``{post_id, reason, deleted_at}`` rows; ``deleted_at`` is the event time.
- Page-level ``errors`` next to data (a suspended mentioned user, a missing referenced tweet) are
  notices about expansions and are not quarantined.

Quarantine reasons: ``malformed_json`` (the parser's message), ``wrong_shape`` (valid JSON of the wrong
shape, e.g. a list or a tweet without id), ``api_error`` (an error line without data) and
``unsupported_payload`` (counts, lists, stream notices, non-delete compliance actions).
Blank payloads give an empty ``Parsed``. The functions never raise on bad input.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import PurePath
from typing import Any, NamedTuple

from storage.records import Parsed, RawRecord, make_post_id
from tasks.normalize.common import SHAPE_ERRORS, load_json, parse_timestamp, quarantined, unescape, valid_id

PLATFORM = "twitter"
V1_NOTICES = ("limit", "scrub_geo", "status_withheld", "user_withheld", "disconnect", "warning", "event",
              "friends", "direct_message", "control")
MONTHS = {m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1)}


class Includes(NamedTuple):
    """Lookups over one page's expansions, built once per page."""

    users: dict[str, dict]
    users_by_name: dict[str, dict]
    media: dict[str, dict]
    places: dict[str, dict]


# --------------------------------------------------------------------------- shared helpers


def unique_lower(values: list[str | None]) -> list[str]:
    """Lower-cased, de-duplicated, in order."""
    return list(dict.fromkeys(v.lower() for v in values if v))


def twitter_id(native_id: Any) -> str | None:
    """``twitter:<id>`` for a non-empty id, else None."""
    return make_post_id(PLATFORM, native_id) if native_id not in (None, "") else None


def status_url(username: str | None, native_id: str) -> str:
    """The permalink of a tweet."""
    return f"https://twitter.com/{username or 'i/web'}/status/{native_id}"


def point(geometry: Any) -> tuple[Any, Any]:
    """(lat, lon) of a GeoJSON Point, whose coordinates are ordered [lon, lat]; else (None, None).

    Coordinates that are no numbers are returned as they are: validation quarantines them with the value shown.
    """
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        coords = geometry.get("coordinates")
        if isinstance(coords, list) and len(coords) == 2:
            if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coords):
                return float(coords[1]), float(coords[0])
            return coords[1], coords[0]
    return None, None


# --------------------------------------------------------------------------- API v2


def normalize_twitter_v2(record: RawRecord) -> Parsed:
    """Normalize one line of an X API v2 / twarc2 JSONL file (see the module docstring for shapes)."""
    doc, answer = load_json(record.payload)
    if answer is not None:
        return answer
    try:
        return _v2_document(doc, record.source)
    except SHAPE_ERRORS as error:
        return quarantined("wrong_shape", f"{type(error).__name__}: {error}")


def _v2_document(doc: Any, source: str) -> Parsed:
    """Dispatch on the shape of one decoded v2 line."""
    if not isinstance(doc, dict):
        return quarantined("wrong_shape", f"expected a JSON object, got {type(doc).__name__}")
    if "data" in doc:
        return _v2_page(doc)
    if "action" in doc and "id" in doc:
        return _compliance(doc, users="user" in PurePath(source).name.lower())
    if "text" in doc or "author_id" in doc or "edit_history_tweet_ids" in doc:
        return _v2_page({"data": [doc], "includes": _flat_includes(doc)})
    if doc.get("errors"):
        return quarantined("api_error", _errors_detail(doc["errors"]))
    if set(doc) <= {"meta", "__twarc"}:
        return Parsed()  # a page with no results
    return quarantined("wrong_shape", f"unrecognised object with keys {sorted(doc)[:12]}")


def _v2_page(doc: dict) -> Parsed:
    """Posts, users and media of a page (``data`` a list) or a stream line (``data`` one object)."""
    data = doc["data"]
    items = [data] if isinstance(data, dict) else data
    if not isinstance(items, list):
        return quarantined("wrong_shape", f"'data' is a {type(data).__name__}")
    if not items:
        return Parsed()
    kind = _data_kind(items[0])
    if kind == "users":
        return _users_page(items)
    if kind != "tweets":
        return quarantined("unsupported_payload", f"{kind}: {len(items)} item(s), neither tweets nor users")
    inc = _includes(doc.get("includes") or {})
    out = Parsed(users=[_v2_user(u) for u in inc.users.values()])
    for index, tweet in enumerate(items):
        if not isinstance(tweet, dict) or not valid_id(tweet.get("id")):
            out.quarantine.append({"reason": "wrong_shape", "detail": f"data[{index}]: tweet without id"})
            continue
        try:
            _add_v2_tweet(out, tweet, inc)
        except SHAPE_ERRORS as error:
            detail = f"data[{index}] (id {tweet['id']}): {type(error).__name__}: {error}"
            out.quarantine.append({"reason": "wrong_shape", "detail": detail})
    return out


def _data_kind(item: Any) -> str:
    """What the objects of a page's ``data`` are."""
    if not isinstance(item, dict):
        return f"{type(item).__name__} items"
    if "text" in item or "edit_history_tweet_ids" in item:
        return "tweets"
    if "username" in item:
        return "users"
    if "tweet_count" in item:
        return "tweet counts"
    if "member_count" in item or "owner_id" in item:
        return "lists"
    return f"objects with keys {sorted(item)[:12]}"


def _includes(includes: dict) -> Includes:
    """Index a page's ``includes`` by id / username / media key."""
    users = {str(u["id"]): u for u in includes.get("users") or () if isinstance(u, dict) and u.get("id")}
    return Includes(
        users=users,
        users_by_name={u["username"].lower(): u for u in users.values() if isinstance(u.get("username"), str)},
        media={m["media_key"]: m for m in includes.get("media") or () if isinstance(m, dict) and "media_key" in m},
        places={p["id"]: p for p in includes.get("places") or () if isinstance(p, dict) and "id" in p},
    )


def _flat_includes(tweet: dict) -> dict:
    """The ``includes`` a twarc2 flat tweet carries inline (author, mentioned users, media, place)."""
    users = [tweet.get("author"), tweet.get("in_reply_to_user")]
    users += [m for m in (tweet.get("entities") or {}).get("mentions") or () if isinstance(m, dict) and "name" in m]
    users += [ref.get("author") for ref in tweet.get("referenced_tweets") or () if isinstance(ref, dict)]
    geo = tweet.get("geo") or {}
    return {
        "users": [u for u in users if isinstance(u, dict) and u.get("id")],
        "media": (tweet.get("attachments") or {}).get("media") or [],
        "places": [{**geo, "id": geo["place_id"]}] if "place_id" in geo and "full_name" in geo else [],
    }


def _add_v2_tweet(out: Parsed, tweet: dict, inc: Includes) -> None:
    """Append the post, its media and its mention edges."""
    native_id = str(tweet["id"])
    post_id = make_post_id(PLATFORM, native_id)
    author_id = tweet.get("author_id") or (tweet.get("author") or {}).get("id")
    username = (inc.users.get(str(author_id)) or {}).get("username") if author_id else None
    note = tweet.get("note_tweet") or {}
    entities = (note.get("entities") if note.get("text") else None) or tweet.get("entities") or {}
    refs = {r.get("type"): r.get("id") for r in tweet.get("referenced_tweets") or ()}
    history = tweet.get("edit_history_tweet_ids") or ()
    withheld = (tweet.get("withheld") or {}).get("country_codes")
    geo = tweet.get("geo") or {}
    place = inc.places.get(geo.get("place_id")) or {}
    lat, lon = point(geo.get("coordinates"))
    mentions = _v2_mentions(entities, inc)
    keys = (tweet.get("attachments") or {}).get("media_keys") or ()
    media = [_v2_media(post_id, position, inc.media[key]) for position, key in enumerate(keys) if key in inc.media]
    out.posts.append({
        "post_id": post_id,
        "platform": PLATFORM,
        "native_id": native_id,
        "author_id": twitter_id(author_id),
        "author_name": username,
        "created_at": parse_timestamp(tweet.get("created_at")),
        "text": unescape(note.get("text") or tweet.get("text")),
        "platform_lang": tweet.get("lang"),
        "hashtags": unique_lower([h.get("tag") for h in entities.get("hashtags") or ()]),
        "mentions": list(mentions),
        "place_name": place.get("full_name"),
        "lat": lat,
        "lon": lon,
        "score": (tweet.get("public_metrics") or {}).get("like_count"),
        "url": status_url(username, native_id),
        "is_repost": "retweeted" in refs,
        "repost_of": twitter_id(refs.get("retweeted")),
        "reply_to": twitter_id(refs.get("replied_to")),
        "edit_of": twitter_id(history[0]) if len(history) > 1 and str(history[0]) != native_id else None,
        "withheld": ",".join(withheld) if withheld else None,
    })
    src_user_id = twitter_id(author_id)
    out.mentions.extend(
        {"post_id": post_id, "src_user_id": src_user_id, "dst_user_id": twitter_id(uid), "dst_username": name}
        for name, uid in mentions.items()
    )
    out.media.extend(media)


def _v2_mentions(entities: dict, inc: Includes) -> dict[str, str | None]:
    """Lower-cased mentioned usernames mapped to their user id (from the entity or includes.users)."""
    found: dict[str, str | None] = {}
    for mention in entities.get("mentions") or ():
        name = (mention.get("username") or "").lower()
        if name and name not in found:
            found[name] = mention.get("id") or (inc.users_by_name.get(name) or {}).get("id")
    return found


def _v2_media(post_id: str, position: int, media: dict) -> dict:
    """A media row from an ``includes.media`` object."""
    return {
        "post_id": post_id,
        "position": position,
        "media_key": media.get("media_key"),
        "kind": media.get("type"),
        "url": media.get("url") or media.get("preview_image_url"),
        "width": media.get("width"),
        "height": media.get("height"),
    }


def _v2_user(user: dict) -> dict:
    """A user row from a v2 user object."""
    metrics = user.get("public_metrics") or {}
    return {
        "user_id": make_post_id(PLATFORM, user["id"]),
        "platform": PLATFORM,
        "native_id": str(user["id"]),
        "username": user.get("username"),
        "display_name": user.get("name"),
        "description": user.get("description"),
        "location": user.get("location"),
        "followers": metrics.get("followers_count"),
        "following": metrics.get("following_count"),
        "post_count": metrics.get("tweet_count"),
        "verified": user.get("verified"),
        "created_at": parse_timestamp(user.get("created_at")),
    }


def _users_page(items: list) -> Parsed:
    """User rows of a ``/2/users`` page (pinned tweets in ``includes`` are not posts)."""
    out = Parsed()
    for index, user in enumerate(items):
        if isinstance(user, dict) and valid_id(user.get("id")):
            out.users.append(_v2_user(user))
        else:
            out.quarantine.append({"reason": "wrong_shape", "detail": f"data[{index}]: user without id"})
    return out


def _compliance(event: dict, users: bool) -> Parsed:
    """A deletion row from a batch-compliance event (of a tweet, or of a user when ``users``)."""
    if event.get("action") != "delete":
        return quarantined("unsupported_payload", f"compliance action {event.get('action')!r}")
    if not valid_id(event["id"]):
        return quarantined("wrong_shape", "compliance event without id")
    row = {"user_id" if users else "post_id": twitter_id(event["id"]), "reason": event.get("reason"),
           "deleted_at": parse_timestamp(event.get("created_at"))}
    return Parsed(deletions=[row])


def _errors_detail(errors: Any) -> str:
    """One line summarising an API ``errors`` array."""
    if not isinstance(errors, list):
        return str(errors)
    parts = (f"{e.get('title')}: {e.get('detail') or e.get('message')}" if isinstance(e, dict) else str(e)
             for e in errors)
    return "; ".join(parts)


# --------------------------------------------------------------------------- API v1.1


def normalize_twitter_v1(record: RawRecord) -> Parsed:
    """Normalize one v1.1 status (or stream ``delete`` notice) line."""
    doc, answer = load_json(record.payload)
    if answer is not None:
        return answer
    try:
        return _v1_document(doc)
    except SHAPE_ERRORS as error:
        return quarantined("wrong_shape", f"{type(error).__name__}: {error}")


def _v1_document(doc: Any) -> Parsed:
    """Dispatch on the shape of one decoded v1.1 line."""
    if not isinstance(doc, dict):
        return quarantined("wrong_shape", f"expected a JSON object, got {type(doc).__name__}")
    if "delete" in doc:
        return _v1_delete(doc["delete"])
    if "text" in doc or "full_text" in doc:
        if not valid_id(doc.get("id_str")) and not valid_id(doc.get("id")):
            return quarantined("wrong_shape", "status without id")
        return _v1_status(doc)
    if doc.get("errors"):
        return quarantined("api_error", _errors_detail(doc["errors"]))
    notice = next((key for key in V1_NOTICES if key in doc), None)
    if notice:
        return quarantined("unsupported_payload", f"v1.1 stream notice {notice!r}")
    return quarantined("wrong_shape", f"unrecognised object with keys {sorted(doc)[:12]}")


def _v1_delete(notice: dict) -> Parsed:
    """A deletion row from ``{"delete": {"status": {...}, "timestamp_ms": "..."}}``."""
    status = notice["status"]
    native_id = status.get("id_str") or status.get("id")
    if not valid_id(native_id):
        return quarantined("wrong_shape", "delete notice without status id")
    millis = notice.get("timestamp_ms")
    deleted_at = parse_timestamp(int(millis) / 1000) if str(millis).isdigit() else None
    return Parsed(deletions=[{"post_id": twitter_id(native_id), "reason": "deleted", "deleted_at": deleted_at}])


def _v1_status(status: dict) -> Parsed:
    """Post, users, media and mention edges of a v1.1 status."""
    native_id = str(status.get("id_str") or status["id"])
    post_id = make_post_id(PLATFORM, native_id)
    user = status.get("user") or {}
    author_id = twitter_id(user.get("id_str") or user.get("id"))
    username = user.get("screen_name")
    extended = status.get("extended_tweet") or {}
    entities = extended.get("entities") or status.get("entities") or {}
    retweeted = status.get("retweeted_status") or {}
    initial = (status.get("edit_history") or {}).get("initial_tweet_id")
    lat, lon = point(status.get("coordinates"))
    mentions = {m["screen_name"].lower(): m.get("id_str") or m.get("id")
                for m in entities.get("user_mentions") or () if m.get("screen_name")}
    post = {
        "post_id": post_id,
        "platform": PLATFORM,
        "native_id": native_id,
        "author_id": author_id,
        "author_name": username,
        "created_at": parse_v1_time(status.get("created_at")),
        "text": unescape(extended.get("full_text") or status.get("full_text") or status.get("text")),
        "platform_lang": status.get("lang"),
        "hashtags": unique_lower([h.get("text") for h in entities.get("hashtags") or ()]),
        "mentions": list(mentions),
        "place_name": (status.get("place") or {}).get("full_name"),
        "lat": lat,
        "lon": lon,
        "score": status.get("favorite_count"),
        "url": status_url(username, native_id),
        "is_repost": bool(retweeted),
        "repost_of": twitter_id(retweeted.get("id_str") or retweeted.get("id")),
        "reply_to": twitter_id(status.get("in_reply_to_status_id_str") or status.get("in_reply_to_status_id")),
        "edit_of": twitter_id(initial) if initial and str(initial) != native_id else None,
        "withheld": ",".join(status.get("withheld_in_countries") or ()) or None,
    }
    media = (extended.get("extended_entities") or status.get("extended_entities") or entities).get("media") or ()
    embedded = [status, retweeted, status.get("quoted_status") or {}]
    users = {u["id_str"]: _v1_user(u) for s in embedded if (u := s.get("user")) and u.get("id_str")}
    return Parsed(
        posts=[post],
        users=list(users.values()),
        media=[_v1_media(post_id, position, m) for position, m in enumerate(media)],
        mentions=[{"post_id": post_id, "src_user_id": author_id, "dst_user_id": twitter_id(uid), "dst_username": name}
                  for name, uid in mentions.items()],
    )


def _v1_media(post_id: str, position: int, media: dict) -> dict:
    """A media row from a v1.1 ``extended_entities.media`` item."""
    size = media.get("original_info") or {}
    large = (media.get("sizes") or {}).get("large") or {}
    return {
        "post_id": post_id,
        "position": position,
        "media_key": media.get("id_str") or str(media.get("id")),
        "kind": media.get("type"),
        "url": media.get("media_url_https") or media.get("media_url"),
        "width": size.get("width") or large.get("w"),
        "height": size.get("height") or large.get("h"),
    }


def _v1_user(user: dict) -> dict:
    """A user row from a v1.1 user object."""
    return {
        "user_id": make_post_id(PLATFORM, user["id_str"]),
        "platform": PLATFORM,
        "native_id": user["id_str"],
        "username": user.get("screen_name"),
        "display_name": user.get("name"),
        "description": user.get("description"),
        "location": user.get("location"),
        "followers": user.get("followers_count"),
        "following": user.get("friends_count"),
        "post_count": user.get("statuses_count"),
        "verified": user.get("verified"),
        "created_at": parse_v1_time(user.get("created_at")),
    }


def parse_v1_time(value: Any) -> datetime | None:
    """UTC datetime from v1.1's ``Wed Oct 10 20:19:24 +0000 2018`` (locale-independent); None if unparseable."""
    try:
        _, month, day, clock, offset, year = value.split()
        hour, minute, second = clock.split(":")
        shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])) * (-1 if offset[0] == "-" else 1)
        local = datetime(int(year), MONTHS[month], int(day), int(hour), int(minute), int(second),
                         tzinfo=timezone(shift))
    except (AttributeError, KeyError, ValueError):
        return None
    return local.astimezone(UTC)
