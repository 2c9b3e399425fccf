"""The plan: users and posts per platform, in time order, with texts, ids, geo, images and copied texts."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from tasks.demo.encoding import INSTAGRAM_EPOCH_MS, TWITTER_EPOCH_MS, base36, shortcode, slug, snowflake
from tasks.demo.model import Plan, PlannedImage, Post, User
from tasks.demo.places import CITIES, City
from tasks.demo.texts import body, compose, with_second_sentence
from tasks.demo.vocabulary import (
    CITY_SUBREDDITS,
    FIRST,
    HANDLE_WORDS,
    LANG_MIX,
    LAST,
    MAIN_LANGS,
    SPAM_NAMES,
    SUBREDDITS,
    TOPICS,
)

PLATFORMS = ("twitter", "reddit", "instagram")
PLATFORM_SHARE = {"twitter": 0.55, "reddit": 0.27}  # instagram: the rest
DUMP_SHARE = 0.4  # of the Reddit posts: the older ones, in the Pushshift-style dump
START = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())
SPAN = 61 * 86_400
FIRST_REDDIT_ID = int("1k00000", 36)  # ids grow from here (the lost dump record has an older one)


def plan_platforms(rng: random.Random, n_posts: int) -> dict[str, Plan]:
    """The plan of every platform, ``n_posts`` posts in all."""
    counts = _platform_counts(n_posts)
    return {platform: _plan_platform(rng, platform, counts[platform]) for platform in PLATFORMS}


def _platform_counts(n_posts: int) -> dict[str, int]:
    """Posts per platform."""
    twitter = round(n_posts * PLATFORM_SHARE["twitter"])
    reddit = round(n_posts * PLATFORM_SHARE["reddit"])
    return {"twitter": twitter, "reddit": reddit, "instagram": n_posts - twitter - reddit}


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    """A key of ``weights`` drawn in proportion to its weight."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _random_city(rng: random.Random) -> City:
    """A city drawn by its weight (Barcelona most often)."""
    return rng.choices(CITIES, weights=[city.weight for city in CITIES])[0]


def _username(rng: random.Random, platform: str) -> str:
    """A plausible handle for ``platform``."""
    first, last, word = rng.choice(FIRST), rng.choice(LAST), rng.choice(HANDLE_WORDS)
    number = str(rng.randint(1, 99))
    if platform == "twitter":
        name = rng.choice((f"{first}_{last}", f"{first}{last}{number}", f"{word}_{first}", f"{first.title()}{word}"))
        return name[:15]
    if platform == "instagram":
        return rng.choice((f"{first}.{last}", f"{first}_{word}", f"{word}.{first}{number}", f"{first}{last}"))
    return rng.choice((f"{first.title()}{last.title()}{number}", f"{word}_{first}{number}",
                       f"Throwaway{number}{first}"))


def _make_user(rng: random.Random, platform: str, username: str, kind: str) -> User:
    """An account with a home city, a main language and a favourite topic."""
    if platform == "twitter":
        native_id = str(rng.choice((rng.randint(10**7, 10**10), rng.randint(10**17, 17 * 10**17))))
    elif platform == "instagram":
        native_id = str(rng.randint(10**9, 7 * 10**10))
    else:
        native_id = username
    lang = _weighted(rng, LANG_MIX[platform])
    return User(
        platform=platform, native_id=native_id, username=username,
        name=f"{username.split('.')[0].split('_')[0].title()} {rng.choice(LAST).title()}",
        city=_random_city(rng), lang=lang if kind != "spam" else rng.choice(MAIN_LANGS),
        topic=rng.choice(TOPICS), kind=kind, created_ts=START - rng.randint(30, 4000) * 86_400,
        followers=int(rng.paretovariate(1.2) * 40), following=rng.randint(10, 900),
        fullname=f"t2_{base36(rng.getrandbits(40))}",
    )


