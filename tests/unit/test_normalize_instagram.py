"""The instaloader normalizer on the demo's structures (as the folder reader feeds them) and on hand-made nodes."""

from __future__ import annotations

import json
import lzma
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import orjson
import pytest

from storage.readers import iter_instaloader
from storage.records import MEDIA_KEYS, POST_KEYS, USER_KEYS, Parsed, RawRecord
from tasks.demo import DemoDataset, generate_demo
from tasks.normalize.instagram import normalize_instaloader

ROOT = "/data/demo"  # the normalizer is pure: paths are only matched, never opened


@pytest.fixture(scope="module")
def demo() -> DemoDataset:
    return generate_demo(600, seed=5)


def demo_records(demo: DemoDataset) -> list[RawRecord]:
    """One record per structure, with the images beside it attached in the reader's order."""
    names = [f.relpath for f in demo.files if f.relpath.startswith("instagram/")]
    records = []
    for item in demo.files:
        if not item.relpath.endswith(".json.xz"):
            continue
        path = PurePosixPath(item.relpath)
        stem = path.name.removesuffix(".json.xz")
        images = [PurePosixPath(n) for n in names if n.endswith(".jpg") and PurePosixPath(n).parent == path.parent]
        mine = [p for p in images if p.stem == stem or p.stem.removeprefix(stem + "_").isdigit()]
        mine.sort(key=lambda p: (len(p.stem), p.stem))
        records.append(RawRecord(f"{ROOT}/{item.relpath}", path.name, lzma.decompress(item.data), "instagram",
                                 attachments=tuple(f"{ROOT}/{p}" for p in mine)))
    return records


def post_node(**fields) -> dict:
    node = {
        "__typename": "GraphImage", "id": "3350000000000000001", "shortcode": "C9abcDEF123",
        "owner": {"id": "123456", "username": "laia.puig"}, "taken_at_timestamp": 1777630000,
        "edge_media_to_caption": {"edges": [{"node": {"text": "Hola"}}]}, "edge_media_preview_like": {"count": 7},
        "display_url": "https://scontent.cdninstagram.com/x.jpg", "is_video": False,
        "dimensions": {"width": 1080, "height": 1350},
    }
    node.update(fields)
    return node


def structure(node: dict, node_type: str = "Post") -> bytes:
    return json.dumps({"node": node, "instaloader": {"node_type": node_type, "version": "4.16"}}).encode()


def normalize(payload: bytes, name: str = "2026-05-01_10-00-00_UTC.json.xz", attachments: tuple[str, ...] = (),
              folder: str = "barcelona_eats") -> Parsed:
    return normalize_instaloader(RawRecord(f"{ROOT}/{folder}/{name}", name, payload, "instagram",
                                           attachments=attachments))


# --------------------------------------------------------------------------- the demo's structures


def test_every_clean_demo_post_normalizes_to_its_truth(demo: DemoDataset) -> None:
    truth = {pid: t for pid, t in demo.expected["truth"].items() if t["platform"] == "instagram"}
    seen = {}
    for record in demo_records(demo):
        parsed = normalize_instaloader(record)
        for post in parsed.posts:
            assert set(post) == set(POST_KEYS)
            seen.setdefault(post["post_id"], (post, parsed))  # a repeated download: the first folder is the truth
    assert set(truth) <= set(seen)
    for pid, expected in truth.items():
        post, parsed = seen[pid]
        assert post["native_id"] == expected["native_id"] and pid == f"instagram:{expected['native_id']}"
        assert post["url"] == f"https://www.instagram.com/p/{expected['native_id']}/"
        assert post["text"] == expected["text"]
        assert post["hashtags"] == expected["hashtags"] and post["mentions"] == expected["mentions"]
        assert post["author_id"] == expected["author_id"] and post["author_name"] == expected["author_name"]
        assert post["created_at"] == datetime.fromisoformat(expected["created_at"].replace("Z", "+00:00"))
        assert post["created_at"].tzinfo is not None
        assert (post["lat"], post["lon"]) == (expected["lat"], expected["lon"])
        assert [m["local_path"] for m in parsed.media] == [f"{ROOT}/{p}" for p in expected["images"]]
        assert [m["position"] for m in parsed.media] == list(range(len(expected["images"])))
        assert all(set(m) == set(MEDIA_KEYS) and m["url"].startswith("https://scontent") for m in parsed.media)
        assert [m["post_id"] for m in parsed.mentions] == [pid] * len(expected["mentions"])
        assert [u["user_id"] for u in parsed.users] == [expected["author_id"]]


