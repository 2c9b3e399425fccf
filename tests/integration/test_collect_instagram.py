"""The Instagram collector against instaloader 4.16's own code, served canned answers at the transport.

What is replaced, and why: instaloader hard-codes its hosts (www.instagram.com, i.instagram.com, the CDN) and
sends most requests through fresh or copied ``requests.Session`` objects, so no loopback server can be reached
and an adapter mounted on its session does not stick. The tests therefore replace only
``requests.adapters.HTTPAdapter.send`` (the call that would open a socket) with the fake in
``tests/fakes/instagram_graphql.py``, which answers from small hand-made GraphQL / iPhone API / HTML fixtures
and JPEGs drawn with PIL, and fails the test on any request it does not know. Everything above it runs for
real: requests' sessions and cookies, instaloader's ``InstaloaderContext`` (error mapping, redirects,
``RateController``), ``Hashtag``, ``Profile``, ``Post``, ``NodeIterator`` freeze / thaw, ``download_pic`` and
``get_json_structure``. The one other replacement is ``InstaloaderContext.do_sleep`` (instaloader's random
pause of up to 15 s before each request, kept on by the collector): a recorder, so the tests take seconds and
can check that the pause precedes every request.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import instaloader
import orjson
import pytest
import requests
from instaloader import InstaloaderContext

from storage.records import RawRecord
from tasks.collect.base import CollectionStopped, CollectorError, Limits, Page
from tasks.collect.instagram import InstagramCollector, InstagramSpec, make_collector
from tasks.collect.spec import load_spec
from tasks.normalize.instagram import normalize_instaloader
from tests.fakes.instagram_graphql import (
    CHALLENGE,
    CHECKPOINT,
    LOGIN_REDIRECT,
    PLEASE_WAIT,
    FakeInstagram,
    FakePost,
    FakeProfile,
)

pytestmark = pytest.mark.integration

CATS = [
    FakePost("C5catAAAAa1", 3001, 1714000500, "Morning nap #cats #Sleepy with @tom.cat", 41, ((200, 80, 40),)),
    FakePost("C5cat_2Bbb2", 3002, 1714000400, "Three views of one #cat", 17,
             ((20, 120, 200), (40, 200, 90), (230, 220, 30)), owner_id=1002),
    FakePost("C5catCCCCc3", 3003, 1714000300, "Zoomies #cats", 5, ((90, 90, 90),), video=True),
    FakePost("C5catDDDDd4", 3004, 1714000200, "Box. #cats", 8, ((250, 250, 250),), owner_id=1003),
    FakePost("C5catEEEEe5", 3005, 1714000100, "Two of us #cats", 23, ((10, 10, 10), (128, 0, 128))),
]
NASA = [
    FakePost("C6nasaAAAa1", 4001, 1715000300, "Pillars of creation #space", 9100, ((30, 30, 90),)),
    FakePost("C6nasaBBBb2", 4002, 1715000200, "Before and after #mars", 5200, ((180, 70, 40), (190, 90, 50))),
    FakePost("C6nasaCCCc3", 4003, 1715000100, "Launch day", 12000, ((240, 240, 255),)),
]
COOKIES = {"sessionid": "4242%3As3ss10n", "csrftoken": "csrf-1", "ds_user_id": "4242", "mid": "m1"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeInstagram:
    """#cats (5 posts) and @nasa (3 posts), 2 posts per page, answering every request instaloader sends."""
    fake = FakeInstagram(page_size=2, hashtags={"cats": CATS}, profiles={"nasa": FakeProfile("nasa", 528817, NASA)})
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake.transport())
    return fake


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per instaloader pause before a request."""
    pauses: list[int] = []
    monkeypatch.setattr(InstaloaderContext, "do_sleep", lambda context: pauses.append(1))
    return pauses


@pytest.fixture
def session_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pauses: list[int]) -> Path:
    """A session file of 'tester' written by instaloader itself, named by the secret's environment variable."""
    path = tmp_path / "secret" / "session-tester"
    loader = instaloader.Instaloader(quiet=True)
    loader.context.load_session("tester", COOKIES)
    loader.save_session_to_file(str(path))
    monkeypatch.setenv("POSTATLAS_INSTAGRAM_SESSION_FILE", str(path))
    return path


