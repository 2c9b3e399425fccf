"""The X collector: the real tweepy client against a loopback API serving real payloads (tests/fakes)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from storage.records import RawRecord
from tasks.collect.base import CollectionStopped, CollectorError, Limits, Page, backoff
from tasks.collect.spec import load_spec
from tasks.collect.twitter import TwitterCollector, TwitterRule, TwitterSpec, make_collector
from tasks.normalize.twitter import normalize_twitter_v2
from tests.fakes.twitter_api import (
    FakeTwitterAPI,
    StoredTweet,
    forbidden,
    malformed_page,
    rate_limited,
    server_error,
    stream_cut,
    stream_lines,
    tweets_of_pages,
    unauthorized,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOKEN = "AAAAAAAAAAAAAAAAAAAAAtest-bearer-token-do-not-log"


@pytest.fixture(scope="module")
def payloads(shared_data: Path) -> Path:
    """The real X API v2 payloads in ../shared/data, or skip."""
    folder = shared_data / "api-payloads" / "twitter-v2"
    if not folder.is_dir():
        pytest.skip(f"real X API payloads not found at {folder}")
    return folder


@pytest.fixture
def old_tweets(payloads: Path) -> list[StoredTweet]:
    """315 real tweets from 2010-2021 (noflat + withheld search pages)."""
    return tweets_of_pages(payloads / "noflat.jsonl") + tweets_of_pages(payloads / "withheld.jsonl")


@pytest.fixture
def new_tweets(payloads: Path) -> list[StoredTweet]:
    """200 real tweets of September 2021, all newer than ``old_tweets``."""
    return tweets_of_pages(payloads / "2sets.jsonl")


@pytest.fixture
def api(old_tweets: list[StoredTweet], payloads: Path) -> Iterator[FakeTwitterAPI]:
    """The loopback API holding the old tweets and a real saved stream (7 tweets, then a truncated line)."""
    with FakeTwitterAPI(TOKEN, old_tweets, stream_lines(payloads / "streaming_output_with_error.jsonl")) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTATLAS_TWITTER_BEARER_TOKEN", TOKEN)


class Sleeps(list):
    """The injected sleep: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def collector(api: FakeTwitterAPI, sleeps: Sleeps | None = None, **fields) -> TwitterCollector:
    """A collector built by make_collector, pointed at the fake."""
    fields = {"mode": "search_recent", "query": "#brexit lang:en", "max_results": 40} | fields
    spec = TwitterSpec(platform="twitter", endpoint=api.url, **fields)
    return make_collector(spec, sleep=sleeps if sleeps is not None else Sleeps())


def run(source: TwitterCollector, cursor: dict, limits: Limits | None = None,
        ) -> tuple[list[Page], CollectionStopped | None]:
    """What the run loop does: check the limits, ask for a page, count its posts, close the pages at the end."""
    limits = limits or Limits()
    pages = source.pages(cursor, limits)
    got: list[Page] = []
    try:
        while limits.stop_reason(source.page_size) is None:
            page = next(pages, None)
            if page is None:
                break
            got.append(page)
            limits.posts_read += page.posts
    except CollectionStopped as stopped:
        return got, stopped
    finally:
        pages.close()
    return got, None


def tweet_ids(pages: list[Page]) -> list[int]:
    """The ids in the pages' ``data``, in order."""
    return [int(t["id"]) for p in pages for t in orjson.loads(p.payload).get("data") or ()]


def search_requests(api: FakeTwitterAPI) -> list[dict[str, str]]:
    """The parameters of every search request."""
    return [r.params for r in api.asked("/2/tweets/search/recent")]


# --------------------------------------------------------------------------- search