def test_demo_sidecars_and_hashtag_targets(demo: DemoDataset) -> None:
    sidecars = hashtag_posts = 0
    for record in demo_records(demo):
        parsed = normalize_instaloader(record)
        if len(parsed.media) > 1:
            sidecars += 1
            names = [PurePosixPath(m["local_path"]).name for m in parsed.media]
            stem = record.location.removesuffix(".json.xz")
            assert names == [f"{stem}_{i}.jpg" for i in range(1, len(names) + 1)]
        for post in parsed.posts:
            folder = PurePosixPath(record.source).parent.name
            assert post["community"] == (folder[1:] if folder.startswith("#") else None)
            hashtag_posts += folder.startswith("#")
    assert sidecars >= 3 and hashtag_posts >= 30


def test_demo_profiles_hashtags_and_broken_structures(demo: DemoDataset) -> None:
    broken = {a["location"]: a["reason"] for a in demo.expected["anomalies"]
              if a["platform"] == "instagram" and a["scope"] == "record"}
    profiles = 0
    for record in demo_records(demo):
        parsed = normalize_instaloader(record)
        doc = orjson.loads(record.payload) if record.location not in broken else None
        if record.location in broken:
            assert not parsed.posts and [q["reason"] for q in parsed.quarantine] == [broken[record.location]]
        elif doc["instaloader"]["node_type"] == "Profile":
            profiles += 1
            [user] = parsed.users
            assert set(user) == set(USER_KEYS) and user["username"] == doc["node"]["username"]
            assert user["followers"] == doc["node"]["edge_followed_by"]["count"] and not parsed.posts
        elif doc["instaloader"]["node_type"] == "Hashtag":
            assert parsed == Parsed()
        else:
            assert len(parsed.posts) == 1 and not parsed.quarantine
    assert profiles >= 2 and sorted(broken.values()) == ["malformed_json", "wrong_shape"]


def test_through_the_folder_reader(demo: DemoDataset, tmp_path: Path) -> None:
    for item in demo.files:
        if item.relpath.startswith("instagram/"):
            target = tmp_path / item.relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.data)
    truth = {pid: t for pid, t in demo.expected["truth"].items() if t["platform"] == "instagram"}
    found: dict[str, list[list[str]]] = {}
    for record in iter_instaloader([tmp_path / "instagram"]):
        parsed = normalize_instaloader(record)
        for post in parsed.posts:
            found.setdefault(post["post_id"], []).append([m["local_path"] for m in parsed.media])
    assert set(truth) <= set(found)
    assert sum(len(copies) - 1 for copies in found.values()) == demo.expected["repeated_records"]["instagram"]
    for pid, expected in truth.items():
        assert [str(tmp_path / p) for p in expected["images"]] in found[pid]


# --------------------------------------------------------------------------- hand-made structures


def test_post_fields() -> None:
    node = post_node(
        edge_media_to_caption={"edges": [{"node": {"text": "Vermut a #Gràcia amb @Marta.Puig i @pau_92! #BCN #bcn"}}]},
        location={"id": "1", "name": "Gràcia, Barcelona", "slug": "gracia", "lat": 41.40, "lng": 2.15},
    )
    parsed = normalize(structure(node), attachments=(f"{ROOT}/barcelona_eats/2026-05-01_10-00-00_UTC.jpg",))
    [post] = parsed.posts
    assert post["post_id"] == "instagram:C9abcDEF123" and post["author_id"] == "instagram:123456"
    assert post["hashtags"] == ["gràcia", "bcn"] and post["mentions"] == ["marta.puig", "pau_92"]
    assert post["created_at"] == datetime.fromtimestamp(1777630000, UTC)
    assert (post["place_name"], post["lat"], post["lon"], post["score"]) == ("Gràcia, Barcelona", 41.40, 2.15, 7)
    assert post["community"] is None and post["is_repost"] is False
    [media] = parsed.media
    assert media["local_path"].endswith("_UTC.jpg") and (media["kind"], media["width"]) == ("photo", 1080)
    assert [m["dst_username"] for m in parsed.mentions] == ["marta.puig", "pau_92"]
    assert parsed.users[0]["username"] == "laia.puig" and not parsed.quarantine


def test_missing_caption_location_and_likes_fallback() -> None:
    node = post_node(edge_media_to_caption={"edges": []}, location={"id": "9", "name": "Sants"},
                     edge_media_preview_like=None, edge_liked_by={"count": 3})
    [post] = normalize(structure(node)).posts
    assert post["text"] is None and post["hashtags"] == [] and post["mentions"] == []
    assert (post["place_name"], post["lat"], post["lon"], post["score"]) == ("Sants", None, None, 3)


