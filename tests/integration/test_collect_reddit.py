"""The Reddit collector with the real praw / prawcore client against a loopback Reddit API replaying real
listing bodies (PRAW's Betamax cassettes in ../shared/data)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import prawcore.rate_limit
import prawcore.sessions
import pytest

import tasks.collect.reddit
from storage.home import Home
from storage.records import RawRecord
from tasks.collect.base import CollectionStopped, CollectorError, Limits, Page
from tasks.collect.reddit import (
    ATTEMPTS,
    RedditCollector,
    RedditSpec,
    make_collector,
    posts_below_min_score,
    spec_labels,
)
from tasks.collect.run import CollectRun
from tasks.collect.spec import load_spec
from tasks.normalize.reddit import normalize_reddit
from tests.fakes.reddit_api import CASSETTES, INVALID_TOKEN, FakeRedditAPI, cassette_listings, chain, subreddit_pages
from tests.helpers import query

pytestmark = pytest.mark.integration

USER_AGENT = "python:postatlas-tests:1.0 (by /u/postatlas_test)"
SPEZ_TOP = [f"TestListingGenerator.test_exhaust_items_with_before #{number}" for number in (13, 14, 15, 16)]
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass
class Sleeps:
    """Waits asked for: by the collector (its retries), and by prawcore (its own retries, its rate limiter)."""

    collector: list[float] = field(default_factory=list)
    prawcore: list[float] = field(default_factory=list)


@pytest.fixture(scope="module")
def listings(shared_data: Path) -> dict[str, bytes]:
    """Real listing bodies from the cassettes, or skip."""
    if not (shared_data / CASSETTES).is_dir():
        pytest.skip(f"PRAW cassettes not found at {shared_data / CASSETTES}")
    return cassette_listings(shared_data)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """Records every wait instead of sleeping; prawcore has no sleep to inject, so its module clock is replaced."""
    recorded = Sleeps()
    monkeypatch.setattr(prawcore.sessions, "time",
                        SimpleNamespace(sleep=recorded.prawcore.append, monotonic=time.monotonic))
    monkeypatch.setattr(prawcore.rate_limit, "time",
                        SimpleNamespace(sleep=recorded.prawcore.append, monotonic_ns=time.monotonic_ns))
    return recorded


@pytest.fixture
def api(prefect_server, monkeypatch: pytest.MonkeyPatch):
    """A running fake Reddit API whose app credentials are the secrets (no script login).

    The Prefect test server answers the lookups of the optional reddit-username / reddit-password blocks."""
    with FakeRedditAPI() as server:
        use_credentials(monkeypatch, server)
        yield server


def use_credentials(monkeypatch: pytest.MonkeyPatch, server: FakeRedditAPI) -> None:
    """Provide ``server``'s credentials as the secrets, through the environment."""
    monkeypatch.setenv("POSTATLAS_REDDIT_CLIENT_ID", server.client_id)
    monkeypatch.setenv("POSTATLAS_REDDIT_CLIENT_SECRET", server.client_secret)
    for name, value in (("USERNAME", server.username), ("PASSWORD", server.password)):
        if value:
            monkeypatch.setenv(f"POSTATLAS_REDDIT_{name}", value)
        else:
            monkeypatch.delenv(f"POSTATLAS_REDDIT_{name}", raising=False)


def spec_for(server: FakeRedditAPI, **fields) -> RedditSpec:
    """A valid spec pointed at ``server`` (r/happy unless ``subreddits`` is given)."""
    data = {"platform": "reddit", "user_agent": USER_AGENT, "endpoint": server.url, "subreddits": [{"name": "happy"}]}
    return RedditSpec.model_validate({**data, **fields})


def collector_for(server: FakeRedditAPI, sleeps: Sleeps, **fields) -> RedditCollector:
    """The collector built the production way, its waits recorded."""
    return make_collector(spec_for(server, **fields), sleep=sleeps.collector.append)


def children(page: Page) -> list[dict]:
    """The things of a page's Listing."""
    return json.loads(page.payload)["data"]["children"]