def test_search_paginates_to_the_end(api: FakeTwitterAPI, old_tweets: list[StoredTweet]) -> None:
    pages, stopped = run(collector(api), {})
    assert stopped is None
    assert [p.location for p in pages] == [f"page {n}" for n in range(1, 9)]  # 315 tweets, 40 per page
    assert [p.posts for p in pages] == [40] * 7 + [35]
    ids = tweet_ids(pages)
    assert len(ids) == len(set(ids)) == 315 and ids == sorted(ids, reverse=True)
    newest = str(max(t.id for t in old_tweets))
    tokens = [p.cursor["next_token"] for p in pages]
    assert all(tokens[:-1]) and tokens[-1] is None
    assert all(p.cursor["since_id"] == newest and p.cursor["sweep_since_id"] is None for p in pages)
    asked = search_requests(api)
    assert [a.get("next_token") for a in asked] == [None, *tokens[:-1]]
    assert all("since_id" not in a and a["max_results"] == "40" and a["query"] == "#brexit lang:en" for a in asked)
    assert "edit_history_tweet_ids" in asked[0]["tweet.fields"] and "note_tweet" in asked[0]["tweet.fields"]
    assert asked[0]["media.fields"] == "url,preview_image_url,width,height,type,media_key"
    # the payloads are the server's bodies, untouched, and the normalizer reads every tweet of them
    parsed = [normalize_twitter_v2(RawRecord(p.source, p.location, p.payload, "twitter")) for p in pages]
    assert sum(len(out.posts) for out in parsed) == 315
    assert pages[0].source == "twitter search_recent '#brexit lang:en'"


def test_second_run_reads_only_new_tweets(api: FakeTwitterAPI, new_tweets: list[StoredTweet]) -> None:
    first, _ = run(collector(api), {})
    cursor = first[-1].cursor
    api.add_tweets(new_tweets)
    api.requests.clear()
    second, stopped = run(collector(api), cursor)
    assert stopped is None
    assert sorted(tweet_ids(second)) == sorted(t.id for t in new_tweets)
    assert [a.get("since_id") for a in search_requests(api)] == [cursor["since_id"]] * len(second)
    newest = str(max(t.id for t in new_tweets))
    assert second[-1].cursor == {"next_token": None, "since_id": newest, "sweep_since_id": cursor["since_id"]}
    # nothing new: one empty page, and the cursor keeps its since_id
    third, _ = run(collector(api), second[-1].cursor)
    assert [(p.posts, orjson.loads(p.payload)) for p in third] == [(0, {"meta": {"result_count": 0}})]
    assert third[0].cursor["since_id"] == newest


def test_interrupted_sweep_resumes_with_its_token_and_since_id(
    api: FakeTwitterAPI, new_tweets: list[StoredTweet]
) -> None:
    done, _ = run(collector(api), {})
    api.add_tweets(new_tweets)
    part, _ = run(collector(api), done[-1].cursor, Limits(max_posts=80))  # 2 pages of 40, then the limit
    assert len(part) == 2 and part[-1].cursor["next_token"]
    api.requests.clear()
    rest, stopped = run(collector(api), part[-1].cursor)
    first_ask = search_requests(api)[0]
    assert first_ask["next_token"] == part[-1].cursor["next_token"]
    assert first_ask["since_id"] == done[-1].cursor["since_id"]  # the fake refuses a token with another since_id
    assert stopped is None
    ids = tweet_ids(part) + tweet_ids(rest)
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(t.id for t in new_tweets)
    assert rest[-1].cursor["since_id"] == str(max(t.id for t in new_tweets))


def test_search_all_uses_the_full_archive_endpoint(api: FakeTwitterAPI) -> None:
    pages, _ = run(collector(api, mode="search_all", max_results=500), {})
    assert [p.posts for p in pages] == [315]
    assert [r.params["max_results"] for r in api.asked("/2/tweets/search/all")] == ["500"]


