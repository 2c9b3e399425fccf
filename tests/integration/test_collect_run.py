"""The collect run loop with a scripted collector over real X API v2 pages (no platform client involved:
the platform collectors have their own tests against loopback servers)."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.home import Home
from tasks.collect.base import CollectionStopped, Limits, Page
from tasks.collect.run import CollectRun
from tasks.collect.spec import CollectSpec, LimitsSpec
from tests.helpers import query

pytestmark = pytest.mark.integration


class ScriptedCollector:
    """Yields the given pages in order, resuming after the page named by the cursor; optionally stops."""

    platform, fmt, page_size = "twitter", "twitter-v2", 100

    def __init__(self, pages: list[bytes], stop_after: int | None = None) -> None:
        self.bodies = pages
        self.stop_after = stop_after
        self.requested: list[int] = []

    def pages(self, cursor: dict, limits: Limits) -> Iterator[Page]:
        for index in range(cursor.get("next", 0), len(self.bodies)):
            if self.stop_after is not None and index == self.stop_after:
                raise CollectionStopped("checkpoint", "the platform asked for a challenge")
            self.requested.append(index)
            body = self.bodies[index]
            yield Page(body, "scripted search", f"page {index}", {"next": index + 1}, posts=tweets_in(body))


def tweets_in(body: bytes) -> int:
    data = json.loads(body).get("data")
    return len(data) if isinstance(data, list) else 1


@pytest.fixture
def pages(shared_data: Path) -> list[bytes]:
    lines = (shared_data / "api-payloads" / "twitter-v2" / "withheld.jsonl").read_bytes().splitlines()
    return [line for line in lines if line.strip()]


def _run(home: Path, run_id: str, collector, **limits) -> object:
    spec = CollectSpec(platform="twitter", name="scripted", download_images=False, limits=LimitsSpec(**limits))
    return CollectRun(Home.at(home).ensure(), run_id, types.SimpleNamespace(), spec, collector).run()


def test_pages_commit_with_their_cursor_and_a_second_run_reads_only_new_pages(home: Path, pages) -> None:
    first = _run(home, "run-1", ScriptedCollector(pages[:3]))
    assert first.stop_reason == "completed" and first.pages == 3
    assert first.read == first.written + first.duplicates + first.quarantined
    posts = query(home, "SELECT count(*) FROM posts")[0][0]
    assert posts == first.written > 0
    assert query(home, "SELECT cursor FROM collector_state") == [('{"next":3}',)]
    later = ScriptedCollector(pages)
    second = _run(home, "run-2", later)
    assert later.requested == list(range(3, len(pages)))  # nothing asked twice
    assert query(home, "SELECT count(*), count(DISTINCT post_id) FROM posts")[0] == (
        posts + second.written, posts + second.written)


def test_limits_are_checked_before_each_request(home: Path, pages) -> None:
    collector = ScriptedCollector(pages)
    totals = _run(home, "run-1", collector, budget_per_month=150)
    assert totals.stop_reason == "read_budget"
    # pages of 1, 1, 1 and 100 tweets fit in 150; another page of up to 100 would not, so it is never asked for
    assert collector.requested == [0, 1, 2, 3]
    assert query(home, "SELECT posts_read FROM read_budget") == [(sum(tweets_in(p) for p in pages[:4]),)]
    again = ScriptedCollector(pages)
    assert _run(home, "run-2", again, budget_per_month=150).stop_reason == "read_budget"
    assert again.requested == []  # this month's budget is spent across runs
    counted = ScriptedCollector(pages)
    assert _run(home, "run-3", counted, max_posts=1).stop_reason == "count_limit"
    assert counted.requested == [4]  # continues after the last committed page, then stops at the count


def test_a_platform_stop_keeps_what_was_committed(home: Path, pages) -> None:
    totals = _run(home, "run-1", ScriptedCollector(pages, stop_after=2))
    assert (totals.stop_reason, totals.pages) == ("checkpoint", 2)
    assert "challenge" in totals.stop_detail
    assert query(home, "SELECT cursor FROM collector_state") == [('{"next":2}',)]
    resumed = ScriptedCollector(pages)
    _run(home, "run-2", resumed)
    assert resumed.requested[0] == 2


class ImageServer:
    """A loopback server answering every GET with a small JPEG, except paths containing 'gone' (404)."""

    def __init__(self) -> None:
        import io
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (32, 24), (200, 40, 40)).save(buffer, "JPEG")
        jpeg, self.paths = buffer.getvalue(), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.paths.append(self.path)
                status, body = (404, b"") if "gone" in self.path else (200, jpeg)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def test_images_of_new_posts_are_downloaded_into_the_media_store(home: Path, shared_data: Path) -> None:
    body = (shared_data / "api-payloads" / "twitter-v2" / "2sets.jsonl").read_bytes().splitlines()[0]
    images = ImageServer()
    spec = CollectSpec(platform="twitter", name="images", media_endpoint=images.url)
    totals = CollectRun(Home.at(home).ensure(), "run-1", types.SimpleNamespace(), spec,
                        ScriptedCollector([body])).run()
    photos = query(home, "SELECT count(*) FROM media WHERE kind = 'photo' AND url IS NOT NULL")[0][0]
    assert photos > 0 and totals.images == photos
    assert query(home, "SELECT count(*) FROM media WHERE status = 'stored' AND width = 32 AND height = 24") == [
        (photos,)]
    assert all(path.startswith("/media/") for path in images.paths)  # the URLs' paths, sent to the override
    path = query(home, "SELECT path FROM media WHERE status = 'stored' LIMIT 1")[0][0]
    assert (home / path).is_file()
    again = CollectRun(Home.at(home), "run-2", types.SimpleNamespace(), spec, ScriptedCollector([body])).run()
    assert again.images == 0 and again.written == 0  # duplicates fetch nothing


def test_collect_command_rejects_a_bad_spec_before_any_request(home: Path, tmp_path: Path, prefect_server,
                                                              capsys) -> None:
    from flows.cli import main

    spec = tmp_path / "x.yaml"
    spec.write_text("platform: twitter\nmode: search_recent\nquery: news\n")
    assert main(["collect", "reddit", "--spec", str(spec)]) == 2
    error = capsys.readouterr().err
    assert "platform" in error and "user_agent" in error  # every bad field is named
    assert main(["collect", "twitter", "--spec", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read spec" in capsys.readouterr().err
    assert not (home / "warehouse.duckdb").exists()  # refused before any flow run: no runs row (issue 11)
