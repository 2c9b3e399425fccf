"""The embedded demo dataset: deterministic, every file decodes in its wire format, the planted cases are there."""

from __future__ import annotations

import io
import json
import lzma
import re
from collections import Counter
from pathlib import PurePosixPath

import imagehash
import numpy as np
import pytest
import zstandard
from PIL import Image

from tasks.demo import CP1252_TITLE, TOPICS, DemoDataset, generate_demo

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$")
STEM = re.compile(r"^\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_UTC$")
SPAM_CITY_WORDS = ("madrid", "paris", "london", "new york", "newyork")


@pytest.fixture(scope="module")
def demo() -> DemoDataset:
    return generate_demo()


@pytest.fixture(scope="module")
def files(demo: DemoDataset) -> dict[str, bytes]:
    return {f.relpath: f.data for f in demo.files}


def anomalies(demo: DemoDataset, kind: str, platform: str | None = None) -> list[dict]:
    return [a for a in demo.expected["anomalies"] if a["kind"] == kind and platform in (None, a["platform"])]


def line_number(anomaly: dict) -> int:
    return int(anomaly["location"].removeprefix("line "))


def twitter_lines(files: dict[str, bytes]) -> list[bytes]:
    return files["twitter/pages.jsonl"].splitlines()


def dump_lines(files: dict[str, bytes]) -> list[bytes]:
    return zstandard.ZstdDecompressor().decompress(files["reddit/dump.ndjson.zst"]).splitlines()


def load_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --------------------------------------------------------------------------- determinism and layout


def test_same_seed_gives_the_same_bytes_and_facts() -> None:
    first, second = generate_demo(300, seed=11), generate_demo(300, seed=11)
    assert [(f.format, f.relpath, f.data) for f in first.files] == [(f.format, f.relpath, f.data) for f in second.files]
    assert first.expected == second.expected


def test_another_seed_gives_other_data() -> None:
    first, second = generate_demo(300, seed=11), generate_demo(300, seed=12)
    assert first.file("twitter/pages.jsonl").data != second.file("twitter/pages.jsonl").data
    assert first.expected["post_ids"] != second.expected["post_ids"]


def test_too_few_posts_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        generate_demo(50)


def test_layout_and_formats(demo: DemoDataset) -> None:
    relpaths = [f.relpath for f in demo.files]
    assert len(relpaths) == len(set(relpaths))
    assert {f.format for f in demo.files} == {"twitter-v2", "reddit", "instaloader", "media", "labels"}
    for item in demo.files:
        path = PurePosixPath(item.relpath)
        if item.format == "twitter-v2":
            assert item.relpath == "twitter/pages.jsonl"
        elif item.format == "reddit":
            listing = re.fullmatch(r"reddit/\w+_top(_\d+)?\.json", item.relpath)
            assert listing or item.relpath == "reddit/dump.ndjson.zst"
        elif item.format == "media":
            assert path.parent.as_posix() in ("twitter/media", "reddit/media") and path.suffix == ".jpg"
        elif item.format == "instaloader":
            assert path.parts[0] == "instagram" and len(path.parts) == 3
            assert path.name.endswith((".json.xz", ".jpg"))
        else:
            assert item.relpath == "labels.csv"
    assert demo.file("labels.csv").format == "labels"
    assert len(demo.by_format("twitter-v2")) == 1


def test_default_size_generates_the_requested_posts(demo: DemoDataset) -> None:
    expected = demo.expected
    assert sum(expected["generated"].values()) == 3000
    defective = {p: sum(len(ids) for ids in kinds.values()) for p, kinds in expected["defective_posts"].items()}
    for platform, count in expected["generated"].items():
        assert expected["posts"][platform] + defective[platform] == count
        ids = expected["post_ids"][platform]
        assert expected["posts"][platform] == len(ids) == len(set(ids))
    assert set(expected["truth"]) == {pid for ids in expected["post_ids"].values() for pid in ids}


# --------------------------------------------------------------------------- wire formats