def test_rate_limit_waits_until_the_reset_then_succeeds(api: FakeTwitterAPI) -> None:
    api.fail("search", rate_limited(reset_in=30))
    sleeps = Sleeps()
    pages, stopped = run(collector(api, sleeps), {})
    assert stopped is None and sum(p.posts for p in pages) == 315
    assert len(sleeps) == 1 and 29 <= sleeps[0] <= 32
    first, retried = search_requests(api)[:2]
    assert first == retried


def test_rate_limit_resetting_too_late_stops_cleanly(api: FakeTwitterAPI) -> None:
    api.fail("search", rate_limited(reset_in=2 * 3600))
    sleeps = Sleeps()
    pages, stopped = run(collector(api, sleeps), {})
    assert pages == [] and sleeps == []
    assert stopped is not None and stopped.reason == "rate_limited" and "resets at" in stopped.detail


def test_server_errors_are_retried_with_backoff(api: FakeTwitterAPI) -> None:
    api.fail("search", server_error(500), server_error(503))
    sleeps = Sleeps()
    pages, stopped = run(collector(api, sleeps), {})
    assert stopped is None and sum(p.posts for p in pages) == 315
    assert sleeps == [backoff(1), backoff(2)]


def test_server_errors_beyond_the_retries_stop_cleanly(api: FakeTwitterAPI) -> None:
    api.fail("search", *[server_error()] * 5)
    pages, stopped = run(collector(api), {})
    assert pages == [] and stopped is not None and stopped.reason == "api_unavailable"
    assert len(search_requests(api)) == 5


@pytest.mark.parametrize("fault", [unauthorized(), forbidden()], ids=["401", "403"])
def test_refused_token_fails_fast_without_the_token(api: FakeTwitterAPI, fault, caplog) -> None:
    api.fail("search", fault)
    sleeps = Sleeps()
    caplog.set_level(logging.DEBUG)  # tweepy logs request headers at DEBUG
    with pytest.raises(CollectorError) as raised:
        run(collector(api, sleeps), {})
    message = str(raised.value)
    assert f"{fault.status} " in message and "bearer token" in message and "access level" in message
    assert sleeps == [] and len(search_requests(api)) == 1
    assert TOKEN not in message and TOKEN not in repr(raised.value.__cause__)
    assert "Bearer ***" in caplog.text and TOKEN not in caplog.text


def test_malformed_page_is_yielded_and_the_next_run_asks_for_it_again(api: FakeTwitterAPI) -> None:
    api.fail("search", malformed_page())
    pages, stopped = run(collector(api), {})
    assert len(pages) == 1 and pages[0].posts == 0 and pages[0].cursor == {
        "next_token": None, "since_id": None, "sweep_since_id": None}
    assert stopped is not None and stopped.reason == "malformed_page"
    out = normalize_twitter_v2(RawRecord(pages[0].source, pages[0].location, pages[0].payload, "twitter"))
    assert [q["reason"] for q in out.quarantine] == ["malformed_json"]
    again, stopped = run(collector(api), pages[0].cursor)
    assert stopped is None and len(set(tweet_ids(again))) == 315


def test_malformed_page_mid_sweep_keeps_the_token_that_fetched_it(api: FakeTwitterAPI) -> None:
    good, _ = run(collector(api), {}, Limits(max_posts=40))
    api.fail("search", malformed_page())
    bad, stopped = run(collector(api), good[-1].cursor)
    assert stopped is not None and stopped.reason == "malformed_page"
    assert [p.posts for p in bad] == [0] and bad[0].cursor == good[-1].cursor
    rest, _ = run(collector(api), bad[0].cursor)
    ids = tweet_ids(good) + tweet_ids(rest)
    assert len(ids) == len(set(ids)) == 315


# --------------------------------------------------------------------------- stream


def stream_collector(api: FakeTwitterAPI, sleeps: Sleeps | None = None, **fields) -> TwitterCollector:
    """A stream collector with two rules."""
    rules = [{"value": "cat has:images", "tag": "cats"}, {"value": "dog -is:retweet"}]
    return collector(api, sleeps, **({"mode": "stream", "query": None, "rules": rules} | fields))


