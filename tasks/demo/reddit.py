"""Reddit: API Listing documents per subreddit, a Pushshift / Arctic Shift style zstd dump, and the images."""

from __future__ import annotations

import json
import random

import zstandard

from tasks.demo.encoding import base36, slug
from tasks.demo.model import Plan, Post
from tasks.demo.output import Output, line_of
from tasks.demo.places import CITY_BY_NAME, HOME_CITY
from tasks.demo.plan import FIRST_REDDIT_ID, START


def _reddit_submission(post: Post, dump: bool, image_url: str | None) -> dict:
    """A submission as the API (``dump`` False) or a Pushshift / Arctic Shift dump gives it."""
    sub = post.community or "Barcelona"
    created = float(post.ts)
    permalink = f"/r/{sub}/comments/{post.native_id}/{slug(post.text or '')}/"
    data: dict = {
        "approved_at_utc": None, "subreddit": sub, "selftext": post.body, "author_fullname": post.user.fullname,
        "saved": False, "gilded": 0, "clicked": False, "title": post.text, "subreddit_name_prefixed": f"r/{sub}",
        "hidden": False, "pwls": 6, "downs": 0, "name": f"t3_{post.native_id}", "upvote_ratio": 0.96,
        "ups": post.score, "score": post.score, "edited": False, "is_self": image_url is None,
        "created": created, "domain": "i.redd.it" if image_url else f"self.{sub}", "over_18": False,
        "subreddit_id": f"t5_{base36(sum(map(ord, sub)) * 7919)}", "id": post.native_id, "author": post.user.username,
        "num_comments": post.score // 5, "permalink": permalink,
        "url": image_url or f"https://www.reddit.com{permalink}", "subreddit_subscribers": 250_000 + len(sub) * 1000,
        "created_utc": created, "num_crossposts": 0, "is_video": False, "stickied": False, "locked": False,
        "spoiler": False, "link_flair_text": None,
        "thumbnail": f"https://b.thumbs.redditmedia.com/{post.native_id}.jpg" if image_url else "self",
    }
    if image_url:
        image = post.images[0]
        data.update(post_hint="image", url_overridden_by_dest=image_url, thumbnail_width=140, thumbnail_height=140,
                    preview={"images": [{"source": {"url": f"https://preview.redd.it/{post.native_id}.jpg?auto=webp",
                                                    "width": image.width, "height": image.height},
                                         "resolutions": [], "variants": {}, "id": post.native_id + "prv"}],
                             "enabled": True})
    if dump:
        del data["created"]
        data["created_utc"] = post.ts
        data["retrieved_on"] = post.ts + 86_400 * (1 + post.score % 30)
    return data


def write_reddit(rng: random.Random, plan: Plan, out: Output) -> None:
    """Listing files per subreddit, the zstd NDJSON dump, and reddit/media/*.jpg."""
    image_url = {id(p): f"https://i.redd.it/{p.native_id}.jpg" for p in plan.posts if p.images}
    listed = [p for p in plan.posts if not p.in_dump]
    by_sub: dict[str, list[Post]] = {}
    for post in listed:
        by_sub.setdefault(post.community or "Barcelona", []).append(post)
    for sub in sorted(by_sub):
        ranked = sorted(by_sub[sub], key=lambda p: (-p.score, p.native_id))
        chunks = [ranked[i:i + 100] for i in range(0, len(ranked), 100)]
        for k, chunk in enumerate(chunks):
            after = f"t3_{chunk[-1].native_id}" if k < len(chunks) - 1 else None
            listing = {"kind": "Listing", "data": {
                "after": after, "dist": len(chunk), "modhash": "", "geo_filter": "", "before": None,
                "children": [{"kind": "t3", "data": _reddit_submission(p, False, image_url.get(id(p)))}
                             for p in chunk]}}
            relpath = f"reddit/{sub}_top.json" if k == 0 else f"reddit/{sub}_top_{k + 1}.json"
            out.add("reddit", relpath, _json(listing))
            out.records["reddit"] += 1
    _write_reddit_dump(rng, plan, image_url, out)
    for post in plan.posts:
        if post.images:
            path = f"reddit/media/{post.native_id}.jpg"
            out.add_image("media", path, post.images[0], post)
            out.image_paths[id(post)] = [path]


def _write_reddit_dump(rng: random.Random, plan: Plan, image_url: dict[int, str], out: Output) -> None:
    """reddit/dump.ndjson.zst: older submissions, a few re-fetched listing posts, and three broken lines."""
    relpath = "reddit/dump.ndjson.zst"
    dumped = [p for p in plan.posts if p.in_dump]
    lines: list[bytes] = []
    for post in dumped:
        doc = _reddit_submission(post, True, image_url.get(id(post)))
        encoding = "cp1252" if post.defect == "non_utf8_text" else "utf-8"
        lines.append(_json(doc, encoding))
    refetched = [p for p in plan.posts if not p.in_dump and not p.defect][:6]
    for post in refetched:  # re-fetched later: same id, newer score
        doc = _reddit_submission(post, True, image_url.get(id(post)))
        doc["_meta"] = {"retrieved_2nd_on": post.ts + 40 * 86_400}
        lines.append(_json(doc))
        out.repeated_records["reddit"] += 1
    lost = Post(platform="reddit", user=plan.users[0], ts=START + 3600, topic="beach", lang="en",
                city=CITY_BY_NAME[HOME_CITY], text="Morning swim at Barceloneta, the water was perfect",
                native_id=base36(FIRST_REDDIT_ID - rng.randint(10, 999)), community="Barcelona")
    whole = _json(_reddit_submission(lost, True, None))
    truncated = whole[: int(len(whole) * 0.6)]
    lines.insert(len(lines) // 2, truncated)
    wrong = b'{"data": null, "error": "Timeout. Maybe slow down a bit"}'
    lines.insert(len(lines) - 2, wrong)
    out.anomaly("reddit", relpath, line_of(lines, truncated), "truncated_json", "malformed_json", "record",
                None, "a submission cut at 60% of its bytes (its post is lost)")
    out.anomaly("reddit", relpath, line_of(lines, wrong), "wrong_shape", "wrong_shape", "record", None,
                "an API error envelope appended to the dump")
    legacy = next((p for p in dumped if p.defect == "non_utf8_text"), None)
    if legacy is not None:
        number = next(n for n, line in enumerate(lines, start=1) if _is_cp1252(line))
        out.anomaly("reddit", relpath, f"line {number}", "non_utf8_text", None, None, legacy.post_id,
                    "a line encoded as cp1252, not UTF-8: detect the encoding and keep the post "
                    "(a strict UTF-8 parser quarantines it as malformed_json)")
    data = zstandard.ZstdCompressor(level=10).compress(b"\n".join(lines) + b"\n")
    out.add("reddit", relpath, data)
    out.records["reddit"] += len(lines)


def _json(doc: object, encoding: str = "utf-8") -> bytes:
    """A JSON document as Reddit sends it (non-ASCII characters as they are)."""
    return json.dumps(doc, ensure_ascii=False).encode(encoding)


def _is_cp1252(line: bytes) -> bool:
    """Whether ``line`` is not UTF-8 (our cp1252 line)."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