def test_twitter_pages_are_v2_search_responses(demo: DemoDataset, files: dict[str, bytes]) -> None:
    planted = anomalies(demo, "truncated_json", "twitter") + anomalies(demo, "wrong_shape", "twitter")
    broken = {line_number(a) for a in planted}
    oversized = line_number(anomalies(demo, "oversized_text", "twitter")[0])
    tweet_ids, pages = set(), 0
    for number, line in enumerate(twitter_lines(files), start=1):
        if number in broken:
            continue
        page = json.loads(line)
        assert set(page) == {"data", "includes", "meta"}
        assert 1 <= len(page["data"]) <= 100 and page["meta"]["result_count"] == len(page["data"])
        ids = [int(t["id"]) for t in page["data"]]
        assert page["meta"]["newest_id"] == str(max(ids)) and page["meta"]["oldest_id"] == str(min(ids))
        users = {u["id"]: u for u in page["includes"]["users"]}
        media = {m["media_key"]: m for m in page["includes"].get("media", [])}
        places = {p["id"] for p in page["includes"].get("places", [])}
        for tweet in page["data"]:
            assert isinstance(tweet["id"], str) and tweet["id"].isdigit()
            assert tweet["edit_history_tweet_ids"] == [tweet["id"]] and ISO_MS.match(tweet["created_at"])
            assert tweet["author_id"] in users and set(tweet["public_metrics"]) >= {"like_count", "retweet_count"}
            for tag in tweet.get("entities", {}).get("hashtags", []):
                assert tweet["text"][tag["start"]:tag["end"]] == "#" + tag["tag"]
            for mention in tweet.get("entities", {}).get("mentions", []):
                assert tweet["text"][mention["start"]:mention["end"]] == "@" + mention["username"]
            for key in tweet.get("attachments", {}).get("media_keys", []):
                item = media[key]
                assert item["type"] == "photo" and key.startswith("3_")
                local = "twitter/media/" + item["url"].rsplit("/", 1)[1]  # what --media-dir resolves
                assert (item["width"], item["height"]) == Image.open(io.BytesIO(files[local])).size
            if "geo" in tweet:
                assert tweet["geo"]["place_id"] in places
            for ref in tweet.get("referenced_tweets", []):
                assert ref["type"] == "retweeted" and tweet["text"].startswith("RT @")
        tweet_ids.update(t["id"] for t in page["data"])
        pages += number != oversized
    assert pages >= 10
    assert len(tweet_ids) == demo.expected["generated"]["twitter"]


def test_reddit_listings_are_api_listings(demo: DemoDataset, files: dict[str, bytes]) -> None:
    listings = [f for f in demo.by_format("reddit") if f.relpath.endswith(".json")]
    assert len(listings) >= 5
    for item in listings:
        assert b"Listing" in item.data[:64]  # how the reader tells a Listing from a dump
        listing = json.loads(item.data)
        assert listing["kind"] == "Listing" and 1 <= len(listing["data"]["children"]) <= 100
        scores = [child["data"]["score"] for child in listing["data"]["children"]]
        assert scores == sorted(scores, reverse=True)
        for child in listing["data"]["children"]:
            data = child["data"]
            assert child["kind"] == "t3" and data["name"] == "t3_" + data["id"]
            assert isinstance(data["created_utc"], float) and data["author_fullname"].startswith("t2_")
            assert data["permalink"].startswith(f"/r/{data['subreddit']}/comments/{data['id']}/")
            if data.get("post_hint") == "image":
                assert data["url"] == f"https://i.redd.it/{data['id']}.jpg"
                load_image(files[f"reddit/media/{data['id']}.jpg"])
            else:
                assert data["is_self"] and data["selftext"]


