"""Reddit normalizer against PRAW's recorded listings in ../shared/data, plus hand-made dump lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from storage.records import Parsed, RawRecord
from tasks.normalize.reddit import normalize_reddit

CASSETTES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "api-payloads" / "praw-cassettes"


def cassettes() -> Path:
    if not CASSETTES.is_dir():
        pytest.skip(f"real data folder {CASSETTES} is absent (it lives beside the checkout in ../shared/data)")
    return CASSETTES


def listing_bodies(name: str) -> list[bytes]:
    """The Listing response bodies of one Betamax cassette (strings inside its recorded interactions)."""
    interactions = json.loads((cassettes() / name).read_text())["interactions"]
    bodies = [i["response"]["body"]["string"].encode() for i in interactions]
    return [body for body in bodies if body.startswith(b'{"kind": "Listing"')]


def reddit(payload: bytes | dict | list) -> Parsed:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return normalize_reddit(RawRecord("inline.ndjson", "line 1", raw, "reddit"))


def posts_by_id(parsed: Parsed) -> dict[str, dict]:
    return {post["post_id"]: post for post in parsed.posts}


# --------------------------------------------------------------------------- real listings


@pytest.mark.shared_data
def test_front_page_listing() -> None:
    (body,) = listing_bodies("TestFront.test_top.json")
    parsed = reddit(body)
    assert len(parsed.posts) == 100 and parsed.quarantine == [] and parsed.deletions == []
    assert all(p["native_id"].startswith("t3_") for p in parsed.posts)
    buttons = posts_by_id(parsed)["reddit:t3_3g1jfi"]
    assert buttons["title"] == buttons["text"] == "Buttons"
    assert buttons["author_id"] == "reddit:mathild4" and buttons["author_name"] == "mathild4"
    assert buttons["community"] == "funny"
    assert buttons["score"] == 14807
    assert buttons["created_at"] == datetime(2015, 8, 6, 19, 40, 26, tzinfo=UTC)
    assert buttons["url"] == "https://www.reddit.com/r/funny/comments/3g1jfi/buttons/"
    assert buttons.get("lat") is None and buttons.get("reply_to") is None
    assert [m for m in parsed.media if m["post_id"] == "reddit:t3_3g1jfi"] == [{
        "post_id": "reddit:t3_3g1jfi", "position": 0, "media_key": "tumblr_ns7d7t7F6H1rvcmlco1_1280.jpg",
        "kind": "photo", "width": 1080, "height": 1080,
        "url": "http://41.media.tumblr.com/a353323397c0aa0b4cfbc21eead3d48f/tumblr_ns7d7t7F6H1rvcmlco1_1280.jpg",
    }]
    assert len(parsed.media) == 26  # 11 post_hint "image" + 15 direct i.imgur.com image files
    gif = next(m for m in parsed.media if m["post_id"] == "reddit:t3_2pvojg")
    assert (gif["kind"], gif["url"]) == ("animated_gif", "http://i.imgur.com/FG2wcV7.gif")


@pytest.mark.shared_data
def test_user_listing_comments_and_a_removed_submission() -> None:
    first = reddit(listing_bodies("TestListingGenerator.test_exhaust_items.json")[0])
    comment = posts_by_id(first)["reddit:t1_csz1fte"]
    assert comment["text"].startswith("Ok, Hi!\n\nIt's Steve. I'm super excited to be back.")
    assert comment["reply_to"] == "reddit:t3_3cucye"
    assert comment.get("title") is None
    assert comment["community"] == "announcements" and comment["author_name"] == "spez"
    assert comment["url"] == "https://www.reddit.com/comments/3cucye/_/csz1fte/"  # 2015 data: no permalink
    pages = [reddit(body) for body in listing_bodies("TestListingGenerator.test_exhaust_items_with_before.json")]
    deletions = [d for p in pages for d in p.deletions]
    assert deletions == [{"post_id": "reddit:t3_8kkgc", "reason": "removed", "deleted_at": None}]
    removed = next(p for page in pages for p in page.posts if p["post_id"] == "reddit:t3_8kkgc")
    assert removed["text"] == removed["title"] == "I need your help, reddit."


@pytest.mark.shared_data
def test_every_praw_listing_normalizes() -> None:
    names = sorted(p.name for p in cassettes().iterdir())
    assert len(names) == 20
    parsed = [reddit(body) for name in names for body in listing_bodies(name)]
    posts = [post for p in parsed for post in p.posts]
    assert len(posts) == 4040
    assert len({post["post_id"] for post in posts}) == 3356
    assert sum(post["native_id"].startswith("t1_") for post in posts) == 2088
    assert all(post["created_at"].tzinfo is not None for post in posts)
    assert [q for p in parsed for q in p.quarantine] == []
    assert reddit(listing_bodies("TestListingGenerator.test_no_items.json")[0]) == Parsed()
    deleted_authors = [post for post in posts if post["author_id"] is None]
    assert len(deleted_authors) == 35 and {p["author_name"] for p in deleted_authors} == {None}


# --------------------------------------------------------------------------- hand-made dump lines

GALLERY = {
    "id": "17abcde", "subreddit": "EarthPorn", "title": "Alps &amp; lakes", "selftext": "Shot on film",
    "author": "alice", "author_fullname": "t2_abc", "created_utc": "1700000000", "score": 321,
    "url": "https://www.reddit.com/gallery/17abcde", "permalink": "/r/EarthPorn/comments/17abcde/alps_lakes/",
    "is_gallery": True, "over_18": False,
    "gallery_data": {"items": [{"media_id": "bbb", "id": 2}, {"media_id": "aaa", "id": 1},
                               {"media_id": "ccc", "id": 3}]},
    "media_metadata": {
        "aaa": {"status": "valid", "e": "Image", "m": "image/jpg",
                "s": {"y": 3000, "x": 4000,
                      "u": "https://preview.redd.it/aaa.jpg?width=4000&amp;format=pjpg&amp;s=f00"}},
        "bbb": {"status": "valid", "e": "AnimatedImage", "m": "image/gif",
                "s": {"y": 240, "x": 320, "gif": "https://i.redd.it/bbb.gif",
                      "mp4": "https://preview.redd.it/bbb.gif?format=mp4"}},
        "ccc": {"status": "failed"},
    },
}


def test_gallery_gives_one_media_row_per_valid_item_in_gallery_order() -> None:
    parsed = reddit(GALLERY)
    (post,) = parsed.posts
    assert post["post_id"] == "reddit:t3_17abcde" and post["native_id"] == "t3_17abcde"
    assert post["title"] == "Alps & lakes"
    assert post["text"] == "Alps & lakes\n\nShot on film"
    assert post["created_at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # created_utc given as text
    assert post["community"] == "EarthPorn" and post["score"] == 321
    assert post["url"] == "https://www.reddit.com/r/EarthPorn/comments/17abcde/alps_lakes/"
    assert parsed.media == [
        {"post_id": "reddit:t3_17abcde", "position": 0, "media_key": "bbb", "kind": "animated_gif",
         "url": "https://i.redd.it/bbb.gif", "width": 320, "height": 240},
        {"post_id": "reddit:t3_17abcde", "position": 1, "media_key": "aaa", "kind": "photo",
         "url": "https://preview.redd.it/aaa.jpg?width=4000&format=pjpg&s=f00", "width": 4000, "height": 3000},
    ]
    assert parsed.users == [
        {"user_id": "reddit:alice", "platform": "reddit", "native_id": "alice", "username": "alice"}
    ]
    assert parsed.deletions == [] and parsed.quarantine == []


def test_removed_and_deleted_submissions_give_deletions() -> None:
    removed = reddit({**GALLERY, "id": "r1", "selftext": "[removed]", "removed_by_category": "moderator",
                      "is_gallery": False, "gallery_data": None, "media_metadata": None,
                      "url": "https://example.com/story", "post_hint": "link"})
    assert removed.posts[0]["text"] == "Alps & lakes"
    assert removed.media == []
    assert removed.deletions == [{"post_id": "reddit:t3_r1", "reason": "moderator", "deleted_at": None}]
    deleted = reddit({"id": "d1", "subreddit": "pics", "title": "gone", "selftext": "[deleted]",
                      "author": "[deleted]", "created_utc": 1600000000, "score": 1,
                      "permalink": "/r/pics/comments/d1/gone/"})
    assert deleted.posts[0]["author_id"] is None and deleted.posts[0]["author_name"] is None
    assert deleted.users == []
    assert deleted.deletions == [{"post_id": "reddit:t3_d1", "reason": "deleted", "deleted_at": None}]
    arctic = reddit({"id": "a1", "subreddit": "pics", "title": "t", "selftext": "kept text", "author": "x",
                     "created_utc": 1600000000.5, "_meta": {"removal_type": "removed"}})
    assert arctic.posts[0]["text"] == "t\n\nkept text"
    assert arctic.deletions == [{"post_id": "reddit:t3_a1", "reason": "removed", "deleted_at": None}]


def test_image_link_and_crosspost() -> None:
    parsed = reddit({"id": "i1", "subreddit": "aww", "title": "cat", "selftext": "", "author": "bob",
                     "created_utc": 1600000000, "url": "https://i.imgur.com/AbCd123.jpeg", "domain": "i.imgur.com",
                     "crosspost_parent": "t3_orig1", "permalink": "/r/aww/comments/i1/cat/"})
    post = parsed.posts[0]
    assert post["is_repost"] is True and post["repost_of"] == "reddit:t3_orig1"
    assert parsed.media == [{"post_id": "reddit:t3_i1", "position": 0, "media_key": "AbCd123.jpeg", "kind": "photo",
                             "url": "https://i.imgur.com/AbCd123.jpeg", "width": None, "height": None}]
    link = reddit({"id": "l1", "title": "article", "url": "https://i.imgur.com/gallery/xyz", "created_utc": 1})
    assert link.media == []


def test_comments_from_dumps() -> None:
    top = reddit({"id": "k1", "body": "Nice &gt; expected", "author": "carol", "subreddit": "EarthPorn",
                  "link_id": "t3_17abcde", "parent_id": "t3_17abcde", "created_utc": 1700000100, "score": 4,
                  "permalink": "/r/EarthPorn/comments/17abcde/alps_lakes/k1/"})
    (post,) = top.posts
    assert post["post_id"] == "reddit:t1_k1" and post["text"] == "Nice > expected"
    assert post["reply_to"] == "reddit:t3_17abcde"
    assert post["url"] == "https://www.reddit.com/r/EarthPorn/comments/17abcde/alps_lakes/k1/"
    # Pushshift's 2022-23 API: null parent_id for top-level comments, base-10 integers for replies to comments.
    root = reddit({"id": "k2", "body": "first", "author": "dan", "link_id": "t3_17abcde", "parent_id": None,
                   "created_utc": 1700000200})
    assert root.posts[0]["reply_to"] == "reddit:t3_17abcde"
    assert root.posts[0]["url"] == "https://www.reddit.com/comments/17abcde/_/k2/"
    reply = reddit({"id": "j72b5yy", "body": "[removed]", "author": "[deleted]", "link_id": "t3_10px1x6",
                    "parent_id": 41785179015, "created_utc": 1675400000})
    assert int("j71teh3", 36) == 41785179015
    assert reply.posts[0]["reply_to"] == "reddit:t1_j71teh3"
    assert reply.posts[0]["text"] is None
    assert reply.deletions == [{"post_id": "reddit:t1_j72b5yy", "reason": "removed", "deleted_at": None}]


def test_comment_page_with_nested_replies() -> None:
    def thing(kind: str, **data: object) -> dict:
        return {"kind": kind, "data": data}

    reply = thing("t1", id="c2", body="reply", author="b", link_id="t3_p1", parent_id="t1_c1", created_utc=3)
    top = thing("t1", id="c1", body="top", author="a", link_id="t3_p1", parent_id="t3_p1", created_utc=2,
                replies={"kind": "Listing", "data": {"children": [reply, thing("more", children=["c3"])]}})
    page = [
        {"kind": "Listing", "data": {"children": [thing("t3", id="p1", title="post", selftext="", author="a",
                                                          created_utc=1, permalink="/r/x/comments/p1/post/")]}},
        {"kind": "Listing", "data": {"children": [top, thing("t5", display_name="x")]}},
    ]
    parsed = reddit(page)
    assert [(p["post_id"], p["reply_to"]) for p in parsed.posts] == [
        ("reddit:t3_p1", None), ("reddit:t1_c1", "reddit:t3_p1"), ("reddit:t1_c2", "reddit:t1_c1")
    ]
    assert [u["user_id"] for u in parsed.users] == ["reddit:a", "reddit:b"]
    assert parsed.quarantine == [
        {"reason": "unsupported_payload", "detail": "document[1].children[1]: Reddit thing of kind 't5'"}
    ]


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (b'{"kind": "Listing", "data": {"children": [', "malformed_json", "unexpected end of data"),
        (b"42", "wrong_shape", "expected a JSON object, got int"),
        (b'{"hello": "world"}', "wrong_shape", "unrecognised object"),
        (b'{"kind": "Listing", "data": {}}', "wrong_shape", "Listing without data.children"),
        (b'{"kind": "t3", "data": []}', "wrong_shape", "t3 without a data object"),
        (b'{"id": "p1", "title": "t", "selftext": "", "permalink": 5}', "wrong_shape", "document: TypeError"),
    ],
)
def test_bad_payloads_are_quarantined_never_raised(payload: bytes, reason: str, detail: str) -> None:
    parsed = reddit(payload)
    assert parsed.posts == []
    assert [q["reason"] for q in parsed.quarantine] == [reason]
    assert detail in parsed.quarantine[0]["detail"]


def test_blank_payload_gives_nothing() -> None:
    assert reddit(b"  ") == Parsed()