def two_subreddits(api: FakeRedditAPI, listings: dict[str, bytes]) -> tuple[list[bytes], list[bytes]]:
    """Serve r/happy (3 real pages) and r/creepy (2 real pages); their bodies."""
    happy = chain([listings[key] for key in SPEZ_TOP[:3]])
    creepy = chain([listings["TestFront.test_top #1"], listings["TestFront.test_hot #1"]])
    api.serve("happy", "top", happy)
    api.serve("creepy", "top", creepy)
    return happy, creepy


def test_pagination_to_the_end_keeps_bodies_byte_for_byte_and_cursors(api, listings, sleeps) -> None:
    served = [listings[key] for key in SPEZ_TOP]  # a real chain of four pages, the last with after = null
    api.serve("happy", "top", served)
    collector = collector_for(api, sleeps)

    pages = list(collector.pages({}, Limits()))

    assert [page.payload for page in pages] == served
    assert [page.posts for page in pages] == [100, 100, 100, 23]
    assert [(page.source, page.location) for page in pages] == [("r/happy top", f"page {n}") for n in (1, 2, 3, 4)]
    assert [page.cursor["after"] for page in pages] == ["t3_287", "t3_6971", "t3_5y9sx", None]
    assert [page.cursor["read"] for page in pages] == [100, 200, 300, 0]
    assert [page.cursor["subreddit"] for page in pages] == ["happy", "happy", "happy", None]
    assert [page.cursor["done"] for page in pages] == [[], [], [], ["happy"]]
    gets = api.listing_requests()
    assert [get.params.get("after") for get in gets] == [None, "t3_287", "t3_6971", "t3_5y9sx"]
    assert {(get.path, get.params["t"], get.params["limit"], get.params["raw_json"]) for get in gets} == {
        ("/r/happy/top", "all", "100", "1")}
    assert [token.form["grant_type"] for token in api.token_requests()] == ["client_credentials"]
    assert {get.authorization for get in gets} == {"bearer fake-token-1"}
    assert sum(len(normalize_reddit(RawRecord(p.source, p.location, p.payload, "reddit")).posts) for p in pages) == 323

    # The sweep is finished: the next run starts the next one from the first page.
    again = list(collector.pages(pages[-1].cursor, Limits()))
    assert [page.payload for page in again] == served
    assert sleeps.collector == []


@pytest.mark.parametrize("committed", [1, 2, 3])  # inside r/happy twice, then r/happy just finished
def test_resume_from_a_committed_cursor_reads_no_page_twice(api, listings, sleeps, committed: int) -> None:
    happy, creepy = two_subreddits(api, listings)
    subreddits = [{"name": "happy"}, {"name": "creepy"}]
    first_run = collector_for(api, sleeps, subreddits=subreddits).pages({}, Limits())
    committed_pages = [next(first_run) for _ in range(committed)]
    first_run.close()  # the run stopped (limit, crash) after committing these

    rest = list(collector_for(api, sleeps, subreddits=subreddits).pages(committed_pages[-1].cursor, Limits()))

    pages = committed_pages + rest
    assert [page.payload for page in pages] == happy + creepy
    assert [page.location for page in pages] == ["page 1", "page 2", "page 3", "page 1", "page 2"]
    requested = [(get.path, get.params.get("after")) for get in api.listing_requests()]
    assert len(requested) == len(set(requested)) == 5
    assert pages[-1].cursor["done"] == ["happy", "creepy"]


def test_two_subreddits_with_labels_map_each_post_by_its_subreddit(api, listings, sleeps) -> None:
    api.serve("EarthPorn", "top", subreddit_pages(listings, "EarthPorn"))  # the real r/EarthPorn posts recorded
    api.serve("videos", "top", subreddit_pages(listings, "videos"))
    subreddits = [{"name": "r/EarthPorn", "label": "awe"}, {"name": "videos", "label": "fun"}, {"name": "pics"}]
    collector = collector_for(api, sleeps, subreddits=subreddits[:2], label_task="emotion")
    assert spec_labels(collector.spec) == {"earthporn": "awe", "videos": "fun"}
    assert spec_labels(spec_for(api, subreddits=subreddits, label_task="emotion")) == {"earthporn": "awe",
                                                                                       "videos": "fun"}

    pages = list(collector.pages({}, Limits()))

    assert [(page.source, page.posts) for page in pages] == [
        ("r/EarthPorn top", 100), ("r/EarthPorn top", 17), ("r/videos top", 100), ("r/videos top", 67)]
    labels = spec_labels(collector.spec)
    for page in pages:
        parsed = normalize_reddit(RawRecord(page.source, page.location, page.payload, "reddit"))
        assert len(parsed.posts) == page.posts and parsed.quarantine == []
        expected = "awe" if page.source.startswith("r/EarthPorn") else "fun"
        assert {labels[post["community"].lower()] for post in parsed.posts} == {expected}