def test_reddit_dump_is_zstd_ndjson_of_bare_submissions(demo: DemoDataset, files: dict[str, bytes]) -> None:
    planted = {line_number(a): a["kind"] for a in demo.expected["anomalies"]
               if a["relpath"] == "reddit/dump.ndjson.zst"}
    assert sorted(planted.values()) == ["non_utf8_text", "truncated_json", "wrong_shape"]
    submissions = 0
    for number, line in enumerate(dump_lines(files), start=1):
        kind = planted.get(number)
        if kind == "truncated_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(line)
            continue
        if kind == "non_utf8_text":
            with pytest.raises(UnicodeDecodeError):
                line.decode("utf-8")
            assert json.loads(line.decode("cp1252"))["title"] == CP1252_TITLE
            continue
        doc = json.loads(line.decode("utf-8"))
        if kind == "wrong_shape":
            assert "id" not in doc and "title" not in doc
            continue
        assert isinstance(doc["created_utc"], int) and doc["retrieved_on"] > doc["created_utc"]
        submissions += 1
    assert submissions >= 100


def test_instaloader_folders_hold_structures_and_their_images(demo: DemoDataset, files: dict[str, bytes]) -> None:
    truncated = {a["relpath"] for a in anomalies(demo, "truncated_json", "instagram")}
    node_types: Counter = Counter()
    for relpath, data in files.items():
        if not relpath.endswith(".json.xz"):
            continue
        text = lzma.decompress(data)
        if relpath in truncated:
            with pytest.raises(json.JSONDecodeError):
                json.loads(text)
            continue
        doc = json.loads(text)
        if "instaloader" not in doc:
            node_types["not a structure"] += 1
            continue
        node_types[doc["instaloader"]["node_type"]] += 1
        stem = relpath.removesuffix(".json.xz")
        if doc["instaloader"]["node_type"] == "Post":
            node = doc["node"]
            assert STEM.match(PurePosixPath(stem).name)
            edges = node.get("edge_sidecar_to_children", {}).get("edges", [])
            if node["__typename"] == "GraphSidecar":
                assert len(edges) >= 2 and all(f"{stem}_{i}.jpg" in files for i in range(1, len(edges) + 1))
            else:
                assert f"{stem}.jpg" in files
    assert node_types["Post"] >= 500 and node_types["Profile"] >= 2 and node_types["Hashtag"] == 1
    assert node_types["not a structure"] == 1


def test_every_image_decodes_except_the_planted_corrupt_ones(demo: DemoDataset, files: dict[str, bytes]) -> None:
    corrupt = {a["relpath"] for a in anomalies(demo, "corrupt_image")}
    assert len(corrupt) == 2
    for relpath, data in files.items():
        if not relpath.endswith(".jpg"):
            continue
        if relpath in corrupt:
            with pytest.raises(OSError):
                load_image(data)
        else:
            image = load_image(data)
            assert image.format == "JPEG" and min(image.size) >= 64 and max(image.size) <= 128


def test_labels_csv_labels_about_60_percent_of_clean_posts(demo: DemoDataset) -> None:
    lines = demo.file("labels.csv").data.decode("utf-8").splitlines()
    assert lines[0] == "id,label"
    rows = dict(line.split(",") for line in lines[1:])
    truth = demo.expected["truth"]
    assert set(rows) <= set(truth) and set(rows.values()) == set(TOPICS)
    assert all(truth[pid]["topic"] == label for pid, label in rows.items())
    assert len(rows) == demo.expected["labels"]["count"]
    assert 0.55 < len(rows) / len(truth) < 0.65
    assert demo.expected["labels"]["task"] == "topic"


# --------------------------------------------------------------------------- content


def test_topics_differ_in_image_colour(demo: DemoDataset, files: dict[str, bytes]) -> None:
    means, topics = [], []
    for post in demo.expected["truth"].values():
        for path in post["images"]:
            means.append(np.asarray(load_image(files[path]).convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(0))
            topics.append(post["topic"])
    x, y = np.array(means), np.array(topics)
    centroids = np.array([x[y == topic].mean(0) for topic in TOPICS])
    nearest = np.array(TOPICS)[np.argmin(((x[:, None] - centroids[None]) ** 2).sum(-1), axis=1)]
    assert (nearest == y).mean() > 0.9
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(centroids) for b in centroids[i + 1:]]
    assert min(gaps) > 25


