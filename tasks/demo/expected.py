"""labels.csv and the expected facts: what an ingest of the dataset should find (tests check against them)."""

from __future__ import annotations

import random
import re
from collections import Counter

from tasks.demo.encoding import iso
from tasks.demo.model import Plan, Post
from tasks.demo.output import Output
from tasks.demo.places import HOME_CITY
from tasks.demo.plan import PLATFORMS
from tasks.demo.vocabulary import TOPICS

LABEL_SHARE = 0.6
HASHTAG = r"(?<![\w#])#(\w+)"
MENTION = r"(?<![\w@])@(\w(?:(?:\w|\.(?!\.))*\w)?)"  # instagram handles may hold dots


def _clean_posts(plans: dict[str, Plan]) -> dict[str, list[Post]]:
    """Posts without any planted defect, per platform."""
    return {platform: [p for p in plan.posts if p.defect is None] for platform, plan in plans.items()}


def write_labels(rng: random.Random, plans: dict[str, Plan], out: Output) -> list[Post]:
    """labels.csv: ``id,label`` (post_id, topic) for about 60% of the clean posts."""
    labelled = [p for posts in _clean_posts(plans).values() for p in posts if rng.random() < LABEL_SHARE]
    text = "id,label\n" + "".join(f"{p.post_id},{p.topic}\n" for p in labelled)
    out.add("labels", "labels.csv", text.encode("utf-8"))
    return labelled


def _distinct(pattern: str, post: Post) -> list[str]:
    """The distinct matches of ``pattern`` in a tweet or caption, lower-cased, in order (none on Reddit)."""
    if post.platform == "reddit":
        return []
    return list(dict.fromkeys(match.lower() for match in re.findall(pattern, post.text or "")))


def _truth(post: Post, out: Output) -> dict:
    """What a normalizer should find in one clean post."""
    text = post.text
    if post.platform == "reddit":
        text = f"{post.text}\n\n{post.body}" if post.body else post.text
    return {
        "platform": post.platform, "native_id": post.native_id, "author_id": post.user.author_id,
        "author_name": post.user.username, "created_at": iso(post.ts), "text": text,
        "title": post.text if post.platform == "reddit" else None, "hashtags": _distinct(HASHTAG, post),
        "mentions": _distinct(MENTION, post),
        "topic": post.topic, "lang": post.lang, "kind": post.kind, "city": post.city.name,
        "lat": post.point[0] if post.point else (post.location or {}).get("lat"),
        "lon": post.point[1] if post.point else (post.location or {}).get("lng"),
        "images": out.image_paths.get(id(post), []), "community": post.community,
        "repost_of": post.repost_of.post_id if post.repost_of else None,
        "copy_of": post.copy_of.post_id if post.copy_of else None,
    }


def expected_facts(n_posts: int, seed: int, plans: dict[str, Plan], out: Output,
                   near_duplicates: list[tuple[Post, Post, str]], labelled: list[Post]) -> dict:
    """The facts tests check an ingest against (see the package docstring)."""
    clean = _clean_posts(plans)
    defective: dict[str, dict[str, list[str]]] = {p: {} for p in PLATFORMS}
    for platform, plan in plans.items():
        for post in plan.posts:
            if post.defect:
                defective[platform].setdefault(post.defect, []).append(post.post_id)
    kept_kinds = {"impossible_coordinates", "corrupt_image", "non_utf8_text"}
    written = {p: clean[p] + [x for x in plans[p].posts if x.defect in kept_kinds] for p in PLATFORMS}
    malformed = {p: dict(Counter(a["kind"] for a in out.anomalies if a["platform"] == p)) for p in PLATFORMS}
    reasons = {p: dict(Counter(a["reason"] for a in out.anomalies if a["platform"] == p and a["reason"]))
               for p in PLATFORMS}
    heavy = Counter((p.platform, p.user.username, p.user.author_id) for posts in written.values() for p in posts)
    texts = {p: Counter(x.text for x in clean[p] if x.text) for p in PLATFORMS}
    return {
        "seed": seed,
        "n_posts": n_posts,
        "home_city": HOME_CITY,
        "topics": list(TOPICS),
        "generated": {p: len(plans[p].posts) for p in PLATFORMS},
        "posts": {p: len(clean[p]) for p in PLATFORMS},
        "written": {p: len(written[p]) for p in PLATFORMS},
        "post_ids": {p: sorted(x.post_id for x in clean[p]) for p in PLATFORMS},
        "defective_posts": defective,
        "malformed": malformed,
        "quarantine_reasons": reasons,
        "anomalies": out.anomalies,
        "records": dict(out.records),
        "repeated_records": {p: out.repeated_records[p] for p in PLATFORMS},
        "retweets": {x.post_id: x.repost_of.post_id for x in clean["twitter"] if x.repost_of},
        "duplicate_texts": {p: sum(n - 1 for n in texts[p].values()) for p in PLATFORMS},
        "planted_duplicate_texts": {p: sum(1 for x in clean[p] if x.copy_of) for p in PLATFORMS},
        "near_duplicate_images": [{"post_id": t.post_id, "of": s.post_id, "change": c} for t, s, c in near_duplicates],
        "heavy_posters": [{"platform": k[0], "username": k[1], "author_id": k[2], "posts": n}
                          for k, n in heavy.most_common() if n > 10],
        "languages": {p: dict(Counter(x.lang for x in clean[p])) for p in PLATFORMS},
        "topic_counts": {p: dict(Counter(x.topic for x in clean[p])) for p in PLATFORMS},
        "short_captions": {p: sum(x.kind == "short" for x in clean[p]) for p in PLATFORMS},
        "empty_captions": {p: sum(x.kind == "empty" for x in clean[p]) for p in PLATFORMS},
        "city_spam": {p: sorted(x.post_id for x in clean[p] if x.spam_city) for p in PLATFORMS},
        "geotagged": {
            "twitter_points": sum(x.point is not None for x in clean["twitter"]),
            "twitter_place_only": sum(x.place and x.point is None for x in clean["twitter"]),
            "twitter_points_by_city": dict(Counter(x.city.name for x in clean["twitter"] if x.point)),
            "instagram_points": sum(bool(x.location and "lat" in x.location) for x in clean["instagram"]),
        },
        "images": {p: sum(1 for f in out.files if f.relpath.startswith(p) and f.relpath.endswith(".jpg"))
                   for p in PLATFORMS},
        "labels": {"task": "topic", "relpath": "labels.csv", "count": len(labelled), "classes": list(TOPICS),
                   "by_label": dict(Counter(p.topic for p in labelled))},
        "ingest": [
            {"format": "twitter-v2", "paths": ["twitter/pages.jsonl"], "media_dirs": ["twitter/media"]},
            {"format": "reddit", "paths": ["reddit"], "media_dirs": ["reddit/media"]},
            {"format": "instaloader", "paths": ["instagram"], "media_dirs": []},
        ],
        "truth": {x.post_id: _truth(x, out) for p in PLATFORMS for x in clean[p]},
    }