def test_sidecar_images_match_by_number_not_by_sort_order() -> None:
    stem = "2026-05-01_10-00-00_UTC"
    children = [{"node": {"id": str(100 + i), "display_url": f"https://cdn/{i}.jpg", "is_video": i == 2}}
                for i in range(11)]
    node = post_node(__typename="GraphSidecar", edge_sidecar_to_children={"edges": children})
    attachments = tuple(sorted(f"{ROOT}/barcelona_eats/{stem}_{i}.jpg" for i in range(1, 12)))  # _10 before _2
    parsed = normalize(structure(node), attachments=attachments + (f"{ROOT}/barcelona_eats/other_UTC_1.jpg",))
    assert [m["local_path"].rsplit("_", 1)[1] for m in parsed.media] == [f"{i}.jpg" for i in range(1, 12)]
    assert [m["media_key"] for m in parsed.media][:2] == ["100", "101"] and parsed.media[2]["kind"] == "video"


def test_images_match_by_order_when_the_stem_is_unknown() -> None:
    node = post_node()
    record = RawRecord("https://example/api", "page 1", structure(node), "instagram", attachments=("/x/a_UTC.jpg",))
    [media] = normalize_instaloader(record).media
    assert media["local_path"] == "/x/a_UTC.jpg"


def test_no_attachment_leaves_local_path_empty() -> None:
    [media] = normalize(structure(post_node())).media
    assert media["local_path"] is None and media["url"] == "https://scontent.cdninstagram.com/x.jpg"


def test_hashtag_folder_sets_community_and_v3_bare_node_is_a_post() -> None:
    parsed = normalize(json.dumps(post_node()).encode(), folder="#Barcelona")
    assert parsed.posts[0]["community"] == "barcelona"


def test_profile_story_and_hashtag_structures() -> None:
    profile = {"id": "42", "username": "bcn.eats", "full_name": "BCN Eats", "biography": "food",
               "edge_followed_by": {"count": 10}, "edge_follow": {"count": 5}, "is_verified": False}
    [user] = normalize(structure(profile, "Profile")).users
    assert (user["user_id"], user["display_name"], user["following"]) == ("instagram:42", "BCN Eats", 5)
    assert normalize(structure({"id": "1", "name": "bcn"}, "Hashtag")) == Parsed()
    assert normalize(structure({"id": "1"}, "StoryItem")) == Parsed()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"node": {"shortcode": "abc"', "malformed_json"),
        (b"", "malformed_json"),
        ('{"node": {"shortcode": "Què"}}'.encode("cp1252"), "malformed_json"),
        (b"[1, 2]", "wrong_shape"),
        (b'{"data": {"shortcode_media": {}}, "status": "ok"}', "wrong_shape"),
        (structure(post_node(), "Reel"), "wrong_shape"),
        (structure({"id": "1", "owner": {}}), "wrong_shape"),
        (structure({"username": "no_id"}, "Profile"), "wrong_shape"),
        (b'{"node": "text", "instaloader": {"node_type": "Post"}}', "wrong_shape"),
    ],
)
def test_bad_payloads_are_quarantined(payload: bytes, reason: str) -> None:
    parsed = normalize(payload)
    assert not parsed.posts and [q["reason"] for q in parsed.quarantine] == [reason]
    assert parsed.quarantine[0]["detail"]


def test_unusable_fields_are_dropped_with_a_field_quarantine_row() -> None:
    node = post_node(taken_at_timestamp="yesterday", location={"name": "Nowhere", "lat": 123.0, "lng": 2.0})
    parsed = normalize(structure(node))
    [post] = parsed.posts
    assert post["created_at"] is None and post["lat"] is None and post["lon"] is None
    assert sorted(q["reason"] for q in parsed.quarantine) == ["bad_timestamp", "impossible_coordinates"]
    assert all(q["scope"] == "field" for q in parsed.quarantine)


@pytest.mark.parametrize(
    "node",
    [
        post_node(owner="someone", location=[1], edge_media_to_caption={"edges": [None]}),
        post_node(edge_media_to_caption=None, edge_sidecar_to_children={"edges": [None, {"node": "x"}]}),
        post_node(taken_at_timestamp=True, dimensions=None, is_video=None, id={"a": 1}),
        post_node(edge_media_preview_like={"count": "many"}, taken_at_timestamp=10**20),
    ],
)
def test_odd_field_types_never_raise(node: dict) -> None:
    parsed = normalize(structure(node))
    assert len(parsed.posts) + len(parsed.quarantine) >= 1