def test_no_two_images_are_identical_except_planted_near_duplicates(demo: DemoDataset, files: dict[str, bytes]) -> None:
    truth = demo.expected["truth"]
    pairs = demo.expected["near_duplicate_images"]
    assert len(pairs) >= 20 and {p["change"] for p in pairs} == {"reencode", "brighten", "resize"}
    phash = {pid: imagehash.phash(load_image(files[t["images"][0]])) for pid, t in truth.items() if t["images"]}
    for pair in pairs:
        assert truth[pair["post_id"]]["topic"] == truth[pair["of"]]["topic"]
        assert phash[pair["post_id"]] - phash[pair["of"]] <= 4
    planted = {p["post_id"] for p in pairs} | {p["of"] for p in pairs}
    others = [int(str(h), 16) for pid, h in phash.items() if pid not in planted]
    hashes = np.array(others, dtype=np.uint64)
    popcount = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1)
    closest = min(
        popcount[(hashes[i] ^ hashes[i + 1:]).view(np.uint8)].reshape(-1, 8).sum(1).min()
        for i in range(len(hashes) - 1)
    )
    assert closest > 4  # the near-duplicate rule's default distance
    digests = Counter(files[t["images"][0]] for t in truth.values() if t["images"])
    assert max(digests.values()) == 1


def test_texts_languages_and_kinds(demo: DemoDataset) -> None:
    truth = demo.expected["truth"].values()
    normal = [t["text"] for t in truth if t["kind"] == "normal"]
    assert len(set(normal)) / len(normal) > 0.95
    langs = Counter(t["lang"] for t in truth)
    assert set(langs) == {"en", "es", "ca", "pt", "gl", "eu", "fr", "de"}
    assert (langs["en"] + langs["es"] + langs["ca"]) / sum(langs.values()) > 0.8
    for t in truth:
        if t["kind"] == "short":
            assert 1 <= len(t["text"].split()) <= 2 and "#" not in t["text"]
        if t["kind"] == "empty":
            assert t["platform"] == "instagram" and t["text"] is None
    assert demo.expected["empty_captions"]["instagram"] >= 5
    assert all(n >= 5 for n in demo.expected["short_captions"].values())


def test_other_city_spam_names_a_big_city(demo: DemoDataset) -> None:
    truth = demo.expected["truth"]
    for platform, ids in demo.expected["city_spam"].items():
        assert len(ids) >= 5, platform
        for pid in ids:
            words = (truth[pid]["text"] or "").lower() + " " + " ".join(truth[pid]["hashtags"])
            assert any(city in words for city in SPAM_CITY_WORDS)
    spam = {pid for ids in demo.expected["city_spam"].values() for pid in ids}
    for pid, post in truth.items():
        if pid not in spam:
            assert not {"madrid", "paris", "london", "newyork"} & set(post["hashtags"])


def test_duplicates_and_retweets(demo: DemoDataset) -> None:
    truth = demo.expected["truth"]
    copies = {pid: t["copy_of"] for pid, t in truth.items() if t["copy_of"]}
    assert len(copies) >= 20
    assert all(truth[pid]["text"] == truth[original]["text"] for pid, original in copies.items())
    retweets = demo.expected["retweets"]
    assert len(retweets) >= 30
    for rt, original in retweets.items():
        assert truth[rt]["text"] == f"RT @{truth[original]['author_name']}: {truth[original]['text']}"
        assert truth[rt]["repost_of"] == original
    assert all(n >= 1 for n in demo.expected["repeated_records"].values())


