"""X/Twitter normalizers against the real payloads in ../shared/data/api-payloads, plus hand-made lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from storage.records import Parsed, RawRecord
from tasks.normalize.twitter import normalize_twitter_v1, normalize_twitter_v2

PAYLOADS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "api-payloads"
V2 = PAYLOADS / "twitter-v2"
CASSETTES = PAYLOADS / "tweepy-cassettes"


def _require(folder: Path) -> Path:
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} is absent (it lives beside the checkout in ../shared/data)")
    return folder


def v2_lines(name: str) -> list[Parsed]:
    """Every line of one twitter-v2 file, normalized as the JSON-lines reader would feed it."""
    path = _require(V2) / name
    return [
        normalize_twitter_v2(RawRecord(str(path), f"line {n}", line.strip(), "twitter"))
        for n, line in enumerate(path.read_bytes().splitlines(), start=1)
    ]


def v2(payload: bytes | dict, source: str = "inline.jsonl") -> Parsed:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return normalize_twitter_v2(RawRecord(source, "line 1", raw, "twitter"))


def v1(payload: bytes | dict) -> Parsed:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return normalize_twitter_v1(RawRecord("inline.jsonl", "line 1", raw, "twitter"))


def posts_by_id(parsed: list[Parsed]) -> dict[str, dict]:
    return {post["post_id"]: post for p in parsed for post in p.posts}


# --------------------------------------------------------------------------- real v2 payloads


@pytest.mark.shared_data
def test_every_line_of_every_v2_file_normalizes() -> None:
    files = sorted(p.name for p in _require(V2).iterdir())
    assert len(files) == 28
    by_file = {name: v2_lines(name) for name in files}
    posts = [post for parsed in by_file.values() for p in parsed for post in p.posts]
    assert len(posts) == 1509  # some pages repeat across files (kpop / 2sets / brexit)
    assert len({post["post_id"] for post in posts}) == 1109
    for post in posts:
        assert post["post_id"] == f"twitter:{post['native_id']}"
        assert post["created_at"].tzinfo is not None and post["created_at"].utcoffset().total_seconds() == 0
        assert post["author_id"].startswith("twitter:")
        assert isinstance(post["text"], str) and post["text"]
    quarantine = sorted((name, q["reason"]) for name, parsed in by_file.items() for p in parsed for q in p.quarantine)
    assert quarantine == [
        ("counts.jsonl", "unsupported_payload"),
        ("lists.jsonl", "unsupported_payload"),
        ("lists.jsonl", "unsupported_payload"),
        ("streaming_output_with_error.jsonl", "malformed_json"),
    ]


@pytest.mark.shared_data
def test_reply_with_place_mentions_and_unescaped_text() -> None:
    post = posts_by_id(v2_lines("geo_tweets.jsonl"))["twitter:1501963039859363843"]
    assert post["author_id"] == "twitter:495430242"
    assert post["author_name"] == "IgorBrigadir"
    assert post["created_at"] == datetime(2022, 3, 10, 16, 47, 48, tzinfo=UTC)
    assert "you need to specify Fields & Expansions, twarc does it for you" in post["text"]
    assert post["place_name"] == "Berlin, Germany"
    assert (post["lat"], post["lon"]) == (None, None)  # a place only: no coordinates invented from its bbox
    assert post["reply_to"] == "twitter:1501958949863661574"
    assert post["mentions"] == ["j2bryson", "twitter"]
    assert post["score"] == 3
    assert post["platform_lang"] == "en"
    assert post["url"] == "https://twitter.com/IgorBrigadir/status/1501963039859363843"
    edges = v2_lines("geo_tweets.jsonl")[1].mentions
    assert [(e["dst_username"], e["dst_user_id"]) for e in edges] == [
        ("j2bryson", "twitter:2919151"), ("twitter", "twitter:783214")
    ]
    assert {e["src_user_id"] for e in edges} == {"twitter:495430242"}


@pytest.mark.shared_data
def test_geojson_points_are_lon_lat() -> None:
    harry = v2_lines("geo_tweets.jsonl")[0].posts[0]
    assert harry["native_id"] == "1249702384659554308"
    assert (harry["lat"], harry["lon"]) == (88.01785747, 42.77810097)  # GeoJSON [42.778..., 88.017...]
    assert harry["hashtags"][:3] == ["harrypotterdiy", "harrypotterandphilosophersstone", "potterhead"]
    assert harry["hashtags"].count("harrypotter") == 1  # tagged twice, kept once
    stream = posts_by_id(v2_lines("streaming_output_with_error.jsonl"))
    huntsville = stream["twitter:1377650277642338305"]
    assert (huntsville["lat"], huntsville["lon"]) == (34.75192228, -86.58216981)
    assert huntsville["place_name"] == "Huntsville, AL"


@pytest.mark.shared_data
def test_edited_tweets_point_to_their_first_version() -> None:
    later = v2_lines("edited.jsonl")[0]
    assert [p["post_id"] for p in later.posts] == ["twitter:1576994789110992896"]  # includes.tweets are not posts
    assert later.posts[0]["edit_of"] == "twitter:1576994746135764992"
    first = v2_lines("edited_before.jsonl")[0]
    assert first.posts[0]["post_id"] == "twitter:1576994746135764992"
    assert first.posts[0]["edit_of"] is None
    assert first.media == [{
        "post_id": "twitter:1576994746135764992", "position": 0, "media_key": "3_1576994475507077121",
        "kind": "photo", "url": "https://pbs.twimg.com/media/FeKcHsVaUAEYpU_.jpg", "width": 1536, "height": 2048,
    }]


@pytest.mark.shared_data
def test_withheld_tweets_are_kept_with_their_countries() -> None:
    posts = posts_by_id(v2_lines("withheld.jsonl"))
    assert posts["twitter:1388424788171841537"]["withheld"] == "IN"
    assert posts["twitter:25712847277"]["withheld"] == "DE,FR"
    assert posts["twitter:25712847277"]["author_name"] == "benshapiro"
    assert posts["twitter:1257712972564180997"]["withheld"] is None


@pytest.mark.shared_data
def test_retweet_keeps_its_own_text_and_points_to_the_original() -> None:
    page = v2_lines("withheld.jsonl")[3]
    assert len(page.posts) == 100
    post = posts_by_id([page])["twitter:1257786232978968578"]
    assert post["text"] == "RT @frankgore: #Year16 ✈️✈️✈️"
    assert post["is_repost"] is True
    assert post["repost_of"] == "twitter:1257755870282334208"
    assert "twitter:1257755870282334208" not in posts_by_id([page])  # the original is only context
    assert len(page.users) == 69  # every includes.users object
    assert len(page.media) == 22


@pytest.mark.shared_data
def test_stream_lines_and_the_truncated_error_line() -> None:
    lines = v2_lines("streaming_output_with_error.jsonl")
    assert [len(p.posts) for p in lines] == [1, 1, 1, 1, 1, 1, 1, 0]
    assert lines[-1].quarantine == [
        {"reason": "malformed_json", "detail": "unexpected end of data: line 1 column 45 (char 44)"}
    ]
    first = lines[0]
    assert first.posts[0]["place_name"] == "Malawi"
    assert first.media[0]["url"] == "https://pbs.twimg.com/media/Ex5ldKwXEAEnEnI.jpg"


@pytest.mark.shared_data
def test_pages_without_tweets_or_users_are_unsupported() -> None:
    (counts,) = v2_lines("counts.jsonl")
    assert counts.posts == [] and counts.quarantine == [
        {"reason": "unsupported_payload", "detail": "tweet counts: 169 item(s), neither tweets nor users"}
    ]
    lists = v2_lines("lists.jsonl")
    assert [q["detail"] for p in lists for q in p.quarantine] == [
        "lists: 4 item(s), neither tweets nor users", "lists: 2 item(s), neither tweets nor users"
    ]


@pytest.mark.shared_data
def test_users_page_gives_users_only() -> None:
    (page,) = v2_lines("users.jsonl")
    assert page.posts == [] and page.quarantine == []
    assert len(page.users) == 96
    assert page.users[0] == {
        "user_id": "twitter:119369819", "platform": "twitter", "native_id": "119369819", "username": "DoDirty78",
        "display_name": "DoDirtysHouse", "description": "Love is the highest form of understanding",
        "location": "NC", "followers": 580, "following": 518, "post_count": 55186, "verified": False,
        "created_at": datetime(2010, 3, 3, 12, 49, 24, tzinfo=UTC),
    }


@pytest.mark.shared_data
def test_compliance_events_become_deletions() -> None:
    tweets = v2_lines("tweets_compliance.jsonl")
    assert tweets[0] == Parsed()  # the file starts with a blank line
    assert [d for p in tweets for d in p.deletions] == [
        {"post_id": "twitter:1170025343920402432", "reason": "protected",
         "deleted_at": datetime(2019, 9, 6, 17, 25, 54, 667000, tzinfo=UTC)},
        {"post_id": "twitter:1170147183095664640", "reason": "deactivated",
         "deleted_at": datetime(2019, 9, 7, 1, 30, 3, 390000, tzinfo=UTC)},
    ]
    users = [d for p in v2_lines("users_compliance.jsonl") for d in p.deletions]
    event = {"user_id": "twitter:1482680858", "reason": "protected",
             "deleted_at": datetime(2013, 6, 4, 16, 25, 4, tzinfo=UTC)}
    assert users == [event, event]  # the file repeats the event


@pytest.mark.shared_data
def test_twarc_flat_lines_match_the_api_pages() -> None:
    flat, pages = v2_lines("flat.jsonl"), v2_lines("noflat.jsonl")
    assert len(flat) == 100 and len(pages) == 1
    assert posts_by_id(flat) == posts_by_id(pages)
    key = lambda m: (m["post_id"], m["position"])  # noqa: E731
    assert sorted((m for p in flat for m in p.media), key=key) == sorted(pages[0].media, key=key)
    gif = next(m for p in flat for m in p.media if m["media_key"] == "16_1380242539517779970")
    assert gif["kind"] == "animated_gif" and gif["url"] == "https://pbs.twimg.com/tweet_video_thumb/EyebRt_XIAIJDr9.jpg"
    assert {u["user_id"] for p in flat for u in p.users} == {u["user_id"] for u in pages[0].users}


# --------------------------------------------------------------------------- hand-made v2 lines


def test_note_tweet_replaces_the_truncated_text() -> None:
    long_text = "A long post about #Dogs &amp; cats " + "x" * 300
    parsed = v2({
        "data": {
            "id": "42", "text": "A long post about #Dogs &amp; cats xxx…", "author_id": "7", "lang": "en",
            "created_at": "2023-01-02T03:04:05.000Z",
            "entities": {"hashtags": [{"tag": "Dogs"}]},
            "note_tweet": {"text": long_text, "entities": {"hashtags": [{"tag": "Dogs"}, {"tag": "Cats"}]}},
        },
        "includes": {"users": [{"id": "7", "username": "Someone", "name": "S"}]},
        "matching_rules": [{"id": "1", "tag": None}],
    })
    (post,) = parsed.posts
    assert post["text"] == "A long post about #Dogs & cats " + "x" * 300
    assert post["hashtags"] == ["dogs", "cats"]
    assert post["url"] == "https://twitter.com/Someone/status/42"
    assert post["created_at"] == datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_unknown_author_gets_the_generic_status_url() -> None:
    (post,) = v2({"data": [{"id": "5", "text": "hi", "author_id": "9"}]}).posts
    assert post["author_id"] == "twitter:9" and post["author_name"] is None
    assert post["url"] == "https://twitter.com/i/web/status/5"


def test_error_line_without_data_is_an_api_error() -> None:
    parsed = v2({"errors": [{
        "title": "operational-disconnect", "disconnect_type": "UpstreamOperationalDisconnect",
        "detail": "This stream has been disconnected upstream for operational reasons.",
        "type": "https://api.twitter.com/2/problems/operational-disconnect",
    }]})
    assert parsed.quarantine == [{
        "reason": "api_error",
        "detail": "operational-disconnect: This stream has been disconnected upstream for operational reasons.",
    }]


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (b'{"data": [{"id": "1", "text": ', "malformed_json", "unexpected end of data"),
        (b"\xff\xfe not json", "malformed_json", "unexpected character"),
        ('{"data": {"id": "5", "text": "caf\u00e9"}}'.encode("cp1252") + b"{", "malformed_json", "unexpected content"),
        (b"[1, 2]", "wrong_shape", "expected a JSON object, got list"),
        (b'{"data": [{"text": "no id here"}]}', "wrong_shape", "data[0]: tweet without id"),
        (b'{"data": "nonsense"}', "wrong_shape", "'data' is a str"),
        (b'{"data": [{"id": "1", "text": "x", "entities": {"hashtags": [{"tag": 5}]}}]}', "wrong_shape",
         "data[0] (id 1): AttributeError"),
        (b'{"foo": 1}', "wrong_shape", "unrecognised object"),
        (b'{"id": "1", "action": "scrub_geo", "created_at": "2020-01-01T00:00:00Z"}', "unsupported_payload",
         "compliance action 'scrub_geo'"),
    ],
)
def test_bad_lines_are_quarantined_never_raised(payload: bytes, reason: str, detail: str) -> None:
    parsed = v2(payload)
    assert parsed.posts == []
    assert [q["reason"] for q in parsed.quarantine] == [reason]
    assert detail.lower() in parsed.quarantine[0]["detail"].lower()


def test_blank_and_empty_result_lines_give_nothing() -> None:
    assert v2(b"") == Parsed()
    assert v2(b"   ") == Parsed()
    assert v2({"meta": {"result_count": 0}}) == Parsed()


# --------------------------------------------------------------------------- v1.1


def cassette_status(name: str, status_id: str) -> dict:
    """One v1.1 status object out of a tweepy JSON cassette's response bodies."""
    interactions = json.loads((_require(CASSETTES) / name).read_text())["interactions"]
    for interaction in interactions:
        body = json.loads(interaction["response"]["body"]["string"] or "null")
        candidates = body if isinstance(body, list) else (body or {}).get("statuses", [body])
        for status in candidates:
            if isinstance(status, dict) and status.get("id_str") == status_id:
                return status
    raise AssertionError(f"{status_id} not in {name}")


