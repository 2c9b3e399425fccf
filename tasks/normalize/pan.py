"""PAN author-profiling folders (PAN 2019 bots and gender): one XML of an author's tweets per file, and
``truth.txt`` (``author:::bot|human:::bot|male|female``) when the folder is labelled.

The reader wraps each author's file in a small JSON document (``{"author", "xml", "truth"}``) so that the label
travels with the record; the posts are ``pan:<author>-<n>`` (PAN gives tweets no ids), the user ``pan:<author>``
keeps the author id as its ``native_id``, and the truth becomes user labels (tasks ``bots`` and ``gender``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import orjson

from storage.records import Parsed, RawRecord, make_post_id
from tasks.normalize.common import hashtags_of, mentions_of

PLATFORM = "pan"
SOURCE = "pan-truth"


def normalize_pan_author(record: RawRecord) -> Parsed:
    """One author's file: a post per ``<document>``, the user, and the user labels when the truth is known."""
    try:
        document = orjson.loads(record.payload)
        author = str(document["author"])
        root = ElementTree.fromstring(document["xml"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ElementTree.ParseError) as error:
        return Parsed(quarantine=[{"reason": "malformed_xml", "detail": f"not a PAN author file: {error}"}])
    user_id = make_post_id(PLATFORM, author)
    parsed = Parsed(users=[{"user_id": user_id, "platform": PLATFORM, "native_id": author}])
    language = root.get("lang")
    for position, node in enumerate(root.iter("document")):
        text = (node.text or "").strip()
        native_id = f"{author}-{position:03d}"
        parsed.posts.append({
            "post_id": make_post_id(PLATFORM, native_id),
            "platform": PLATFORM,
            "native_id": native_id,
            "author_id": user_id,
            "text": text,
            "platform_lang": language,
            "hashtags": hashtags_of(text),
            "mentions": mentions_of(text),
            "is_repost": text.startswith("RT @"),
        })
    truth = document.get("truth")
    if truth:
        kind, _, gender = str(truth).partition(":::")
        if kind in ("bot", "human"):
            parsed.user_labels.append({"user_id": user_id, "task": "bots", "label": kind, "source": SOURCE})
        if kind == "human" and gender in ("male", "female"):
            parsed.user_labels.append({"user_id": user_id, "task": "gender", "label": gender, "source": SOURCE})
        if kind not in ("bot", "human"):
            parsed.quarantine.append({"reason": "bad_label", "detail": f"truth {truth!r} is not bot or human",
                                      "scope": "field"})
    if not parsed.posts:
        parsed.quarantine.append({"reason": "no_posts", "detail": f"author {author} has no <document>",
                                  "scope": "field"})
    return parsed
