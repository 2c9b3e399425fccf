"""Instagram: instaloader target folders (Post, Profile and Hashtag structures as .json.xz) and the images."""

from __future__ import annotations

import json
import lzma
import random
from datetime import UTC, datetime

from tasks.demo.encoding import BASE36, INSTAGRAM_EPOCH_MS, media_id_of, shortcode, snowflake
from tasks.demo.model import Plan, Post, User
from tasks.demo.output import Output
from tasks.demo.places import CITY_BY_NAME, HOME_CITY
from tasks.demo.plan import START, new_image


def _stem(ts: int) -> str:
    """instaloader's default file name: ``{date_utc}_UTC``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d_%H-%M-%S") + "_UTC"


def _xz(doc: object, *, cut: bool = False) -> bytes:
    """A structure as ``save_structure_to_file`` writes ``.json.xz`` (compact JSON, LZMA, no check); ``cut``: half."""
    text = json.dumps(doc, separators=(",", ":"))
    if cut:
        text = text[: len(text) // 2]
    return lzma.compress(text.encode("utf-8"), format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=1)


def _ig_profile(user: User) -> dict:
    """A Profile node as ``Profile._asdict`` saves it."""
    return {
        "id": user.native_id, "username": user.username, "full_name": user.name,
        "biography": f"{user.topic} lover · {user.city.name}", "is_private": False, "is_verified": False,
        "edge_followed_by": {"count": user.followers}, "edge_follow": {"count": user.following},
        "profile_pic_url": f"https://scontent.cdninstagram.com/v/t51.2885-19/{user.native_id}_n.jpg",
        "external_url": None, "is_business_account": user.kind == "heavy", "business_category_name": None,
    }


def _ig_url(rng: random.Random, post: Post, position: int) -> str:
    """A CDN display_url of the kind Instagram returns."""
    return (f"https://scontent-mad1-1.cdninstagram.com/v/t51.2885-15/{rng.getrandbits(40)}_{post.native_id}"
            f"_{position}_n.jpg?stp=dst-jpg_e35&_nc_ht=scontent-mad1-1.cdninstagram.com&oh={rng.getrandbits(64):016x}")


def _ig_node(rng: random.Random, post: Post) -> dict:
    """A GraphQL Post node (GraphImage / GraphSidecar / GraphVideo) as instaloader saves it."""
    first = post.images[0]
    sidecar = len(post.images) > 1
    caption_edges = [{"node": {"text": post.text}}] if post.text is not None else []
    node: dict = {
        "__typename": "GraphSidecar" if sidecar else ("GraphVideo" if post.video else "GraphImage"),
        "id": str(media_id_of(post.native_id)),
        "shortcode": post.native_id,
        "dimensions": {"height": first.height, "width": first.width},
        "display_url": _ig_url(rng, post, 0),
        "edge_media_to_tagged_user": {"edges": []},
        "is_video": post.video,
        "accessibility_caption": None if post.video else (
            f"Photo by {post.user.name} on {datetime.fromtimestamp(post.ts, UTC):%B %d, %Y}. "
            f"May be an image of {post.topic}."),
        "edge_media_to_caption": {"edges": caption_edges},
        "edge_media_to_comment": {"count": post.score // 6},
        "comments_disabled": False,
        "taken_at_timestamp": post.ts,
        "edge_liked_by": {"count": post.score},
        "edge_media_preview_like": {"count": post.score},
        "owner": (_ig_profile(post.user) if post.user.frequent
                  else {"id": post.user.native_id, "username": post.user.username}),
        "location": post.location,
        "thumbnail_src": _ig_url(rng, post, 9),
    }
    if post.video:
        node["video_view_count"] = post.score * 9
    if sidecar:
        node["edge_sidecar_to_children"] = {"edges": [
            {"node": {"__typename": "GraphImage", "id": str(media_id_of(post.native_id) + i + 1),
                      "shortcode": f"{post.native_id[:-1]}{BASE36[i]}", "dimensions": {"height": im.height,
                                                                                      "width": im.width},
                      "display_url": _ig_url(rng, post, i + 1), "is_video": False,
                      "accessibility_caption": f"Photo {i + 1} of {len(post.images)}. May be an image of {im.topic}."}}
            for i, im in enumerate(post.images)]}
    return node


def _structure(node: dict, node_type: str) -> dict:
    """The instaloader envelope."""
    return {"node": node, "instaloader": {"version": "4.16", "node_type": node_type}}


def write_instagram(rng: random.Random, plan: Plan, out: Output) -> None:
    """instagram/<target>/ folders: Post structures with their images, Profile and Hashtag structures."""
    for user in plan.users:
        if user.frequent:
            path = f"instagram/{user.username}/{user.username}_{user.native_id}.json.xz"
            out.add("instaloader", path, _xz(_structure(_ig_profile(user), "Profile")))
            out.records["instagram"] += 1
    hashtag = {"id": "17843820229023457", "name": "barcelona", "allow_following": True, "is_following": False,
               "is_top_media_only": False, "profile_pic_url": "https://scontent.cdninstagram.com/v/t51.2885-15/tag.jpg",
               "edge_hashtag_to_media": {"count": 91_000_000}}
    out.add("instaloader", "instagram/#barcelona/barcelona.json.xz", _xz(_structure(hashtag, "Hashtag")))
    out.records["instagram"] += 1
    for post in plan.posts:
        out.image_paths[id(post)] = _write_ig_post(post, post.community or "#barcelona", out)
    repeats = [p for p in plan.posts if p.user.frequent and not p.defect][:2]
    for post in repeats:  # the same post downloaded again by a hashtag target
        if f"instagram/#barcelona/{_stem(post.ts)}.json.xz" not in out.written_paths:
            _write_ig_post(post, "#barcelona", out)
            out.repeated_records["instagram"] += 1
    _write_broken_instagram(rng, plan, out)


def _write_ig_post(post: Post, folder: str, out: Output) -> list[str]:
    """One Post structure and its images in ``folder``; returns the image paths."""
    stem = f"instagram/{folder}/{_stem(post.ts)}"
    out.add("instaloader", f"{stem}.json.xz", _xz(_structure(_ig_node(random.Random(post.native_id), post), "Post")))
    out.records["instagram"] += 1
    paths = []
    for position, image in enumerate(post.images):
        path = f"{stem}_{position + 1}.jpg" if len(post.images) > 1 else f"{stem}.jpg"
        out.add_image("instaloader", path, image, post)
        paths.append(path)
    return paths


def _write_broken_instagram(rng: random.Random, plan: Plan, out: Output) -> None:
    """A structure whose JSON was cut, and a raw GraphQL response saved where a structure belongs."""
    for kind, folder, offset in (("truncated_json", "#barcelona", 17), ("wrong_shape", "#bcn", 29)):
        ts = START + offset
        post = Post(platform="instagram", user=plan.users[-1], ts=ts, topic="food", lang="ca",
                    city=CITY_BY_NAME[HOME_CITY], text="Esmorzar de forquilla al Born #bcnfood",
                    native_id=shortcode(snowflake(ts * 1000, INSTAGRAM_EPOCH_MS, 23, rng)),
                    images=[new_image(rng, "food")])
        node = _ig_node(rng, post)
        stem = f"instagram/{folder}/{_stem(ts)}"
        if kind == "truncated_json":
            data = _xz(_structure(node, "Post"), cut=True)
            reason, note = "malformed_json", "the JSON inside the .xz ends half-way (its post is lost)"
        else:
            data = _xz({"data": {"shortcode_media": node}, "status": "ok"})
            reason, note = "wrong_shape", "a raw GraphQL response, not an instaloader structure (its post is lost)"
        out.add("instaloader", f"{stem}.json.xz", data)
        out.add_image("instaloader", f"{stem}.jpg", post.images[0], post)
        out.records["instagram"] += 1
        out.anomaly("instagram", f"{stem}.json.xz", f"{_stem(ts)}.json.xz", kind, reason, "record", None, note)