def test_heavy_posters_and_geotags(demo: DemoDataset) -> None:
    heavy = demo.expected["heavy_posters"]
    assert sum(30 <= h["posts"] <= 60 for h in heavy) >= 3
    assert sum(11 <= h["posts"] <= 20 for h in heavy) >= 5
    authors = Counter(t["author_id"] for t in demo.expected["truth"].values())
    for h in heavy:
        assert h["posts"] - 1 <= authors[h["author_id"]] <= h["posts"]  # written also counts a kept defective post
    tweets = [t for t in demo.expected["truth"].values() if t["platform"] == "twitter"]
    located = [t for t in tweets if t["lat"] is not None]
    assert 0.6 < len(located) / len(tweets) < 0.75
    by_city = Counter(t["city"] for t in located)
    assert by_city.most_common(1)[0][0] == "Barcelona" and set(by_city) == {"Barcelona", "Madrid", "Lisbon", "London"}
    assert all(-90 <= t["lat"] <= 90 and -180 <= t["lon"] <= 180 for t in located)


# --------------------------------------------------------------------------- planted broken records


def test_every_kind_of_broken_record_is_present(demo: DemoDataset) -> None:
    assert demo.expected["malformed"] == {
        "twitter": {"truncated_json": 1, "wrong_shape": 1, "oversized_text": 1, "impossible_coordinates": 1,
                    "corrupt_image": 1},
        "reddit": {"truncated_json": 1, "wrong_shape": 1, "non_utf8_text": 1},
        "instagram": {"corrupt_image": 1, "truncated_json": 1, "wrong_shape": 1},
    }
    assert demo.expected["quarantine_reasons"]["twitter"] == {
        "malformed_json": 1, "wrong_shape": 1, "field_too_large": 1, "impossible_coordinates": 1, "corrupt_image": 1}


def test_broken_twitter_lines_are_broken_as_described(demo: DemoDataset, files: dict[str, bytes]) -> None:
    lines = twitter_lines(files)
    truncated = line_number(anomalies(demo, "truncated_json", "twitter")[0])
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[truncated - 1])
    assert lines[truncated].startswith(lines[truncated - 1])  # the complete retry follows
    wrong = json.loads(lines[line_number(anomalies(demo, "wrong_shape", "twitter")[0]) - 1])
    assert "data" not in wrong and "statuses" in wrong
    oversized = anomalies(demo, "oversized_text", "twitter")[0]
    [tweet] = json.loads(lines[line_number(oversized) - 1])["data"]
    assert "twitter:" + tweet["id"] == oversized["post_id"] and len(tweet["text"]) >= 3 * 1024 * 1024
    bad_geo = anomalies(demo, "impossible_coordinates", "twitter")[0]
    found = [t for t in _tweets(lines[line_number(bad_geo) - 1]) if "twitter:" + t["id"] == bad_geo["post_id"]]
    assert found and all(t["geo"]["coordinates"]["coordinates"][1] > 90 for t in found)


def _tweets(line: bytes) -> list[dict]:
    if len(line) > 1_000_000:
        return []
    try:
        return json.loads(line).get("data") or []
    except json.JSONDecodeError:
        return []


def test_written_counts_follow_from_the_defects(demo: DemoDataset) -> None:
    expected = demo.expected
    kept = {"impossible_coordinates", "corrupt_image", "non_utf8_text"}
    for platform, kinds in expected["defective_posts"].items():
        assert expected["written"][platform] == expected["posts"][platform] + sum(
            len(ids) for kind, ids in kinds.items() if kind in kept)
        assert not {pid for ids in kinds.values() for pid in ids} & set(expected["post_ids"][platform])


def test_small_dataset_still_has_every_planted_case() -> None:
    small = generate_demo(200, seed=3)
    assert sum(small.expected["generated"].values()) == 200
    assert {p: set(k) for p, k in small.expected["malformed"].items()} == {
        "twitter": {"truncated_json", "wrong_shape", "oversized_text", "impossible_coordinates", "corrupt_image"},
        "reddit": {"truncated_json", "wrong_shape", "non_utf8_text"},
        "instagram": {"corrupt_image", "truncated_json", "wrong_shape"},
    }
    assert len(small.expected["near_duplicate_images"]) >= 3