@pytest.mark.shared_data
def test_v1_status_with_photo() -> None:
    parsed = v1(cassette_status("testhometimeline.json", "1149867886946783232"))
    (post,) = parsed.posts
    assert post["author_name"] == "TweepyDev" and post["author_id"] == "twitter:1072250532645998596"
    assert post["text"] == "testing 1000 https://t.co/n9TJoijXxg"
    assert post["created_at"] == datetime(2019, 7, 13, 2, 27, 22, tzinfo=UTC)
    assert parsed.media == [{
        "post_id": "twitter:1149867886946783232", "position": 0, "media_key": "1149867885923356672",
        "kind": "photo", "url": "https://pbs.twimg.com/media/D_Umv_8XUAApzlr.png", "width": 1252, "height": 626,
    }]
    assert parsed.users[0]["username"] == "TweepyDev" and parsed.users[0]["following"] == 6


@pytest.mark.shared_data
def test_v1_place_reply_and_retweet() -> None:
    (reply,) = v1(cassette_status("testsearchtweets.json", "1149678185375600641")).posts
    assert reply["place_name"] == "Badalona, Spain" and (reply["lat"], reply["lon"]) == (None, None)
    assert reply["reply_to"] == "twitter:1149676837204717568"
    assert reply["mentions"][:2] == ["kirzahk", "dianalvarezback"]
    retweet = v1(cassette_status("testgetretweets.json", "486663181901627392"))
    assert retweet.posts[0]["is_repost"] is True
    assert retweet.posts[0]["repost_of"] == "twitter:266367358078169089"
    assert [u["user_id"] for u in retweet.users] == ["twitter:2390428970", "twitter:783214"]


