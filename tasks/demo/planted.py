"""Problems planted on purpose: near-duplicate images and a few broken posts (see ``expected["anomalies"]``)."""

from __future__ import annotations

import random
from collections.abc import Callable

from tasks.demo.model import Plan, PlannedImage, Post, User
from tasks.demo.places import CITY_BY_NAME, HOME_CITY
from tasks.demo.plan import PLATFORMS, START
from tasks.demo.vocabulary import CP1252_TITLE

OVERSIZED_CHARS = 3 * 1024 * 1024


def plant_problems(rng: random.Random, plans: dict[str, Plan]) -> list[tuple[Post, Post, str]]:
    """Plant near-duplicate images, then break a few posts; returns the (copy, source, change) image pairs."""
    near_duplicates = _plant_near_duplicates(rng, [p for platform in PLATFORMS for p in plans[platform].posts])
    _plant_defects(rng, plans)
    return near_duplicates


def _referenced(plans: dict[str, Plan]) -> set[int]:
    """ids() of posts something else points at (retweeted, copied, near-duplicated): never broken."""
    refs: set[int] = set()
    for plan in plans.values():
        for post in plan.posts:
            for other in (post.repost_of, post.copy_of):
                if other is not None:
                    refs.add(id(other))
            if any(image.source is not None for image in post.images):
                refs.add(id(post))
    return refs


def _plant_near_duplicates(rng: random.Random, posts: list[Post]) -> list[tuple[Post, Post, str]]:
    """About 1% of image posts get a re-encoded / brightened / downscaled copy of a same-topic post's image."""
    with_images = [p for p in posts if p.images and p.kind != "retweet"]
    count = max(3, len(with_images) // 100)
    targets = rng.sample(with_images, count)
    used = {id(p) for p in targets}
    pairs = []
    for target in targets:
        sources = [p for p in with_images if p.topic == target.topic and id(p) not in used]
        if not sources:
            continue
        source = rng.choice(sources)
        used.add(id(source))
        change = rng.choice(("reencode", "brighten", "resize"))
        original = source.images[0]
        scale = 0.8 if change == "resize" else 1.0  # a smaller re-upload, still >= 64 px
        target.images[0] = PlannedImage(topic=original.topic, seed=original.seed,
                                        width=max(64, round(original.width * scale)),
                                        height=max(64, round(original.height * scale)), quality=original.quality,
                                        source=original, change=change)
        pairs.append((target, source, change))
    return pairs


def _plant_defects(rng: random.Random, plans: dict[str, Plan]) -> None:
    """Break a few posts on purpose: huge text, impossible coordinates, corrupt images, a cp1252 title."""
    refs = _referenced(plans)

    def pick(platform: str, ok: Callable[[Post], bool]) -> Post:
        candidates = [p for p in plans[platform].posts
                      if p.kind == "normal" and p.defect is None and id(p) not in refs and ok(p)]
        return rng.choice(candidates)

    tweet = pick("twitter", lambda p: not p.images)
    tweet.defect = "oversized_text"
    tweet.text = (tweet.text or "") + " " + "spam " * (OVERSIZED_CHARS // 5)
    pick("twitter", lambda p: p.point is not None).defect = "impossible_coordinates"
    for platform in ("twitter", "instagram"):  # a single photo (tweets are never videos)
        broken = pick(platform, lambda p: len(p.images) == 1 and not p.video)
        broken.defect, broken.images[0].corrupt = "corrupt_image", True
    legacy = pick("reddit", lambda p: p.in_dump and not p.body)
    legacy.defect, legacy.text, legacy.lang, legacy.topic = "non_utf8_text", CP1252_TITLE, "ca", "food"
    legacy.user = User(platform="reddit", native_id="jordi_puig_bcn", username="jordi_puig_bcn", name="Jordi Puig",
                       city=CITY_BY_NAME[HOME_CITY], lang="ca", topic="food", kind="normal",
                       created_ts=START - 900 * 86_400, followers=0, following=0, fullname="t2_9x2kq1m0")