def test_run_loop_keeps_posts_at_min_score_and_labels_them_by_subreddit(api, listings, sleeps, home) -> None:
    served = {"EarthPorn": subreddit_pages(listings, "EarthPorn"), "videos": subreddit_pages(listings, "videos")}
    for name, pages in served.items():
        api.serve(name, "top", pages)
    spec = spec_for(api, subreddits=[{"name": "EarthPorn", "label": "awe"}, {"name": "videos", "label": "fun"}],
                    label_task="emotion", min_score=100, download_images=False, name="paper-003")
    collector = make_collector(spec, sleep=sleeps.collector.append)

    totals = CollectRun(Home.at(home).ensure(), "run-1", tasks.collect.reddit, spec, collector).run()

    scores = {name: [thing["data"]["score"] for page in pages for thing in json.loads(page)["data"]["children"]]
              for name, pages in served.items()}
    kept = {name: sum(score >= 100 for score in values) for name, values in scores.items()}
    assert totals.stop_reason == "completed" and totals.pages == 4
    assert query(home, "SELECT community, count(*), min(score) >= 100 FROM posts GROUP BY 1 ORDER BY 1") == [
        ("EarthPorn", kept["EarthPorn"], True), ("videos", kept["videos"], True)]
    assert 0 < kept["EarthPorn"] < len(scores["EarthPorn"])  # the threshold dropped some posts
    assert query(home, "SELECT p.community, l.task, l.label, l.source, count(*) FROM post_labels l JOIN posts p "
                       "USING (post_id) GROUP BY ALL ORDER BY 1") == [
        ("EarthPorn", "emotion", "awe", "spec:paper-003", kept["EarthPorn"]),
        ("videos", "emotion", "fun", "spec:paper-003", kept["videos"])]
    cursor = json.loads(query(home, "SELECT cursor FROM collector_state WHERE collection = 'reddit:paper-003'")[0][0])
    assert cursor["done"] == ["earthporn", "videos"]


def test_limit_per_subreddit_and_max_posts_size_the_requests(api, listings, sleeps) -> None:
    api.serve("videos", "top", subreddit_pages(listings, "videos"))  # 167 real posts
    pages = list(collector_for(api, sleeps, subreddits=[{"name": "videos"}], limit=150).pages({}, Limits()))
    assert [page.posts for page in pages] == [100, 50]
    assert [get.params["limit"] for get in api.listing_requests()] == ["100", "50"]
    assert pages[-1].cursor["done"] == ["videos"]
    resumed = list(collector_for(api, sleeps, subreddits=[{"name": "videos"}], limit=150).pages(pages[0].cursor,
                                                                                                Limits()))
    assert [page.payload for page in resumed] == [pages[1].payload]  # the limit holds across an interruption
    assert [get.params["limit"] for get in api.listing_requests()[2:]] == ["50"]

    limits, posts = Limits(max_posts=120), []
    for page in collector_for(api, sleeps, subreddits=[{"name": "videos"}]).pages({}, limits):  # as the run loop
        posts.append(page.posts)
        limits.posts_read += page.posts
        if limits.stop_reason(100):
            break
    assert posts == [100, 20]
    assert [get.params["limit"] for get in api.listing_requests()[3:]] == ["100", "20"]


@pytest.mark.parametrize("headers, wait", [
    ({"retry-after": "7"}, 7.0),
    ({"x-ratelimit-remaining": "0", "x-ratelimit-used": "600", "x-ratelimit-reset": "12"}, 12.0),
])
def test_429_waits_as_reddit_says_then_succeeds(api, listings, sleeps, headers: dict, wait: float) -> None:
    served = chain([listings["TestFront.test_top #1"]])
    api.serve("happy", "top", served)
    api.fail("/r/happy/", 429, body=b'{"message": "Too Many Requests", "error": 429}', headers=headers)

    pages = list(collector_for(api, sleeps).pages({}, Limits()))

    assert [page.payload for page in pages] == served
    assert [get.status for get in api.listing_requests()] == [429, 200]
    assert sleeps.collector == [wait]