def collector(work_dir: Path, targets: list[dict], **fields: object) -> InstagramCollector:
    """A collector for ``targets`` logged in as 'tester' (unless login_user is given)."""
    spec = InstagramSpec.model_validate({"platform": "instagram", "targets": targets, "login_user": "tester", **fields})
    return make_collector(spec, work_dir)


def collect(source: InstagramCollector, cursor: dict | None = None, stop_after: int | None = None) -> list[Page]:
    """Pages as the run loop takes them, optionally stopping after ``stop_after``."""
    pages = source.pages(cursor or {}, Limits())
    taken: list[Page] = []
    try:
        for page in pages:
            taken.append(page)
            if len(taken) == stop_after:
                break
    finally:
        pages.close()
    return taken


def stored(cursor: dict) -> dict:
    """The cursor as the run loop stores and loads it (JSON)."""
    return orjson.loads(orjson.dumps(cursor))


def image_names(post: FakePost) -> list[str]:
    """The file names instaloader gives the post's images with filename pattern {shortcode}."""
    if len(post.colors) == 1:
        return [f"{post.shortcode}.jpg"]
    return [f"{post.shortcode}_{n}.jpg" for n in range(1, len(post.colors) + 1)]


def check_pages(pages: list[Page], posts: list[FakePost], folder: Path, source: str, author: str | None) -> None:
    """Each page holds its post's structure JSON and images, which instaloader and the normalizer read."""
    assert [page.location for page in pages] == [post.shortcode for post in posts]
    reader = instaloader.Instaloader(quiet=True).context
    for page, post in zip(pages, posts, strict=True):
        assert (page.source, page.posts) == (source, 1)
        assert [Path(path).name for path in page.attachments] == image_names(post)
        for index, path in enumerate(page.attachments):
            assert Path(path).is_absolute() and Path(path).parent == folder
            assert Path(path).read_bytes() == post.image(index)
        doc = json.loads(page.payload)
        assert doc["instaloader"] == {"node_type": "Post", "version": "4.16"}
        loaded = instaloader.load_structure(reader, doc)  # offline: any request would hit the fake and fail
        assert (loaded.shortcode, loaded.caption, loaded.likes, loaded.typename) == (
            post.shortcode, post.caption, post.likes, post.typename)
        assert loaded.date_utc == datetime.fromtimestamp(post.taken_at, UTC).replace(tzinfo=None)
        parsed = normalize_instaloader(RawRecord(page.source, page.location, page.payload, "instagram",
                                                 attachments=page.attachments))
        assert parsed.quarantine == []
        row = parsed.posts[0]
        assert (row["native_id"], row["text"], row["score"], row["author_name"]) == (
            post.shortcode, post.caption, post.likes, author)
        assert row["created_at"] == datetime.fromtimestamp(post.taken_at, UTC)
        assert [media["local_path"] for media in parsed.media] == list(page.attachments)
        assert [media["kind"] for media in parsed.media] == ["video" if post.video else "photo"] * len(post.colors)


# --------------------------------------------------------------------------- reading to the end


def test_profile_is_read_to_the_end_with_its_images(fake: FakeInstagram, session_file: Path, pauses: list[int],
                                                   tmp_path: Path) -> None:
    pages = collect(collector(tmp_path / "work", [{"profile": "@NASA"}]))

    check_pages(pages, NASA, tmp_path / "work" / "nasa", "instagram @nasa", "nasa")
    assert [call.after for call in fake.routes("timeline")] == [None, "c2"]
    assert pages[-1].cursor["seen"] == 3 and pages[-1].cursor["target"] == "@nasa"
    logged_in = [call for call in fake.calls if call.route in ("profile_info", "timeline", "start_page")]
    assert logged_in and all("s3ss10n" in call.headers.get("Cookie", "") for call in logged_in)
    assert not any("s3ss10n" in call.headers.get("Cookie", "") for call in fake.routes("image"))
    assert len(pauses) == len([call for call in fake.calls if call.route != "image"])  # instaloader's pause kept