def test_v1_extended_tweet_coordinates_and_withheld() -> None:
    parsed = v1({
        "created_at": "Wed Oct 10 20:19:24 +0000 2018", "id": 1050118621198921728,
        "id_str": "1050118621198921728", "text": "To make room for more expression, we will now count all emojis…",
        "truncated": True, "lang": "en", "favorite_count": 7, "withheld_in_countries": ["DE", "FR"],
        "coordinates": {"type": "Point", "coordinates": [-122.41, 37.77]},
        "place": {"full_name": "San Francisco, CA"},
        "user": {"id_str": "6253282", "screen_name": "TwitterAPI", "created_at": "Wed May 23 06:01:13 +0000 2007"},
        "entities": {"hashtags": [], "user_mentions": []},
        "extended_tweet": {
            "full_text": "To make room for more expression &amp; more #Emoji, we will now count all emojis as equal",
            "entities": {"hashtags": [{"text": "Emoji"}],
                         "user_mentions": [{"screen_name": "Twitter", "id_str": "783214"}]},
        },
    })
    (post,) = parsed.posts
    assert post["text"].startswith("To make room for more expression & more #Emoji")
    assert post["hashtags"] == ["emoji"] and post["mentions"] == ["twitter"]
    assert (post["lat"], post["lon"]) == (37.77, -122.41)
    assert post["created_at"] == datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC)
    assert post["withheld"] == "DE,FR" and post["score"] == 7
    assert parsed.mentions == [{"post_id": post["post_id"], "src_user_id": "twitter:6253282",
                                "dst_user_id": "twitter:783214", "dst_username": "twitter"}]
    assert parsed.users[0]["created_at"] == datetime(2007, 5, 23, 6, 1, 13, tzinfo=UTC)


def test_v1_delete_and_notices() -> None:
    deleted = v1({"delete": {"status": {"id": 1234, "id_str": "1234", "user_id": 3, "user_id_str": "3"},
                             "timestamp_ms": "1539202764000"}})
    assert deleted.deletions == [{"post_id": "twitter:1234", "reason": "deleted",
                                  "deleted_at": datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC)}]
    assert v1({"limit": {"track": 5}}).quarantine == [
        {"reason": "unsupported_payload", "detail": "v1.1 stream notice 'limit'"}
    ]
    assert v1(b"{nope").quarantine[0]["reason"] == "malformed_json"
    assert v1({"text": "no id"}).quarantine == [{"reason": "wrong_shape", "detail": "status without id"}]


def test_a_line_in_a_legacy_code_page_is_decoded_not_dropped() -> None:
    line = '{"data": {"id": "5", "text": "caf\u00e9 del Born", "edit_history_tweet_ids": ["5"]}}'.encode("cp1252")
    parsed = normalize_twitter_v2(RawRecord("stream.jsonl", "line 1", line, "twitter"))
    assert [p["text"] for p in parsed.posts] == ["café del Born"] and parsed.quarantine == []
