"""X / Twitter: API v2 search pages in a JSONL file, as twarc saves them, and the photos (--media-dir)."""

from __future__ import annotations

import json
import random
import re

from tasks.demo.encoding import BASE36, iso
from tasks.demo.model import Plan, Post, User
from tasks.demo.output import Output, line_of
from tasks.demo.places import City

PAGE_SIZE = 97  # + up to 3 tweets repeated from the page before: <= 100, the API's max_results
HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
MENTION = re.compile(r"(?<![\w@])@(\w{1,15})")


def _token(rng: random.Random, length: int = 40) -> str:
    """An opaque pagination token."""
    return "".join(rng.choice(BASE36) for _ in range(length))


def _entities(text: str, users_by_name: dict[str, User]) -> dict:
    """v2 ``entities``: hashtags and mentions with code-point offsets, as the API gives them."""
    entities: dict[str, list] = {}
    hashtags = [{"start": m.start(), "end": m.end(), "tag": m.group(1)} for m in HASHTAG.finditer(text)]
    mentions = []
    for match in MENTION.finditer(text):
        user = users_by_name.get(match.group(1).lower())
        mention = {"start": match.start(), "end": match.end(), "username": match.group(1)}
        if user is not None:
            mention["id"] = user.native_id
        mentions.append(mention)
    if hashtags:
        entities["hashtags"] = hashtags
    if mentions:
        entities["mentions"] = mentions
    return entities


def _media_key(post: Post, position: int) -> str:
    """The v2 media key of a tweet's photo (its id follows the tweet's)."""
    return f"3_{int(post.native_id) - 1000 - position}"


def _tweet(post: Post, users_by_name: dict[str, User]) -> dict:
    """A v2 tweet object with the fields the search endpoint returns for our expansions."""
    text = post.text or ""
    tweet: dict = {
        "id": post.native_id,
        "text": text,
        "author_id": post.user.native_id,
        "created_at": iso(post.ts),
        "lang": "und" if post.kind == "short" and post.score % 2 else ("es" if post.lang == "gl" else post.lang),
        "conversation_id": post.native_id,
        "edit_history_tweet_ids": [post.native_id],
        "possibly_sensitive": False,
        "reply_settings": "everyone",
        "public_metrics": {"retweet_count": post.score // 4, "reply_count": post.score // 7,
                           "like_count": post.score, "quote_count": post.score // 20, "bookmark_count": 0,
                           "impression_count": post.score * 37 + 11},
    }
    entities = _entities(text, users_by_name) if post.defect != "oversized_text" else {}
    if entities:
        tweet["entities"] = entities
    if post.images:
        tweet["attachments"] = {"media_keys": [_media_key(post, i) for i in range(len(post.images))]}
    if post.point is not None:
        lat, lon = post.point
        if post.defect == "impossible_coordinates":
            lat = 123.0 + lat % 1
        tweet["geo"] = {"coordinates": {"type": "Point", "coordinates": [lon, lat]}, "place_id": post.city.place_id}
    elif post.place:
        tweet["geo"] = {"place_id": post.city.place_id}
    if post.repost_of is not None:
        tweet["referenced_tweets"] = [{"type": "retweeted", "id": post.repost_of.native_id}]
    return tweet