def test_hashtag_is_read_to_the_end_with_its_images(fake: FakeInstagram, session_file: Path,
                                                   tmp_path: Path) -> None:
    pages = collect(collector(tmp_path / "work", [{"hashtag": "#Cats"}]))

    check_pages(pages, CATS, tmp_path / "work" / "#cats", "instagram #cats", None)
    assert [call.after for call in fake.routes("tag_page")] == [None, "c2", "c4"]
    assert len(fake.routes("tag_info")) == 1
    assert not [call for call in fake.calls if call.path.endswith(".mp4")]  # a video gives its thumbnail only


def test_profile_without_login_reads_as_a_logged_out_visitor(fake: FakeInstagram, pauses: list[int],
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSTATLAS_INSTAGRAM_SESSION_FILE", raising=False)
    pages = collect(collector(tmp_path / "work", [{"profile": "nasa"}], login_user=None))

    check_pages(pages, NASA, tmp_path / "work" / "nasa", "instagram @nasa", "nasa")
    assert [call.variables["shortcode"] for call in fake.routes("post_info")] == [p.shortcode for p in NASA]
    assert [call.after for call in fake.routes("anon_timeline")] == ["c2"]


def test_download_images_false_gives_posts_without_files(fake: FakeInstagram, session_file: Path,
                                                        tmp_path: Path) -> None:
    pages = collect(collector(tmp_path / "work", [{"profile": "nasa"}], download_images=False))

    assert [page.location for page in pages] == [post.shortcode for post in NASA]
    assert all(page.attachments == () for page in pages) and not fake.routes("image")


# --------------------------------------------------------------------------- resuming


@pytest.mark.parametrize("stop_after", range(1, len(CATS) + len(NASA)))
def test_an_interrupted_run_resumes_without_losing_or_doubling_a_post(
        fake: FakeInstagram, session_file: Path, tmp_path: Path, stop_after: int) -> None:
    targets = [{"hashtag": "cats"}, {"profile": "nasa"}]
    first = collect(collector(tmp_path / "work", targets), stop_after=stop_after)
    rest = collect(collector(tmp_path / "work", targets), stored(first[-1].cursor))  # a new process

    assert [p.location for p in first + rest] == [post.shortcode for post in CATS + NASA]
    for page in rest:
        assert all(Path(path).is_file() for path in page.attachments)
    assert rest[-1].cursor["target"] == "@nasa" and rest[-1].cursor["done"] == ["#cats"]


def test_a_target_read_to_its_limit_is_done_and_not_asked_again(fake: FakeInstagram, session_file: Path,
                                                                tmp_path: Path) -> None:
    targets = [{"hashtag": "cats"}, {"profile": "nasa"}]
    first = collect(collector(tmp_path / "work", targets, max_posts_per_target=3), stop_after=3)
    assert first[-1].cursor["done"] == ["#cats"]
    fake.calls.clear()

    rest = collect(collector(tmp_path / "work", targets, max_posts_per_target=3), stored(first[-1].cursor))

    assert [p.location for p in first + rest] == [p.shortcode for p in CATS[:3] + NASA]
    assert not fake.routes("tag_info") and not fake.routes("tag_page")
    assert collect(collector(tmp_path / "work", targets, max_posts_per_target=3), stored(rest[-1].cursor)) == []


def test_a_frozen_state_past_instaloaders_shelf_life_reads_the_target_again(
        fake: FakeInstagram, session_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = collect(collector(tmp_path / "work", [{"hashtag": "cats"}]), stop_after=3)
    cursor = stored(first[-1].cursor)
    cursor["frozen"]["best_before"] = datetime(2020, 1, 1).timestamp()

    with caplog.at_level(logging.WARNING, logger="tasks.collect.instagram"):
        again = collect(collector(tmp_path / "work", [{"hashtag": "cats"}]), cursor)

    assert [p.location for p in again] == [post.shortcode for post in CATS]
    assert "not resuming" in caplog.text and "best before" in caplog.text


# --------------------------------------------------------------------------- faults


def second_tag_page(call) -> bool:
    return call.route == "tag_page" and call.after == "c2"


@pytest.mark.parametrize(("status", "body", "headers", "reason", "advice"), [
    (401, PLEASE_WAIT, {}, "rate_limited", "Wait an hour"),
    (429, {"message": "rate limited", "status": "fail"}, {}, "rate_limited", "Wait an hour"),
    (400, CHECKPOINT, {}, "checkpoint", "complete the check"),
    (400, CHALLENGE, {}, "checkpoint", "complete the check"),
    (302, None, LOGIN_REDIRECT, "login_required", "Recreate the session file"),
    (401, {"message": "", "status": "fail"}, {}, "login_required", "Recreate the session file"),
    (503, {"message": "unavailable", "status": "fail"}, {}, "unavailable", "run again later"),
])
def test_instagram_refusing_stops_the_run_cleanly_and_the_cursor_resumes(
        fake: FakeInstagram, session_file: Path, tmp_path: Path,
        status: int, body: dict | None, headers: dict, reason: str, advice: str) -> None:
    fake.fail(second_tag_page, status, body, headers)
    source = collector(tmp_path / "work", [{"hashtag": "cats"}])
    pages = source.pages({}, Limits())
    taken = [next(pages), next(pages)]

    with pytest.raises(CollectionStopped) as stopped:
        next(pages)

    assert stopped.value.reason == reason and advice in stopped.value.detail
    assert "cursor is kept" in stopped.value.detail
    assert "s3ss10n" not in str(stopped.value) and str(session_file) not in str(stopped.value)
    assert len(fake.routes("tag_page")) == 2  # one attempt, no hammering
    fake.faults.clear()
    rest = collect(collector(tmp_path / "work", [{"hashtag": "cats"}]), stored(taken[-1].cursor))
    assert [p.location for p in taken + rest] == [post.shortcode for post in CATS]


def test_an_image_instagram_no_longer_serves_is_skipped(fake: FakeInstagram, session_file: Path, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    fake.fail(lambda call: call.route == "image" and "C5cat_2Bbb2_1_n" in call.path, 403,
              {"message": "URL signature expired"})

    with caplog.at_level(logging.WARNING, logger="tasks.collect.instagram"):
        pages = collect(collector(tmp_path / "work", [{"hashtag": "cats"}]))

    assert [p.location for p in pages] == [post.shortcode for post in CATS]
    assert [Path(path).name for path in pages[1].attachments] == ["C5cat_2Bbb2_1.jpg", "C5cat_2Bbb2_3.jpg"]
    assert "C5cat_2Bbb2: image 2 not downloaded" in caplog.text


def test_a_profile_that_does_not_exist_is_named(fake: FakeInstagram, session_file: Path, tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match="@ghost.*does not exist"):
        collect(collector(tmp_path / "work", [{"profile": "ghost"}]))


def test_a_hashtag_instagram_does_not_know_is_named(fake: FakeInstagram, session_file: Path, tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match="#nosuchtag.*no such hashtag"):
        collect(collector(tmp_path / "work", [{"hashtag": "nosuchtag"}]))


# --------------------------------------------------------------------------- session secret


def test_a_missing_session_secret_says_how_to_provide_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSTATLAS_INSTAGRAM_SESSION_FILE", raising=False)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # no Prefect server: no Secret block either

    with pytest.raises(CollectorError, match="POSTATLAS_INSTAGRAM_SESSION_FILE.*postatlas-instagram-session-file"):
        collector(tmp_path / "work", [{"hashtag": "cats"}])


@pytest.mark.parametrize("content", [None, b"not a pickle", b"\x80\x04}\x94."])  # absent, garbage, no cookies
def test_an_unusable_session_file_is_an_error_that_hides_its_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes | None) -> None:
    path = tmp_path / "hidden-place" / "session"
    if content is not None:
        path.parent.mkdir()
        path.write_bytes(content)
    monkeypatch.setenv("POSTATLAS_INSTAGRAM_SESSION_FILE", str(path))

    with pytest.raises(CollectorError, match="instaloader --login tester") as error:
        collector(tmp_path / "work", [{"hashtag": "cats"}])
    assert "hidden-place" not in str(error.value) and error.value.__cause__ is None


# --------------------------------------------------------------------------- spec


def spec_error(tmp_path: Path, text: str) -> str:
    """The CollectorError load_spec gives for the YAML ``text``."""
    path = tmp_path / "instagram.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CollectorError) as error:
        load_spec(path, InstagramSpec)
    return str(error.value)


def test_spec_hashtag_without_login_user_names_the_field(tmp_path: Path) -> None:
    message = spec_error(tmp_path, "platform: instagram\ntargets:\n  - profile: nasa\n  - hashtag: cats\n")
    assert "login_user: Value error, required for hashtag and location targets (#cats)" in message


def test_spec_target_with_two_keys_is_refused(tmp_path: Path) -> None:
    message = spec_error(tmp_path, "platform: instagram\nlogin_user: tester\n"
                                   "targets:\n  - {hashtag: cats, profile: nasa}\n")
    assert "targets.0: Value error, a target has exactly one of hashtag, profile, location; got hashtag, profile" \
        in message


def test_spec_refuses_endpoint_overrides_and_unknown_fields(tmp_path: Path) -> None:
    message = spec_error(tmp_path, "platform: instagram\nendpoint: http://127.0.0.1:8080\n"
                                   "targets:\n  - profile: nasa\n    tag: x\n")
    assert "endpoint: Value error, not supported for instagram" in message
    assert "targets.0.tag: Extra inputs are not permitted" in message


def test_spec_profile_only_needs_no_login(tmp_path: Path) -> None:
    path = tmp_path / "instagram.yaml"
    path.write_text("platform: instagram\ntargets:\n  - profile: '@nasa'\nmax_posts_per_target: 50\n")
    spec = load_spec(path, InstagramSpec)
    assert ([t.key for t in spec.targets], spec.login_user, spec.max_posts_per_target) == (["@nasa"], None, 50)


def test_location_targets_are_refused_as_not_supported(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match=r"location targets are not supported \(%213385402\)"):
        collector(tmp_path / "work", [{"hashtag": "cats"}, {"location": 213385402}])


def test_collect_command_lands_posts_images_and_cursor_then_adds_nothing(
        fake: FakeInstagram, session_file: Path, tmp_path: Path, home: Path, prefect_server) -> None:
    from flows.cli import main
    from tests.helpers import query

    spec = tmp_path / "instagram.yaml"
    spec.write_text("platform: instagram\nname: demo\nlogin_user: tester\n"
                    "targets:\n  - profile: nasa\n  - hashtag: cats\n")
    assert main(["collect", "instagram", "--spec", str(spec)]) == 0
    assert query(home, "SELECT count(*) FROM posts WHERE platform = 'instagram'") == [(len(NASA) + len(CATS),)]
    images = sum(len(post.colors) for post in NASA + CATS)
    assert query(home, "SELECT count(*) FROM media WHERE status = 'stored'") == [(images,)]
    run = query(home, "SELECT status, pages, read, written, duplicates, quarantined, stop_reason FROM runs")
    assert run == [("completed", 8, 8, 8, 0, 0, "completed")]
    assert query(home, "SELECT collection FROM collector_state") == [("instagram:demo",)]
    before = query(home, "SELECT count(*) FROM posts")
    assert main(["collect", "instagram", "--spec", str(spec)]) == 0  # every target done: nothing asked, nothing added
    assert query(home, "SELECT count(*) FROM posts") == before
