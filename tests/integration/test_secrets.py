"""Secrets never leave the process: servers echoing the token in 401 / 403 / 5xx bodies, the real CLI and flows
run against them (the real tweepy and praw clients, loopback APIs), then every byte the project wrote is searched
for the secrets: the POSTATLAS_HOME (warehouse file, raw zone, Prefect results), the Prefect home and the test
server's database (logs, states, artifacts), stdout / stderr and the log records; the warehouse's text columns
are also searched with SQL (DuckDB may compress strings in its file)."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from tasks.collect.secrets import MASK, redact, refresh_env_secrets, register_secret, scrubbed_errors
from tests.fakes.reddit_api import CASSETTES, FakeRedditAPI, cassette_listings, chain
from tests.fakes.twitter_api import FakeTwitterAPI, echoing, tweets_of_pages
from tests.helpers import query

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# shaped like a real X bearer token (URL-quoted characters included)
TOKEN = "AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid%2BULvsea4JtiGRiSDSJSI%3DEUifiRBkKG5E2XzMDjRfl76ZC9Ub0wnz4XsNiRVBC"
USER_AGENT = "python:postatlas-tests:1.0 (by /u/postatlas_test)"
REDDIT = {"client_id": "pa-test-client-Id7f3a", "client_secret": "s3cr3t-reddit-Zq9xW2kP",
          "username": "pa_script_user", "password": "pw-Reddit-Hunter2!x"}


def markers(*secrets: str) -> list[str]:
    """What must appear nowhere: each secret, and its last 16 characters (a truncated secret still leaks)."""
    return [form for value in secrets for form in (value, value[-16:])]


def readable(data: bytes) -> bytes:
    """``data``, and decoded after it the base64 blocks it holds: Prefect stores results as base64 pickles
    (a bare file, or a JSON record with the pickle in ``result``)."""
    blocks = re.findall(rb"(?:[A-Za-z0-9+/=]|\\n|\n){64,}", data)  # newlines: real, or escaped in JSON
    decoded = []
    for block in blocks:
        with contextlib.suppress(ValueError):
            decoded.append(base64.b64decode(block.replace(b"\\n", b"").replace(b"\n", b""), validate=False))
    return b"\0".join([data, *decoded])


def leaks(folder: Path, secrets: list[str]) -> list[str]:
    """``file: secret`` for every file under ``folder`` whose bytes (or base64 blocks) contain one of ``secrets``."""
    found = []
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file():
            data = readable(path.read_bytes())
            found += [f"{path}: {secret!r}" for secret in secrets if secret.encode() in data]
    return found


def warehouse_leaks(home: Path, secrets: list[str]) -> list[str]:
    """``table.column: secret`` for every text column of the warehouse holding one of ``secrets``."""
    columns = query(home, "SELECT table_name, column_name FROM information_schema.columns "
                          "WHERE table_schema = 'main' AND data_type IN ('VARCHAR', 'JSON') "
                          "AND table_name IN (SELECT table_name FROM information_schema.tables "
                          "WHERE table_type = 'BASE TABLE')")
    found = []
    for table, column in columns:
        for secret in secrets:
            hits = query(home, f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?',
                         [f"%{secret}%"])[0][0]
            if hits:
                found.append(f"{table}.{column}: {secret!r}")
    return found


def prefect_database_folder() -> Path:
    """The folder of the test Prefect server's SQLite database (its logs, states, artifacts)."""
    from prefect.settings import get_current_settings

    url = str(get_current_settings().server.database.connection_url.get_secret_value())
    return Path(url.split(":///", 1)[1]).parent


def flush_prefect_logs() -> None:
    """Send the buffered run logs to the server before its database is read."""
    from prefect.logging.handlers import APILogHandler

    with contextlib.suppress(Exception):  # nothing buffered / no worker: nothing to flush
        APILogHandler.flush()


def every_leak(home: Path, secrets: list[str], captured: str, log_text: str) -> list[str]:
    """Everything the run wrote, searched for ``secrets``."""
    flush_prefect_logs()
    found = leaks(home, secrets) + warehouse_leaks(home, secrets)
    found += leaks(Path(os.environ["PREFECT_HOME"]), secrets) + leaks(prefect_database_folder(), secrets)
    found += [f"stdout/stderr: {s!r}" for s in secrets if s in captured]
    found += [f"log records: {s!r}" for s in secrets if s in log_text]
    return found


