"""The embedded demo dataset: synthetic posts in X/Twitter's, Reddit's and instaloader's real wire formats.

``generate_demo(n_posts, seed)`` is pure: it returns every file as bytes (``DemoFile``: format, relative
path, data) and ``expected``, the facts a test needs to check an ingest of them. Nothing is read or
written; the demo flow writes the files with storage/ and ingests them through the ordinary readers.

Layout (relative paths)::

    twitter/pages.jsonl                      X API v2 search pages (<= 100 tweets, with includes and meta)
    twitter/media/3_<id>.jpg                 the photos, named like their URLs' last segment (--media-dir)
    reddit/<Subreddit>_top[_<k>].json        Reddit API Listing documents (<= 100 submissions each)
    reddit/dump.ndjson.zst                   a Pushshift / Arctic Shift style dump of older submissions
    reddit/media/<id>.jpg                    the i.redd.it images (--media-dir)
    instagram/<target>/<stem>.json.xz        instaloader Post structures; <stem> = YYYY-MM-DD_HH-MM-SS_UTC
    instagram/<target>/<stem>[_<n>].jpg      their images (sidecars: _1, _2, ...)
    instagram/<profile>/<profile>_<id>.json.xz, instagram/#barcelona/barcelona.json.xz
                                             Profile and Hashtag structures
    labels.csv                               id,label: a topic label for about 60% of the clean posts

Six topics (food, beach, football, architecture, nightlife, nature) differ in text (vocabularies in
English, Spanish and Catalan, some Portuguese, Galician, Basque, French, German) and in image (palette and
shapes). Planted on purpose: heavy posters, short and empty captions, other-city spam, exact duplicate
texts, retweets, records repeated across pages / files, near-duplicate images, and a few broken records
per platform (see ``expected["anomalies"]``). Deterministic for a seed: same arguments, same bytes.

Modules, in the order ``generate_demo`` uses them: ``places`` and ``vocabulary`` (the world and its words),
``model`` (users, posts, images), ``plan`` and ``texts`` (who posts what, when), ``planted`` (the problems),
``images`` (the pictures), ``output`` (files and the collector), the writers ``twitter``, ``reddit`` and
``instagram``, and ``expected`` (labels.csv and the facts); ``encoding`` holds the ids, slugs and times they share.
"""

from __future__ import annotations

import random

from tasks.demo.expected import expected_facts, write_labels
from tasks.demo.instagram import write_instagram
from tasks.demo.output import DemoDataset, DemoFile, Output
from tasks.demo.plan import plan_platforms
from tasks.demo.planted import plant_problems
from tasks.demo.reddit import write_reddit
from tasks.demo.twitter import write_twitter
from tasks.demo.vocabulary import CP1252_TITLE, TOPICS

__all__ = ["CP1252_TITLE", "TOPICS", "DemoDataset", "DemoFile", "generate_demo"]

MIN_POSTS = 200


def generate_demo(n_posts: int = 3000, seed: int = 7) -> DemoDataset:
    """Generate the demo dataset: ``n_posts`` distinct posts (well-formed or with a planted defect)."""
    if n_posts < MIN_POSTS:
        raise ValueError(f"n_posts must be at least {MIN_POSTS}, got {n_posts}")
    rng = random.Random(seed)
    plans = plan_platforms(rng, n_posts)
    near_duplicates = plant_problems(rng, plans)
    out = Output()
    write_twitter(rng, plans["twitter"], out)
    write_reddit(rng, plans["reddit"], out)
    write_instagram(rng, plans["instagram"], out)
    labelled = write_labels(rng, plans, out)
    expected = expected_facts(n_posts, seed, plans, out, near_duplicates, labelled)
    return DemoDataset(files=out.files, expected=expected)