def test_rules_are_synced_idempotently(api: FakeTwitterAPI) -> None:
    api.rules.update({"1": {"id": "1", "value": "dog -is:retweet"},
                      "2": {"id": "2", "value": "cat has:images", "tag": "old tag"},
                      "3": {"id": "3", "value": "stale rule"}})
    source = stream_collector(api)
    changes = source.sync_rules()
    assert changes.added == (TwitterRule(value="cat has:images", tag="cats"),)
    assert set(changes.deleted) == {TwitterRule(value="cat has:images", tag="old tag"),
                                    TwitterRule(value="stale rule")}
    assert sorted((r["value"], r.get("tag")) for r in api.rules.values()) == [
        ("cat has:images", "cats"), ("dog -is:retweet", None)]
    rules_before = dict(api.rules)
    api.requests.clear()
    again = source.sync_rules()
    assert again.added == () and again.deleted == ()
    assert api.rules == rules_before and [r.method for r in api.requests] == ["GET"]


def test_rule_refused_by_the_api_is_an_error_naming_it(api: FakeTwitterAPI) -> None:
    source = stream_collector(api, rules=[{"value": "-is:retweet"}])
    with pytest.raises(CollectorError, match=r"'-is:retweet': UnprocessableEntity Rules must contain"):
        source.sync_rules()


def test_stream_yields_every_line_and_closes_when_limits_stop(api: FakeTwitterAPI) -> None:
    pages, stopped = run(stream_collector(api), {}, Limits(max_posts=7))
    assert stopped is None
    assert [p.payload for p in pages] == api.lines[:7]  # keep-alive lines skipped, bodies untouched
    assert [p.location for p in pages] == [f"stream line {n}" for n in range(1, 8)]
    assert all(p.posts == 1 and p.cursor == {} for p in pages)
    assert api.wait_for(lambda: api.open_streams == 0), "the stream connection was left open"
    asked = api.asked("/2/tweets/search/stream")[-1]
    assert asked.path == "/2/tweets/search/stream" and "edit_history_tweet_ids" in asked.params["tweet.fields"]
    assert asked.params["expansions"].startswith("author_id,attachments.media_keys")


def test_stream_cut_midway_reconnects_without_losing_or_doubling(api: FakeTwitterAPI) -> None:
    api.fail("stream", stream_cut(after_lines=3))
    sleeps = Sleeps()
    source = stream_collector(api, sleeps)
    pages = source.pages({}, Limits())
    got = [next(pages) for _ in api.lines]
    pages.close()
    assert [p.payload for p in got] == api.lines  # the half-sent 4th line is not yielded; it comes again whole
    assert [p.location for p in got] == [f"stream line {n}" for n in range(1, 9)]
    assert api.stream_connections == 2 and sleeps == [backoff(1)]
    assert got[-1].posts == 0  # the real truncated line: a page the normalizer quarantines, no crash
    assert api.wait_for(lambda: api.open_streams == 0)


def test_quiet_stream_ends_at_the_duration_limit(api: FakeTwitterAPI) -> None:
    api.stream_position = len(api.lines)  # nothing more to send: keep-alives only
    pages, stopped = run(stream_collector(api), {}, Limits(max_seconds=0.3))
    assert pages == [] and stopped is None
    assert api.wait_for(lambda: api.open_streams == 0)


def test_stream_gives_up_after_the_reconnect_attempts(api: FakeTwitterAPI) -> None:
    api.fail("stream", *[server_error(503)] * 3)
    sleeps = Sleeps()
    pages, stopped = run(stream_collector(api, sleeps, reconnect_attempts=2), {})
    assert pages == [] and sleeps == [backoff(1), backoff(2)]
    assert stopped is not None and stopped.reason == "api_unavailable" and "after 3 attempts" in stopped.detail