@pytest.fixture
def persisted_results(home: Path):
    """Results persisted under the home, as deployed workers do (PREFECT_RESULTS_PERSIST_BY_DEFAULT)."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, PREFECT_RESULTS_PERSIST_BY_DEFAULT, temporary_settings

    results = home / "prefect-results"
    with temporary_settings({PREFECT_RESULTS_PERSIST_BY_DEFAULT: True, PREFECT_LOCAL_STORAGE_PATH: str(results)}):
        yield results


@pytest.fixture
def no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The collectors' backoff without waiting (the retries still happen)."""
    monkeypatch.setattr("tasks.collect.twitter.backoff", lambda attempt, **_: 0.0)
    monkeypatch.setattr("tasks.collect.reddit.backoff", lambda attempt, **_: 0.0)
    import prawcore.rate_limit
    import prawcore.sessions

    monkeypatch.setattr(prawcore.sessions, "time", SimpleNamespace(sleep=lambda s: None, monotonic=__import__(
        "time").monotonic))
    monkeypatch.setattr(prawcore.rate_limit, "time", SimpleNamespace(sleep=lambda s: None, monotonic_ns=__import__(
        "time").monotonic_ns))


# --------------------------------------------------------------------------- the function


def test_redact_masks_secret_values_their_quoted_forms_and_auth_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTATLAS_SOMETHING_API_KEY", "key-from-the-env-123")
    refresh_env_secrets()  # as installing the redaction or resolving a secret does (redact: once a second)
    register_secret("registered-value-456")
    register_secret("abc")  # too short to mask as a substring
    text = ("key-from-the-env-123 registered-value-456 registered-value-456 abc "
            "Authorization: Bearer AAAA%2Bunregistered123 basic dXNlcjpwYXNzd29yZA== Basic information")
    assert redact(text) == (f"{MASK} {MASK} {MASK} abc Authorization: Bearer {MASK} basic {MASK} Basic information")
    assert redact("registered-value%2D456") == "registered-value%2D456"  # not a form it was registered in
    register_secret("with/slash+plus=")
    assert redact("with%2Fslash%2Bplus%3D and with%2Fslash%2Bplus%3D") == f"{MASK} and {MASK}"


def test_scrubbed_errors_redact_the_exception_and_cut_its_chain() -> None:
    """What leaves a collect task is pickled with its chain where tblib is loaded (Dask): nothing may chain a secret."""
    import pickle

    from tblib import pickling_support

    register_secret("scrub-secret-789xyz")
    pickling_support.install()
    with pytest.raises(KeyError) as clean, scrubbed_errors():
        try:
            raise RuntimeError("refused scrub-secret-789xyz")
        except RuntimeError as cause:
            raise KeyError("clean") from cause
    assert clean.value.__cause__ is None and clean.value.__context__ is None
    assert b"scrub-secret-789xyz" not in pickle.dumps(clean.value)
    with pytest.raises(RuntimeError) as leaky, scrubbed_errors():
        raise RuntimeError("refused scrub-secret-789xyz")
    assert str(leaky.value) == f"RuntimeError: refused {MASK}"
    assert b"scrub-secret-789xyz" not in pickle.dumps(leaky.value)


def test_log_records_are_redacted_whichever_logger(caplog: pytest.LogCaptureFixture) -> None:
    from tasks.collect.secrets import install_log_redaction

    install_log_redaction()
    register_secret("logged-secret-000aaa")
    caplog.set_level(logging.DEBUG)
    logging.getLogger("some.library").debug("headers %s", {"Authorization": "Bearer logged-secret-000aaa"})
    try:
        raise ValueError("boom logged-secret-000aaa")
    except ValueError:
        logging.getLogger("other").exception("failed")
    assert "logged-secret-000aaa" not in caplog.text and MASK in caplog.text
    assert "ValueError: boom ***" in caplog.text


# --------------------------------------------------------------------------- X / Twitter


@pytest.fixture
def old_tweets(shared_data: Path):
    folder = shared_data / "api-payloads" / "twitter-v2"
    if not folder.is_dir():
        pytest.skip(f"real X API payloads not found at {folder}")
    return tweets_of_pages(folder / "noflat.jsonl")