def test_429_beyond_the_retries_stops_cleanly(api, listings, sleeps) -> None:
    api.serve("happy", "top", chain([listings["TestFront.test_top #1"]]))
    api.fail("/r/happy/", 429, headers={"retry-after": "3"}, times=None)
    with pytest.raises(CollectionStopped) as stopped:
        list(collector_for(api, sleeps).pages({}, Limits()))
    assert stopped.value.reason == "rate_limited" and "r/happy" in stopped.value.detail
    assert sleeps.collector == [3.0] * (ATTEMPTS - 1)
    assert len(api.listing_requests()) == ATTEMPTS


def test_500_retried_by_prawcore_then_by_the_collector(api, listings, sleeps) -> None:
    served = chain([listings["TestFront.test_top #1"]])
    api.serve("happy", "top", served)
    api.fail("/r/happy/", 500, times=3)  # prawcore retries twice itself, then gives up: the collector retries

    pages = list(collector_for(api, sleeps).pages({}, Limits()))

    assert [page.payload for page in pages] == served
    assert [get.status for get in api.listing_requests()] == [500, 500, 500, 200]
    assert len(sleeps.prawcore) == 2 and sleeps.collector == [1.0]


def test_dropped_connections_retried(api, listings, sleeps) -> None:
    served = chain([listings["TestFront.test_top #1"]])
    api.serve("happy", "top", served)
    api.fail("/r/happy/", 0, times=3)  # no answer at all

    pages = list(collector_for(api, sleeps).pages({}, Limits()))

    assert [page.payload for page in pages] == served
    assert [get.status for get in api.listing_requests()] == [0, 0, 0, 200]
    assert sleeps.collector == [1.0]


def test_5xx_beyond_the_retries_stops_cleanly_with_the_cursor_of_the_last_page(api, listings, sleeps) -> None:
    happy, _ = two_subreddits(api, listings)
    api.fail("/r/creepy/", 503, times=None)
    pages = []
    with pytest.raises(CollectionStopped) as stopped:
        for page in collector_for(api, sleeps, subreddits=[{"name": "happy"}, {"name": "creepy"}]).pages({}, Limits()):
            pages.append(page)
    assert stopped.value.reason == "server_error" and "r/creepy" in stopped.value.detail
    assert [page.payload for page in pages] == happy and pages[-1].cursor["done"] == ["happy"]


def test_rejected_app_credentials_name_the_subreddit_not_the_secret(api, listings, sleeps, monkeypatch) -> None:
    api.serve("happy", "top", chain([listings["TestFront.test_top #1"]]))
    monkeypatch.setenv("POSTATLAS_REDDIT_CLIENT_SECRET", "not-the-right-secret")

    with pytest.raises(CollectorError) as caught:
        list(collector_for(api, sleeps).pages({}, Limits()))

    message = str(caught.value)
    assert "r/happy" in message and "401" in message and "reddit-client-secret" in message
    assert "not-the-right-secret" not in message and api.client_id not in message
    assert [token.status for token in api.token_requests()] == [401] and api.listing_requests() == []


def test_expired_token_is_refreshed_by_prawcore(api, listings, sleeps) -> None:
    served = chain([listings["TestFront.test_top #1"]])
    api.serve("happy", "top", served)
    api.fail("/r/happy/", 401, headers=INVALID_TOKEN)

    pages = list(collector_for(api, sleeps).pages({}, Limits()))

    assert [page.payload for page in pages] == served
    assert [get.status for get in api.listing_requests()] == [401, 200]
    assert len(api.token_requests()) == 2


def test_token_rejected_even_when_fresh_is_a_collector_error(api, listings, sleeps) -> None:
    api.serve("happy", "top", chain([listings["TestFront.test_top #1"]]))
    api.fail("/r/happy/", 401, headers=INVALID_TOKEN, times=None)
    with pytest.raises(CollectorError, match=r"r/happy: Reddit rejected a freshly issued access token"):
        list(collector_for(api, sleeps).pages({}, Limits()))
    assert len(api.token_requests()) == 3  # prawcore fetched a new token for each of its two retries


