"""Benchmark input: real tweet texts from ../shared/data written as X API v2 response pages."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def real_texts(shared: Path = SHARED_DATA) -> list[str]:
    """Every real tweet text we have: TweetLID, geotagged tweets, TweetEval emoji and emotion."""
    texts: list[str] = []
    for line in (shared / "tweetlid" / "train_complete_clean.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            texts.append(parts[3])
    for line in (shared / "geotagged-tweets" / "tweets.tsv").read_text(encoding="utf-8").splitlines():
        texts.append(line.split("\t")[1])
    for name in ("emoji", "emotion"):
        for split in ("train", "val"):
            texts.extend((shared / "tweeteval" / name / f"{split}_text.txt").read_text(encoding="utf-8").splitlines())
    return [t for t in texts if t.strip()]


def write_v2_pages(
    path: Path, n_posts: int, seed: int = 1, page_size: int = 100, first_post: int = 0, n_authors: int | None = None,
    first_author: int = 0, returning: tuple[float, int] = (0.0, 0),
) -> Path:
    """``n_posts`` tweets as v2 pages: real texts, each made unique by a numbered hashtag so that no cache
    of repeated texts flatters the detectors; authors heavy-tailed (Zipf-like) among ``n_authors`` (default a
    quarter of the posts) numbered from ``first_author``; coordinates on a third. ``first_post``: the number of the
    first post (ids and times follow on from an earlier file's). ``returning`` (share, authors): that share of the
    posts comes from authors 0..authors-1 drawn uniformly (an earlier file's population)."""
    rng = random.Random(seed)
    returning_share, returning_authors = returning
    texts = real_texts()
    n_authors = n_authors or max(n_posts // 4, 10)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = first_post + n_posts
    with path.open("wb") as handle:
        for first in range(first_post, end, page_size):
            tweets, users = [], {}
            for i in range(first, min(first + page_size, end)):
                author = first_author + (min(int(rng.paretovariate(1.2)) - 1, n_authors - 1) if rng.random() < 0.3
                                         else rng.randrange(n_authors))
                if returning_authors and rng.random() < returning_share:
                    author = rng.randrange(returning_authors)
                text = f"{texts[i % len(texts)]} #p{i}"
                tweet = {
                    "id": str(10**15 + i), "text": text, "author_id": str(author), "lang": "und",
                    "created_at": (start + timedelta(seconds=i * 7)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "edit_history_tweet_ids": [str(10**15 + i)],
                    "public_metrics": {"like_count": rng.randrange(100), "retweet_count": 0, "reply_count": 0,
                                       "quote_count": 0},
                }
                if i % 3 == 0:
                    tweet["geo"] = {"coordinates": {"type": "Point",
                                                    "coordinates": [2.1 + rng.random() / 5, 41.3 + rng.random() / 5]}}
                tweets.append(tweet)
                users[str(author)] = {"id": str(author), "username": f"user{author}", "name": f"User {author}"}
            page = {"data": tweets, "includes": {"users": list(users.values())},
                    "meta": {"result_count": len(tweets)}}
            handle.write(orjson.dumps(page) + b"\n")
    return path