def test_stream_dropping_before_any_line_stops_cleanly(api: FakeTwitterAPI) -> None:
    api.fail("stream", *[stream_cut(after_lines=0)] * 3)
    sleeps = Sleeps()
    pages, stopped = run(stream_collector(api, sleeps, reconnect_attempts=2), {})
    assert pages == [] and sleeps == [backoff(1), backoff(2)] and api.stream_connections == 3
    assert stopped is not None and stopped.reason == "stream_disconnected"


def test_stream_refused_token_fails_fast(api: FakeTwitterAPI) -> None:
    api.fail("stream", unauthorized())
    sleeps = Sleeps()
    with pytest.raises(CollectorError, match="401 Unauthorized") as raised:
        run(stream_collector(api, sleeps), {})
    assert sleeps == [] and TOKEN not in str(raised.value)


# --------------------------------------------------------------------------- spec


def spec_error(**fields) -> str:
    """The validation message of a spec with ``fields``."""
    with pytest.raises(ValidationError) as raised:
        TwitterSpec(platform="twitter", **fields)
    return str(raised.value)


def test_spec_errors_name_the_field(tmp_path: Path) -> None:
    assert "rules: mode 'stream' needs at least one rule" in spec_error(mode="stream")
    assert "max_results\n  Input should be less than or equal to 500" in spec_error(
        mode="search_all", query="x", max_results=1000)
    assert "max_results: search_recent returns at most 100" in spec_error(
        mode="search_recent", query="x", max_results=200)
    assert "query: required when mode is 'search_recent'" in spec_error(mode="search_recent")
    assert "rules: value 'a' appears more than once" in spec_error(
        mode="stream", rules=[{"value": "a"}, {"value": "a", "tag": "t"}])
    assert "end_time: must be after start_time" in spec_error(
        mode="search_all", query="x", start_time="2024-02-01T00:00:00Z", end_time="2024-01-01T00:00:00Z")
    path = tmp_path / "nightly.yaml"
    path.write_text("platform: twitter\nname: nightly\nmode: stream\nmax_results: 1000\n")
    with pytest.raises(CollectorError) as raised:
        load_spec(path, TwitterSpec)
    assert "max_results: Input should be less than or equal to 500" in str(raised.value)


def test_collect_command_nightly_runs_add_only_new_tweets(
        api: FakeTwitterAPI, new_tweets: list[StoredTweet], old_tweets: list[StoredTweet], tmp_path: Path,
        home: Path, prefect_server, caplog: pytest.LogCaptureFixture) -> None:
    from flows.cli import main
    from tests.helpers import query

    spec = tmp_path / "x.toml"
    spec.write_text(f'platform = "twitter"\nname = "nightly"\nmode = "search_recent"\nquery = "news"\n'
                    f'endpoint = "{api.url}"\ndownload_images = false\n')
    assert main(["collect", "twitter", "--spec", str(spec)]) == 0
    first = query(home, "SELECT read, written, duplicates, quarantined, stop_reason FROM runs")
    assert first == [(len(old_tweets), len(old_tweets), 0, 0, "completed")]
    api.add_tweets(new_tweets)
    assert main(["collect", "twitter", "--spec", str(spec)]) == 0
    assert query(home, "SELECT count(*), count(DISTINCT post_id) FROM posts") == [
        (len(old_tweets) + len(new_tweets),) * 2]
    second = query(home, "SELECT read, written, duplicates FROM runs ORDER BY started_at DESC LIMIT 1")
    assert second == [(len(new_tweets), len(new_tweets), 0)]
    assert query(home, "SELECT sum(posts_read) FROM read_budget") == [(len(old_tweets) + len(new_tweets),)]
    stored = query(home, "SELECT string_agg(CAST(parameters AS VARCHAR), ' ') || string_agg(coalesce(message, ''), ' ') "
                         "FROM runs")[0][0]
    assert TOKEN not in stored and TOKEN not in caplog.text