@pytest.mark.parametrize("status, body, words", [
    (403, b'{"reason": "private", "message": "Forbidden", "error": 403}', ("HTTP 403, private", "private")),
    (403, b'{"reason": "quarantined", "quarantine_message": "...", "message": "Forbidden", "error": 403}',
     ("HTTP 403, quarantined",)),
    (404, b'{"reason": "banned", "message": "Not Found", "error": 404}', ("HTTP 404, banned",)),
    (None, b"", ("does not exist", "/subreddits/search")),  # never served: Reddit's redirect to the search
])
def test_unreadable_subreddit_is_a_collector_error_naming_it(api, listings, sleeps, status, body, words) -> None:
    happy = chain([listings["TestFront.test_top #1"]])
    api.serve("happy", "top", happy)
    if status is not None:
        api.serve("creepy", "top", chain([listings["TestFront.test_hot #1"]]))
        api.fail("/r/creepy/", status, body=body, times=None)
    pages = []
    with pytest.raises(CollectorError) as caught:
        for page in collector_for(api, sleeps, subreddits=[{"name": "happy"}, {"name": "creepy"}]).pages({}, Limits()):
            pages.append(page)
    assert str(caught.value).startswith("r/creepy")
    assert all(word in str(caught.value) for word in words)
    assert [page.payload for page in pages] == happy
    assert len(api.listing_requests()) == 2  # permanent: not retried


def test_page_that_is_not_json_is_yielded_for_the_normalizer_to_quarantine(api, listings, sleeps) -> None:
    _, creepy = two_subreddits(api, listings)
    api.fail("/r/happy/", 200, body=HTML, headers={"content-type": "text/html"})

    pages = list(collector_for(api, sleeps, subreddits=[{"name": "happy"}, {"name": "creepy"}]).pages({}, Limits()))

    assert pages[0].payload == HTML and pages[0].posts == 0 and pages[0].cursor["done"] == ["happy"]
    parsed = normalize_reddit(RawRecord(pages[0].source, pages[0].location, pages[0].payload, "reddit"))
    assert [row["reason"] for row in parsed.quarantine] == ["malformed_json"] and parsed.posts == []
    assert [page.payload for page in pages[1:]] == creepy  # the sweep goes on with the next subreddit


def test_new_listing_stops_at_the_newest_post_of_the_last_sweep(api, listings, sleeps) -> None:
    old = chain([listings["TestDomainListing.test_new #1"], listings["TestFront.test_new #1"]])
    api.serve("happy", "new", old)
    first = list(collector_for(api, sleeps, listing="new").pages({}, Limits()))
    newest = children(first[0])[0]["data"]["name"]
    assert [page.payload for page in first] == old and first[-1].cursor["newest"] == {"happy": newest}
    assert "t" not in api.listing_requests()[0].params

    newer = chain([listings["TestMultiredditListings.test_new #1"], *old])  # new posts came in on top
    api.serve("happy", "new", newer)
    second = list(collector_for(api, sleeps, listing="new").pages(first[-1].cursor, Limits()))

    assert [page.payload for page in second] == newer[:2]  # stopped on the page holding the old newest post
    assert second[0].cursor["stop_at"] == newest
    assert second[-1].cursor["newest"] == {"happy": children(second[0])[0]["data"]["name"]}
    assert len(api.listing_requests()) == 4


def test_script_app_logs_in_with_the_password_grant(prefect_server, listings, sleeps, monkeypatch) -> None:
    with FakeRedditAPI(username="postatlas_test", password="hunter2") as server:
        use_credentials(monkeypatch, server)
        server.serve("happy", "top", chain([listings["TestFront.test_top #1"]]))
        assert [page.posts for page in collector_for(server, sleeps).pages({}, Limits())] == [100]
        assert [(t.form["grant_type"], t.form.get("username")) for t in server.token_requests()] == [
            ("password", "postatlas_test")]

        monkeypatch.setenv("POSTATLAS_REDDIT_PASSWORD", "wrong-password")
        with pytest.raises(CollectorError) as caught:
            list(collector_for(server, sleeps).pages({}, Limits()))
        assert "r/happy" in str(caught.value) and "invalid_grant" in str(caught.value)
        assert "wrong-password" not in str(caught.value)

        monkeypatch.delenv("POSTATLAS_REDDIT_PASSWORD")
        with pytest.raises(CollectorError, match="needs both reddit-username and reddit-password"):
            collector_for(server, sleeps)