def _make_users(rng: random.Random, platform: str, n_posts: int) -> tuple[list[User], list[User]]:
    """(accounts, one author per post slot): heavy, medium, spam and normal accounts."""
    taken: set[str] = set()
    users: list[User] = []
    slots: list[User] = []

    def new_user(kind: str, username: str | None = None) -> User:
        name = username or _username(rng, platform)
        while name.lower() in taken:
            name = _username(rng, platform)
        taken.add(name.lower())
        user = _make_user(rng, platform, name, kind)
        users.append(user)
        return user

    cap = max(3, n_posts // 8)
    for kind, count, low, high in (("heavy", 2 if platform == "twitter" else 1, 30, 60),
                                   ("medium", 5 if platform == "twitter" else 3, 11, 20)):
        for _ in range(count):
            slots += [new_user(kind)] * min(rng.randint(low, high), cap)
    spam_users = [new_user("spam", name) for name in SPAM_NAMES[platform]]
    spam_posts = max(3, round(n_posts * 0.02))
    slots += [spam_users[i % len(spam_users)] for i in range(spam_posts)]
    while len(slots) < n_posts:
        slots += [new_user("normal")] * rng.choice((1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6, 8))
    slots = slots[:n_posts]
    rng.shuffle(slots)
    return users, slots


def _plan_platform(rng: random.Random, platform: str, n_posts: int) -> Plan:
    """Users and posts of one platform, in time order, with texts, geo, images and duplicates."""
    users, slots = _make_users(rng, platform, n_posts)
    mentionable = [u for u in users if u.kind != "spam"]
    times = sorted(START + rng.randrange(SPAN) for _ in slots)
    posts = [_plan_post(rng, platform, user, ts, mentionable) for user, ts in zip(slots, times, strict=True)]
    if platform == "instagram":
        _assign_instagram_targets(rng, posts)
    _plant_copies(rng, posts)
    if platform == "twitter":
        _assign_twitter_ids(rng, posts)
    elif platform == "reddit":
        _assign_reddit_ids(rng, posts)
    else:
        _assign_instagram_ids(rng, posts)
    return Plan(platform, users, posts)


def _plan_post(rng: random.Random, platform: str, user: User, ts: int, mentionable: list[User]) -> Post:
    """One post by ``user`` at ``ts``: kind, topic, language, city, text, geo and images."""
    topic = user.topic if rng.random() < (0.8 if user.kind == "heavy" else 0.5) else rng.choice(TOPICS)
    lang = user.lang if rng.random() < 0.8 else _weighted(rng, LANG_MIX[platform])
    city = user.city if rng.random() < 0.85 else _random_city(rng)
    post = Post(platform=platform, user=user, ts=ts, topic=topic, lang=lang, city=city)
    draw = rng.random()
    if user.kind == "spam":
        post.kind, post.lang = "spam", lang if lang in MAIN_LANGS else "en"
    elif draw < 0.03:
        post.kind, post.lang = "short", lang if lang in MAIN_LANGS else "es"
    elif draw < 0.07 and platform == "instagram":
        post.kind = "empty"
    post.text = compose(rng, post, mentionable)
    if platform == "reddit" and rng.random() < 0.2 and post.kind == "normal":
        post.body = with_second_sentence(rng, post, body(rng, lang, topic, city))
    else:
        post.images = _plan_images(rng, platform, topic)
    post.score = int(rng.paretovariate(1.1) * (3 if platform != "reddit" else 12))
    if platform == "twitter":
        _plan_geo(rng, post)
    return post


def _plan_images(rng: random.Random, platform: str, topic: str) -> list[PlannedImage]:
    """The pictures of a post: most tweets, most Reddit posts and every Instagram post have some."""
    if platform == "twitter":
        count = 0 if rng.random() < 0.35 else (2 if rng.random() < 0.08 else 1)
    elif platform == "reddit":
        count = 1
    else:
        count = rng.choice((2, 3)) if rng.random() < 0.08 else 1
    return [new_image(rng, topic) for _ in range(count)]


def new_image(rng: random.Random, topic: str) -> PlannedImage:
    """A fresh picture of ``topic``."""
    return PlannedImage(topic=topic, seed=rng.getrandbits(63), width=rng.randint(64, 128),
                        height=rng.randint(64, 128), quality=rng.randint(80, 92))


def _plan_geo(rng: random.Random, post: Post) -> None:
    """About 70% of tweets carry a point (and place); a few more only a place."""
    draw = rng.random()
    if draw < 0.70:
        city = post.city
        lat = min(max(rng.gauss(city.lat, 0.02), city.bbox[1]), city.bbox[3])
        lon = min(max(rng.gauss(city.lon, 0.02), city.bbox[0]), city.bbox[2])
        post.point, post.place = (round(lat, 6), round(lon, 6)), True
    elif draw < 0.75:
        post.place = True


def _plant_copies(rng: random.Random, posts: list[Post]) -> None:
    """Exact duplicate texts (copy-paste accounts) and, on X, retweets of earlier tweets."""
    platform = posts[0].platform
    p_copy, p_retweet = {"twitter": (0.025, 0.05), "reddit": (0.01, 0.0), "instagram": (0.015, 0.0)}[platform]
    for index, post in enumerate(posts):
        if index < 20 or post.kind != "normal" or post.body:
            continue
        earlier = [p for p in posts[max(0, index - 400):index]
                   if p.kind == "normal" and not p.body and p.user is not post.user]
        if not earlier:
            continue
        draw = rng.random()
        if draw < p_retweet:
            original = rng.choice(earlier)
            post.kind, post.repost_of = "retweet", original
            post.topic, post.lang, post.city = original.topic, original.lang, original.city
            post.text = f"RT @{original.user.username}: {original.text}"
            post.images, post.point, post.place = [], None, False
        elif draw < p_retweet + p_copy:
            original = rng.choice(earlier)
            post.kind, post.copy_of = "duplicate_text", original
            post.topic, post.lang, post.text = original.topic, original.lang, original.text


def _assign_twitter_ids(rng: random.Random, posts: list[Post]) -> None:
    """Snowflake ids from the creation time, strictly increasing."""
    previous = 0
    for post in posts:
        tweet_id = max(snowflake(post.ts * 1000 + rng.randrange(1000), TWITTER_EPOCH_MS, 22, rng), previous + 1)
        post.native_id, previous = str(tweet_id), tweet_id


def _assign_reddit_ids(rng: random.Random, posts: list[Post]) -> None:
    """Base-36 ids increasing with time; subreddits; the oldest share goes to the dump."""
    current = FIRST_REDDIT_ID
    cutoff = int(len(posts) * DUMP_SHARE)
    for index, post in enumerate(posts):
        current += rng.randint(5, 400)
        post.native_id = base36(current)
        subs = SUBREDDITS[post.topic]
        post.community = CITY_SUBREDDITS[post.city.name] if rng.random() < 0.25 else rng.choice(subs)
        if post.spam_city:
            post.community = rng.choice(("travel", "Barcelona"))
        post.in_dump = index < cutoff


def _assign_instagram_targets(rng: random.Random, posts: list[Post]) -> None:
    """instaloader target folders: a profile for frequent posters, else a hashtag the caption carries."""
    for post in posts:
        post.community = post.user.username if post.user.frequent else rng.choice(("#barcelona", "#bcn"))
        if not post.user.frequent and post.text and post.kind == "normal" and post.community not in post.text.lower():
            post.text += f" {post.community}"


def _assign_instagram_ids(rng: random.Random, posts: list[Post]) -> None:
    """Media ids and shortcodes (unique file names per folder), locations."""
    used: dict[str, set[int]] = {}
    for post in posts:
        taken = used.setdefault(post.community, set())
        while post.ts in taken:
            post.ts += 1
        taken.add(post.ts)
        post.native_id = shortcode(snowflake(post.ts * 1000 + rng.randrange(1000), INSTAGRAM_EPOCH_MS, 23, rng))
        post.video = len(post.images) == 1 and rng.random() < 0.03
        if rng.random() < 0.6:
            spot = rng.choice(post.city.spots)
            name = spot if spot == post.city.name else f"{spot}, {post.city.name}"
            post.location = {"id": str(200_000_000 + sum(ord(c) * 131 ** i for i, c in enumerate(name)) % 10**9),
                             "has_public_page": True, "name": name, "slug": slug(name).replace("_", "-")}
            if rng.random() < 0.5:
                post.location["lat"] = round(rng.gauss(post.city.lat, 0.02), 6)
                post.location["lng"] = round(rng.gauss(post.city.lon, 0.02), 6)
