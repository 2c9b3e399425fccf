"""Canned Instagram answers for instaloader 4.16, and a stand-in for the HTTP transport that serves them.

instaloader hard-codes its hosts (www.instagram.com, i.instagram.com, the image CDN) and sends most requests
through fresh or copied ``requests.Session`` objects, so neither a loopback server nor an adapter mounted on its
session can reach it. The tests replace ``requests.adapters.HTTPAdapter.send`` (the step that would open the
socket) with :meth:`FakeInstagram.transport`: requests' sessions, cookies and headers and all of instaloader's
code above them run unchanged. Shapes are those instaloader 4.16 reads (``structures.py``,
``instaloadercontext.py``); all data is made up here, images are drawn with PIL.

Routes (``Call.route``):

- ``tag_info``: GET i.instagram.com/api/v1/tags/web_info/?tag_name=T, the hashtag (``Hashtag.from_name``);
  an unknown tag: 404.
- ``tag_page``: GET www.instagram.com/graphql/query?query_hash=9b498c..., a page of ``edge_hashtag_to_media``
  with legacy GraphQL post nodes (``Hashtag.get_posts_resumable``), chained by ``after``.
- ``profile_page``: GET www.instagram.com/<username>/, HTML embedding ``xig_user_by_username`` and the
  logged-out timeline's first page (``Profile.from_username``, logged-out ``get_posts``); unknown: 404.
- ``start_page``: GET www.instagram.com/, HTML with the web app's tokens (DTSGInitialData, LSD, IG_USER_EIMU).
- ``profile_info``: POST www.instagram.com/graphql/query doc_id=27937681195819736, the profile (logged in).
- ``timeline``: POST www.instagram.com/api/graphql doc_id=29104886249145907, a page of the logged-in user
  timeline (iPhone media structs), chained by ``after``.
- ``anon_timeline``: POST .../api/graphql doc_id=28904005159232689, the logged-out timeline's next pages.
- ``post_info``: POST .../api/graphql doc_id=27128499623469141, one post's media (``Post.from_shortcode``).
- ``image``: GET scontent.cdninstagram.com/..., a post's JPEG (``download_pic``).

Anything else raises AssertionError, so an unexpected request fails the test and nothing leaves the machine.
:meth:`FakeInstagram.fail` answers matching requests with a scripted status / body / headers until cleared;
``calls`` logs every request.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3
from PIL import Image, ImageDraw

WWW = "www.instagram.com"
IPHONE = "i.instagram.com"
CDN = "scontent.cdninstagram.com"
TAG_QUERY_HASH = "9b498c08113f1e09617a1703c22b2f32"
DOC_IDS = {
    "27937681195819736": "profile_info",
    "29104886249145907": "timeline",
    "28904005159232689": "anon_timeline",
    "27128499623469141": "post_info",
}
MEDIA_TYPES = {"GraphImage": 1, "GraphVideo": 2, "GraphSidecar": 8}

PLEASE_WAIT = {"message": "Please wait a few minutes before you try again.", "require_login": True,
               "status": "fail"}
CHECKPOINT = {"message": "checkpoint_required", "checkpoint_url": "https://www.instagram.com/challenge/?next=/",
              "lock": False, "flow_render_type": 0, "status": "fail"}
CHALLENGE = {"message": "challenge_required", "challenge": {"url": "https://www.instagram.com/challenge/",
             "api_path": "/challenge/", "lock": True}, "status": "fail"}
LOGIN_REDIRECT = {"Location": "https://www.instagram.com/accounts/login/?next=%2Fapi%2Fgraphql"}


@dataclass(frozen=True)
class FakePost:
    """A made-up post: one colour per image (more than one makes a sidecar); ``video`` makes a GraphVideo."""

    shortcode: str
    pk: int
    taken_at: int
    caption: str
    likes: int
    colors: tuple[tuple[int, int, int], ...]
    video: bool = False
    owner_id: int = 1001

    @property
    def typename(self) -> str:
        if len(self.colors) > 1:
            return "GraphSidecar"
        return "GraphVideo" if self.video else "GraphImage"

    def image_url(self, index: int) -> str:
        """A signed-looking CDN URL of image ``index`` (0-based)."""
        query = f"stp=dst-jpg_e35&_nc_ht={CDN}&oh=00_s1g&oe=68A0"
        return f"https://{CDN}/v/t51.2885-15/{self.shortcode}_{index}_n.jpg?{query}"

    def image(self, index: int) -> bytes:
        """The JPEG the CDN serves for image ``index``."""
        return jpeg(self.colors[index])

    def graphql_node(self) -> dict:
        """The post as a legacy GraphQL node (hashtag feed)."""
        node = {
            "__typename": self.typename, "id": str(self.pk), "shortcode": self.shortcode,
            "display_url": self.image_url(0), "dimensions": {"height": 48, "width": 64},
            "is_video": self.typename == "GraphVideo", "taken_at_timestamp": self.taken_at,
            "edge_media_to_caption": {"edges": [{"node": {"text": self.caption}}]},
            "edge_media_preview_like": {"count": self.likes}, "edge_media_to_comment": {"count": 0},
            "owner": {"id": str(self.owner_id)}, "comments_disabled": False,
        }
        if self.video:
            node["video_view_count"] = 12
        if self.typename == "GraphSidecar":
            node["edge_sidecar_to_children"] = {"edges": [
                {"node": {"__typename": "GraphImage", "id": f"{self.pk}{n}", "display_url": self.image_url(n),
                          "dimensions": {"height": 48, "width": 64}, "is_video": False}}
                for n in range(len(self.colors))
            ]}
        return node

    def iphone_media(self, user: dict) -> dict:
        """The post as an iPhone / Polaris media struct (profile timeline, post info)."""
        media = {
            "code": self.shortcode, "pk": str(self.pk), "id": f"{self.pk}_{user['pk']}",
            "media_type": MEDIA_TYPES[self.typename], "taken_at": self.taken_at,
            "caption": {"text": self.caption, "pk": f"{self.pk}9"}, "has_liked": False,
            "like_count": self.likes, "comment_count": 0, "user": user,
            "image_versions2": {"candidates": [{"url": self.image_url(0), "width": 64, "height": 48}]},
            "original_width": 64, "original_height": 48,
        }
        if self.video:
            media.update(video_versions=[{"url": f"https://{CDN}/o1/v/{self.shortcode}.mp4", "type": 101}],
                         video_duration=3.5, view_count=12, play_count=20)
        if self.typename == "GraphSidecar":
            media["carousel_media"] = [
                {"media_type": 1, "pk": f"{self.pk}{n}",
                 "image_versions2": {"candidates": [{"url": self.image_url(n), "width": 64, "height": 48}]}}
                for n in range(len(self.colors))
            ]
        return media


@cache
def jpeg(color: tuple[int, int, int]) -> bytes:
    """A small JPEG in ``color`` with a contrasting square."""
    image = Image.new("RGB", (64, 48), color)
    ImageDraw.Draw(image).rectangle((16, 12, 40, 30), fill=tuple(255 - c for c in color))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


@dataclass
class FakeProfile:
    """A made-up account and its posts, newest first."""

    username: str
    pk: int
    posts: list[FakePost]
    page_id: str = "page-7"

    def user(self) -> dict:
        """The ``user`` struct media carry."""
        return {"pk": str(self.pk), "username": self.username, "full_name": self.username.title(),
                "is_private": False, "profile_pic_url": f"https://{CDN}/v/t51.2885-19/{self.username}.jpg"}

    def details(self) -> dict:
        """The profile as its page and the profile query give it."""
        return {**self.user(), "id": str(self.pk), "biography": f"All about {self.username}.", "is_verified": True,
                "follower_count": 1200, "following_count": 80, "media_count": len(self.posts),
                "friendship_status": {"following": False, "followed_by": False, "blocking": False}}


@dataclass
class Call:
    """One request as the fake saw it."""

    method: str
    host: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    route: str = ""

    @property
    def variables(self) -> dict:
        return json.loads(self.params.get("variables") or "{}")

    @property
    def after(self) -> str | None:
        return self.variables.get("after")


@dataclass
class Fault:
    """A scripted answer for the requests ``when`` matches."""

    when: Callable[[Call], bool]
    status: int
    body: dict | None
    headers: dict[str, str]


@dataclass
class FakeInstagram:
    """Hashtags and profiles served as instaloader 4.16 expects; pages of ``page_size`` posts."""

    page_size: int = 2
    hashtags: dict[str, list[FakePost]] = field(default_factory=dict)
    profiles: dict[str, FakeProfile] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def fail(self, when: Callable[[Call], bool], status: int, body: dict | None = None,
             headers: dict[str, str] | None = None) -> None:
        """Answer requests that ``when`` matches with ``status`` / ``body`` / ``headers`` until cleared."""
        self.faults.append(Fault(when, status, body, headers or {}))

    def transport(self) -> Callable[..., requests.Response]:
        """A replacement for ``HTTPAdapter.send`` that answers from this fake."""
        def send(adapter: requests.adapters.HTTPAdapter, request: requests.PreparedRequest,
                 **_: object) -> requests.Response:
            call = _parsed(request)
            self.calls.append(call)
            fault = next((f for f in self.faults if f.when(call)), None)
            if fault:
                status, headers, body = fault.status, fault.headers, json.dumps(fault.body or {}).encode()
                headers = {"Content-Type": "application/json; charset=utf-8", **headers}
            else:
                status, headers, body = self._answer(call)
            raw = urllib3.HTTPResponse(body=io.BytesIO(body), headers=headers, status=status,
                                       reason=HTTPStatus(status).phrase, preload_content=False)
            return adapter.build_response(request, raw)
        return send

    def routes(self, route: str) -> list[Call]:
        """The calls to ``route``."""
        return [call for call in self.calls if call.route == route]

    def _answer(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for ``call``."""
        handlers = {
            "tag_info": self._tag_info, "tag_page": self._tag_page, "profile_page": self._profile_page,
            "start_page": self._start_page, "profile_info": self._profile_info, "timeline": self._timeline,
            "anon_timeline": self._anon_timeline, "post_info": self._post_info, "image": self._image,
        }
        if call.route not in handlers:
            raise AssertionError(f"the fake Instagram does not know {call.method} https://{call.host}{call.path}")
        return handlers[call.route](call)

    def _tag_info(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        name = call.params["tag_name"]
        if name not in self.hashtags:
            return _json({"message": "Page not found", "status": "fail"}, 404)
        return _json({"data": {"id": "17843", "name": name, "media_count": len(self.hashtags[name]),
                               "profile_pic_url": f"https://{CDN}/tag/{name}.jpg", "is_following": False},
                      "status": "ok"})

    def _tag_page(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        posts = self.hashtags[call.variables["tag_name"]]
        chunk, page_info = self._slice(posts, call.after)
        return _json({"data": {"hashtag": {"name": call.variables["tag_name"], "edge_hashtag_to_media": {
            "count": len(posts), "page_info": page_info,
            "edges": [{"node": post.graphql_node()} for post in chunk]}}}, "status": "ok"})

    def _profile_page(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        profile = self.profiles.get(call.path.strip("/"))
        if profile is None:
            return 404, {"Content-Type": "text/html"}, b"<html>Sorry, this page isn't available.</html>"
        chunk, page_info = self._slice(profile.posts, None)
        timeline = {"edges": [{"node": {"code": post.shortcode, "pk": str(post.pk)}} for post in chunk],
                    "page_info": page_info}
        results = [{"xig_user_by_username": profile.details()},
                   {"xig_user_by_username": {"id": profile.page_id, "is_private": False,
                                             "polaris_ordered_timeline_connection": timeline}}]
        scripts = "".join(
            '<script type="application/json" data-sjs>'
            + json.dumps({"require": [["ScheduledServerJS", "handle", None,
                                       [{"__bbox": {"complete": True, "result": {"data": data}}}]]]})
            + "</script>"
            for data in results
        )
        return 200, {"Content-Type": "text/html; charset=utf-8"}, f"<html><body>{scripts}</body></html>".encode()

    def _start_page(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        html = ('<html><script>require("ServerJS").handle({"define":[["DTSGInitialData",[],{"token":"dtsg-9"},258],'
                '["LSD",[],{"token":"lsd-9"},323]]});{"IG_USER_EIMU":"17841"}</script></html>')
        return 200, {"Content-Type": "text/html; charset=utf-8"}, html.encode()

    def _profile_info(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        profile = next(p for p in self.profiles.values() if str(p.pk) == call.variables["id"])
        return _json({"data": {"user": profile.details()}, "status": "ok"})

    def _timeline(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        profile = self.profiles[call.variables["username"]]
        chunk, page_info = self._slice(profile.posts, call.after)
        return _json({"data": {"xdt_api__v1__feed__user_timeline_graphql_connection": {
            "edges": [{"node": post.iphone_media(profile.user())} for post in chunk], "page_info": page_info}},
            "extensions": {"is_final": True}})

    def _anon_timeline(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        profile = next(p for p in self.profiles.values() if p.page_id == call.variables["id"])
        chunk, page_info = self._slice(profile.posts, call.after)
        return _json({"data": {"node": {"polaris_ordered_timeline_connection": {
            "edges": [{"node": {"code": post.shortcode, "pk": str(post.pk)}} for post in chunk],
            "page_info": page_info}}}})

    def _post_info(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        shortcode = call.variables["shortcode"]
        profile, post = next((p, post) for p in self.profiles.values() for post in p.posts
                             if post.shortcode == shortcode)
        items = [post.iphone_media(profile.user())]
        return _json({"data": {"xdt_api__v1__media__shortcode__web_info": {"items": items}}})

    def _image(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        for post in self._all_posts():
            for index in range(len(post.colors)):
                if urlsplit(post.image_url(index)).path == call.path:
                    return 200, {"Content-Type": "image/jpeg"}, post.image(index)
        raise AssertionError(f"the fake CDN has no image {call.path}")

    def _all_posts(self) -> list[FakePost]:
        return [post for posts in self.hashtags.values() for post in posts] + [
            post for profile in self.profiles.values() for post in profile.posts]

    def _slice(self, posts: list[FakePost], after: str | None) -> tuple[list[FakePost], dict]:
        """The page after cursor ``after`` ("c<offset>") and its page_info."""
        start = int(after.removeprefix("c")) if after else 0
        chunk = posts[start:start + self.page_size]
        end = start + len(chunk)
        has_next = end < len(posts)
        return chunk, {"has_next_page": has_next, "end_cursor": f"c{end}" if has_next else None}


def _parsed(request: requests.PreparedRequest) -> Call:
    """The request's method, host, path, query and form parameters and headers."""
    url = urlsplit(request.url)
    params = dict(parse_qsl(url.query))
    body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
    if request.method == "POST":
        params.update(parse_qsl(body))
    call = Call(request.method, url.hostname or "", url.path, params, dict(request.headers))
    call.route = _route(call)
    return call


def _route(call: Call) -> str:
    """Which Instagram endpoint ``call`` is ('' when the fake has none)."""
    if call.host == CDN and call.method == "GET":
        return "image"
    if call.host == IPHONE and call.path == "/api/v1/tags/web_info/":
        return "tag_info"
    if call.host != WWW:
        return ""
    if call.method == "GET" and call.path == "/graphql/query" and call.params.get("query_hash") == TAG_QUERY_HASH:
        return "tag_page"
    if call.method == "POST" and call.path in ("/graphql/query", "/api/graphql"):
        return DOC_IDS.get(call.params.get("doc_id", ""), "")
    if call.method == "GET" and call.path == "/":
        return "start_page"
    if call.method == "GET" and call.path.count("/") == 2 and call.path.endswith("/"):
        return "profile_page"
    return ""


def _json(body: dict, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body).encode()