def test_missing_client_secret_says_how_to_provide_it(prefect_server, monkeypatch, sleeps) -> None:
    monkeypatch.setenv("POSTATLAS_REDDIT_CLIENT_ID", "an-id")
    monkeypatch.delenv("POSTATLAS_REDDIT_CLIENT_SECRET", raising=False)
    spec = RedditSpec.model_validate({"platform": "reddit", "user_agent": USER_AGENT, "subreddits": [{"name": "a1"}]})
    with pytest.raises(CollectorError, match=r"\$POSTATLAS_REDDIT_CLIENT_SECRET"):
        make_collector(spec)


PAPER_003 = """\
platform: reddit
name: paper-003
user_agent: "python:postatlas:1.0 (by /u/postatlas_test)"
min_score: 100
label_task: emotion
subreddits:
  - {name: r/happy, label: happy}
  - {name: creepy, label: creepy}
  - {name: rage, label: rage}
  - {name: gore, label: gore}
"""


@pytest.mark.parametrize("change, field_message", [
    (("user_agent: \"python:postatlas:1.0 (by /u/postatlas_test)\"\n", ""), "user_agent: Field required"),
    (("(by /u/postatlas_test)", ""), "user_agent: Value error, must follow Reddit's rule"),
    (("name: creepy", "name: happy place"), "subreddits.1.name: Value error, 'happy place' is not a subreddit"),
    (("name: creepy", "name: Happy"), "subreddits: Value error, r/Happy is listed twice"),
    (("label: rage", "label: ' '"), "subreddits.2.label: Value error, label must not be blank"),
    (("label_task: emotion\n", ""), "label_task: Value error, required when subreddits have labels"),
    (("min_score: 100", "limit: 5000"), "limit: Input should be less than or equal to 1000"),
    (("min_score: 100", "listing: best"), "listing: Input should be 'top', 'hot' or 'new'"),
    (("min_score: 100", "listing: new\ntime_filter: week"), "time_filter: Value error, applies to listing 'top'"),
    (("platform: reddit", "platform: twitter"), "platform: Input should be 'reddit'"),
    (("min_score: 100", "subreddit: happy"), "subreddit: Extra inputs are not permitted"),
])
def test_spec_errors_name_the_field(tmp_path: Path, change: tuple[str, str], field_message: str) -> None:
    path = tmp_path / "reddit.yaml"
    assert change[0] in PAPER_003
    path.write_text(PAPER_003.replace(*change), encoding="utf-8")
    with pytest.raises(CollectorError) as caught:
        load_spec(path, RedditSpec)
    assert field_message in str(caught.value)


def test_paper_003_spec_loads(tmp_path: Path) -> None:
    path = tmp_path / "reddit.yaml"
    path.write_text(PAPER_003, encoding="utf-8")
    spec = load_spec(path, RedditSpec)
    assert (spec.listing, spec.time_filter, spec.limit, spec.min_score) == ("top", "all", 1000, 100)
    assert spec_labels(spec) == {"happy": "happy", "creepy": "creepy", "rage": "rage", "gore": "gore"}


def test_posts_below_min_score_on_a_real_page(listings) -> None:
    body = listings["TestMultiredditListings.test_new #1"]
    things = json.loads(body)["data"]["children"]
    below = posts_below_min_score(body, 100)
    assert below == [thing["data"]["name"] for thing in things if thing["data"]["score"] < 100]
    assert len(below) == 89  # of 100 on this page
    parsed = normalize_reddit(RawRecord("r/x new", "page 1", body, "reddit"))
    assert set(below) < {post["native_id"] for post in parsed.posts}  # the run loop drops these native ids
    assert posts_below_min_score(body, 0) == []
    assert posts_below_min_score(HTML, 100) == []