def _v2_user(user: User) -> dict:
    """A v2 user object."""
    return {
        "id": user.native_id, "name": user.name, "username": user.username, "created_at": iso(user.created_ts),
        "description": f"{user.topic} · {user.city.name}", "location": user.city.name, "protected": False,
        "verified": False, "profile_image_url": f"https://pbs.twimg.com/profile_images/{user.native_id}/p_normal.jpg",
        "public_metrics": {"followers_count": user.followers, "following_count": user.following,
                           "tweet_count": user.followers * 3 + 17, "listed_count": user.followers // 50},
    }


def _v2_place(city: City) -> dict:
    """A v2 place object (a city)."""
    return {"id": city.place_id, "full_name": city.full_name, "name": city.full_name.split(",")[0],
            "country": city.country, "country_code": city.country_code, "place_type": "city",
            "geo": {"type": "Feature", "bbox": list(city.bbox), "properties": {}}}


def _v2_page(tweets: list[Post], users_by_name: dict[str, User], next_token: str | None) -> dict:
    """A search response page: data, includes (users, media, places, retweeted tweets), meta."""
    users: dict[str, User] = {}
    media, places, originals = [], {}, {}
    for post in tweets:
        users[post.user.native_id] = post.user
        for match in MENTION.finditer((post.text or "") if post.defect != "oversized_text" else ""):
            mentioned = users_by_name.get(match.group(1).lower())
            if mentioned is not None:
                users[mentioned.native_id] = mentioned
        if post.repost_of is not None:
            originals[post.repost_of.native_id] = post.repost_of
            users[post.repost_of.user.native_id] = post.repost_of.user
        if post.place:
            places[post.city.place_id] = _v2_place(post.city)
        for position, image in enumerate(post.images):
            key = _media_key(post, position)
            media.append({"media_key": key, "type": "photo", "url": f"https://pbs.twimg.com/media/{key}.jpg",
                          "width": image.width, "height": image.height})
    includes: dict = {"users": [_v2_user(u) for u in users.values()]}
    if media:
        includes["media"] = media
    if places:
        includes["places"] = list(places.values())
    if originals:
        includes["tweets"] = [_tweet(p, users_by_name) for p in originals.values()]
    ids = [int(p.native_id) for p in tweets]
    meta = {"newest_id": str(max(ids)), "oldest_id": str(min(ids)), "result_count": len(tweets)}
    if next_token:
        meta["next_token"] = next_token
    return {"data": [_tweet(p, users_by_name) for p in tweets], "includes": includes, "meta": meta}


def _json_line(doc: object) -> bytes:
    """One JSONL line as twarc writes it (ASCII-escaped)."""
    return json.dumps(doc).encode("ascii") + b"\n"


def write_twitter(rng: random.Random, plan: Plan, out: Output) -> None:
    """twitter/pages.jsonl (search pages, newest first) and twitter/media/*.jpg."""
    users_by_name = {u.username.lower(): u for u in plan.users}
    newest_first = [p for p in reversed(plan.posts) if p.defect != "oversized_text"]
    pages = [newest_first[i:i + PAGE_SIZE] for i in range(0, len(newest_first), PAGE_SIZE)]
    for k in range(1, min(4, len(pages))):  # pagination overlap: a tweet repeated on the next page
        pages[k].insert(0, pages[k - 1][-1])
        out.repeated_records["twitter"] += 1
    lines = [_json_line(_v2_page(page, users_by_name, _token(rng) if i < len(pages) - 1 else None))
             for i, page in enumerate(pages)]
    oversized = next(p for p in plan.posts if p.defect == "oversized_text")
    oversized_line = _json_line(_v2_page([oversized], users_by_name, None))
    lines.insert(len(lines) // 2, oversized_line)
    cut = len(lines) // 3
    truncated = lines[cut][: len(lines[cut]) // 2] + b"\n"
    lines.insert(cut, truncated)  # a crash mid-write, then the complete retry of the same page
    wrong = _json_line(_v1_search_response(rng, plan))
    lines.insert(len(lines) - 1, wrong)
    relpath = "twitter/pages.jsonl"
    out.add("twitter-v2", relpath, b"".join(lines))
    out.records["twitter"] += len(lines)
    out.anomaly("twitter", relpath, line_of(lines, truncated), "truncated_json", "malformed_json", "record",
                None, "a page cut mid-line (writer crashed); the next line is the complete retry of the same page")
    out.anomaly("twitter", relpath, line_of(lines, wrong), "wrong_shape", "wrong_shape", "record", None,
                "a v1.1 search response ({statuses, search_metadata}) in a v2 file")
    out.anomaly("twitter", relpath, line_of(lines, oversized_line), "oversized_text", "field_too_large",
                "post", oversized.post_id, f"a page of one tweet whose text is {len(oversized.text or '')} characters")
    for post in plan.posts:
        paths = []
        for position, image in enumerate(post.images):
            path = f"twitter/media/{_media_key(post, position)}.jpg"
            out.add_image("media", path, image, post)
            paths.append(path)
        out.image_paths[id(post)] = paths
        if post.defect == "impossible_coordinates":
            needle = f'"id": "{post.native_id}", "text"'.encode()
            number = next(n for n, line in enumerate(lines, start=1) if needle in line)
            out.anomaly("twitter", relpath, f"line {number}", "impossible_coordinates", "impossible_coordinates",
                        "field", post.post_id, "geo point at lat 123; the post is kept without coordinates")


def _v1_search_response(rng: random.Random, plan: Plan) -> dict:
    """A v1.1 search/tweets response: valid JSON, wrong shape for a v2 file."""
    user = plan.users[0]
    status_id = str(int(plan.posts[0].native_id) - 777)
    return {
        "statuses": [{"created_at": "Wed Apr 01 09:00:00 +0000 2026", "id": int(status_id), "id_str": status_id,
                      "full_text": "Bon dia Barcelona! Cafè i croissant abans de treballar",
                      "user": {"id": int(user.native_id), "id_str": user.native_id, "screen_name": user.username}}],
        "search_metadata": {"count": 1, "max_id_str": status_id, "query": "barcelona",
                            "next_results": f"?max_id={rng.randint(1, 9)}"},
    }