@pytest.fixture
def twitter_api(old_tweets, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("POSTATLAS_TWITTER_BEARER_TOKEN", TOKEN)
    with FakeTwitterAPI(TOKEN, old_tweets) as fake:
        yield fake


def twitter_spec(tmp_path: Path, endpoint: str, name: str = "echo") -> Path:
    spec = tmp_path / f"{name}.toml"
    spec.write_text(f'platform = "twitter"\nname = "{name}"\nmode = "search_recent"\nquery = "news"\n'
                    f'endpoint = "{endpoint}"\ndownload_images = false\n')
    return spec


@pytest.mark.parametrize("faults, code, status, stop_reason", [
    ([echoing(401)], 2, "failed", "failed"),
    ([echoing(503)] * 5, 2, "failed", "api_unavailable"),
    ([echoing(503)], 0, "completed", "completed"),
], ids=["401-fails", "503-until-the-end-fails", "503-once-then-completes"])
def test_twitter_token_echoed_by_the_server_is_written_nowhere(
        twitter_api: FakeTwitterAPI, faults, code: int, status: str, stop_reason: str, tmp_path: Path, home: Path,
        prefect_server, persisted_results: Path, no_waits, capfd: pytest.CaptureFixture,
        caplog: pytest.LogCaptureFixture) -> None:
    from flows.cli import main

    caplog.set_level(logging.DEBUG, logger="tweepy")  # tweepy logs the request headers at DEBUG
    caplog.set_level(logging.DEBUG, logger="urllib3")
    twitter_api.fail("search", *faults)
    assert main(["collect", "twitter", "--spec", str(twitter_spec(tmp_path, twitter_api.url))]) == code
    captured = capfd.readouterr()
    assert query(home, "SELECT status, stop_reason FROM runs") == [(status, stop_reason)]
    assert every_leak(home, markers(TOKEN), captured.out + captured.err, caplog.text) == []
    # the searches did see what was written: the masked echo, the failure's message, the persisted results
    assert "Bearer ***" in caplog.text or "token=***" in captured.err + caplog.text
    if code:
        message = query(home, "SELECT message FROM runs")[0][0]
        assert "postatlas collect: error:" in captured.err and MASK in captured.err and MASK in message
        assert any(persisted_results.rglob("*")), "no Prefect result was persisted: the search proves nothing"
        assert b"collect" in b"".join(p.read_bytes() for p in prefect_database_folder().rglob("*") if p.is_file())


def test_twitter_search_without_redaction_would_leak(
        twitter_api: FakeTwitterAPI, tmp_path: Path, home: Path, prefect_server, persisted_results: Path,
        no_waits, capfd: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The searches of the test above find the token when redaction is switched off (they are not blind)."""
    import tasks.collect.secrets as secrets
    from flows.cli import main

    monkeypatch.setattr(secrets, "secret_values", lambda: [])
    monkeypatch.setattr(secrets, "AUTH_HEADER", re.compile("(?!x)x"))
    twitter_api.fail("search", echoing(401))
    main(["collect", "twitter", "--spec", str(twitter_spec(tmp_path, twitter_api.url))])
    captured = capfd.readouterr()
    found = every_leak(home, markers(TOKEN), captured.out + captured.err, caplog.text)
    assert any("runs.message" in f for f in found) and any("stdout/stderr" in f for f in found), found
    assert any("prefect-results" in f for f in found) and any("prefect-test.db" in f for f in found), found


# --------------------------------------------------------------------------- Reddit


@pytest.fixture
def reddit_api(shared_data: Path, prefect_server, monkeypatch: pytest.MonkeyPatch):
    if not (shared_data / CASSETTES).is_dir():
        pytest.skip(f"PRAW cassettes not found at {shared_data / CASSETTES}")
    listings = cassette_listings(shared_data)
    with FakeRedditAPI(**REDDIT) as server:
        server.serve("happy", "top", chain([listings["TestFront.test_top #1"]]))
        for name, value in REDDIT.items():
            monkeypatch.setenv(f"POSTATLAS_REDDIT_{name.upper()}", value)
        yield server


def reddit_spec(tmp_path: Path, endpoint: str) -> Path:
    spec = tmp_path / "reddit.yaml"
    spec.write_text(f"platform: reddit\nname: echo\nuser_agent: '{USER_AGENT}'\nendpoint: {endpoint}\n"
                    "download_images: false\nsubreddits: [{name: happy}]\n")
    return spec


@pytest.mark.parametrize("path, status, times, stop_reason", [
    ("/api/v1/access_token", 401, 1, "failed"),
    ("/api/v1/access_token", 503, None, "server_error"),
    ("/r/happy", 403, 1, "failed"),
], ids=["token-401", "token-503-for-ever", "listing-403"])
def test_reddit_credentials_echoed_by_the_server_are_written_nowhere(
        reddit_api: FakeRedditAPI, path: str, status: int, times, stop_reason: str, tmp_path: Path, home: Path,
        persisted_results: Path, no_waits, capfd: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    from flows.cli import main

    caplog.set_level(logging.DEBUG, logger="prawcore")
    caplog.set_level(logging.DEBUG, logger="urllib3")
    reddit_api.fail(path, status, times=times, echo=True)
    assert main(["collect", "reddit", "--spec", str(reddit_spec(tmp_path, reddit_api.url))]) == 2
    captured = capfd.readouterr()
    assert query(home, "SELECT status, stop_reason FROM runs") == [("failed", stop_reason)]
    basic = base64.b64encode(f"{REDDIT['client_id']}:{REDDIT['client_secret']}".encode()).decode()
    secrets = markers(*REDDIT.values(), basic) + ["fake-token-"]  # the access token praw got, echoed as bearer
    assert every_leak(home, secrets, captured.out + captured.err, caplog.text) == []
    assert any(entry.status == status for entry in reddit_api.log)
    if path.startswith("/r/"):  # the 403's reason (the echo) is in the error, masked
        assert f"bearer {MASK}" in captured.err and f"bearer {MASK}" in query(home, "SELECT message FROM runs")[0][0]


# --------------------------------------------------------------------------- a platform that is down


def dead_endpoint() -> str:
    """A loopback address where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_nightly_fails_naming_the_spec_whose_platform_is_down_after_curating_the_rest(
        twitter_api: FakeTwitterAPI, old_tweets, tmp_path: Path, home: Path, prefect_server, no_waits) -> None:
    from flows.nightly import NightlyFailed, nightly_flow

    down = twitter_spec(tmp_path, dead_endpoint(), name="down")
    live = twitter_spec(tmp_path, twitter_api.url, name="live")
    with pytest.raises(NightlyFailed) as raised:
        nightly_flow(specs=[str(down), str(live)], home=str(home))
    message = str(raised.value)
    assert message.startswith("1 of 2 collect runs failed") and str(down) in message and str(live) not in message
    assert "did not answer (api_unavailable: ConnectionError" in message
    rows = query(home, "SELECT flow, status, stop_reason, read, message FROM runs ORDER BY started_at")
    assert [row[:4] for row in rows] == [
        ("collect", "failed", "api_unavailable", 0),
        ("collect", "completed", "completed", len(old_tweets)),
        ("curate", "completed", None, len(old_tweets)),
    ]
    assert rows[0][4].startswith("PlatformUnavailable: twitter did not answer")

    # the next night, nothing new on the live platform: an empty sweep is a completed run, not a failure
    result = nightly_flow(specs=[str(live)], home=str(home))
    assert result["collected"] == {str(live): "completed"}
    last = query(home, "SELECT status, stop_reason, read, written FROM runs WHERE flow = 'collect' "
                       "ORDER BY started_at DESC LIMIT 1")
    assert last == [("completed", "completed", 0, 0)]


def test_collect_command_fails_when_the_api_answers_503_until_the_retries_end(
        twitter_api: FakeTwitterAPI, tmp_path: Path, home: Path, prefect_server, no_waits,
        capfd: pytest.CaptureFixture) -> None:
    from flows.cli import main
    from tests.fakes.twitter_api import server_error

    twitter_api.fail("search", *[server_error(503)] * 5)
    assert main(["collect", "twitter", "--spec", str(twitter_spec(tmp_path, twitter_api.url))]) == 2
    err = capfd.readouterr().err
    assert "postatlas collect: error: twitter did not answer (api_unavailable: 503" in err
    assert query(home, "SELECT status, stop_reason, pages FROM runs") == [("failed", "api_unavailable", 0)]
    # the platform is back: the next run reads everything and completes
    assert main(["collect", "twitter", "--spec", str(twitter_spec(tmp_path, twitter_api.url))]) == 0
    assert query(home, "SELECT status, stop_reason FROM runs ORDER BY started_at DESC LIMIT 1") == [
        ("completed", "completed")]


# --------------------------------------------------------------------------- quarantine rows


def test_quarantine_rows_mask_a_secret_even_where_the_excerpt_cuts_it(
        tmp_path: Path, home: Path, prefect_server, monkeypatch: pytest.MonkeyPatch) -> None:
    """A saved error page (not JSON) in a file given to `ingest`: its quarantine row's excerpt masks the token
    before cutting the excerpt at 2,000 characters, so no piece of it is kept either."""
    from flows.cli import main

    token = "ingest-token-" + "Zx9" * 12
    monkeypatch.setenv("POSTATLAS_X_ACCESS_TOKEN", token)
    refresh_env_secrets()
    broken = "<html>" + "p" * 1_984 + token + "</html>"  # the token starts 10 characters before the excerpt ends
    pages = tmp_path / "pages.jsonl"
    pages.write_text(broken + "\n")
    assert main(["ingest", "twitter-v2", str(pages)]) == 0
    rows = query(home, "SELECT reason, detail, raw_excerpt FROM quarantine")
    assert [row[0] for row in rows] == ["malformed_json"]
    stored = rows[0][1] + rows[0][2]
    assert token[:10] not in stored and rows[0][2].endswith(f"p{MASK}</html>")
