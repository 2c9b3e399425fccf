"""`postatlas ingest` end to end through the CLI, real Prefect flows (test server), real DuckDB files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.cli import main
from tests.helpers import counts_add_up, query, snapshot

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _server(prefect_server):
    yield


def test_mvsa_with_labels_decodes_legacy_code_pages(home: Path, shared_data: Path, capsys) -> None:
    mvsa = shared_data / "mvsa-single"
    code = main(["ingest", "mvsa", str(mvsa), "--labels", str(mvsa / "label" / "labels.csv"), "--task", "sentiment"])
    assert code == 0
    assert query(home, "SELECT count(*) FROM posts WHERE platform = 'mvsa'") == [(3889,)]
    assert query(home, "SELECT count(*) FROM post_labels WHERE task = 'sentiment'") == [(3020,)]
    assert query(home, "SELECT label, count(*) FROM post_labels GROUP BY 1 ORDER BY 1")[0][0] == "negative"
    # A quarter of the texts are GBK (read as gb18030): decoded, never dropped, never mojibake.
    assert query(home, "SELECT source_encoding, count(*) FROM posts GROUP BY 1 ORDER BY 1") == [
        ("gb18030", 891), (None, 2998)]
    text = query(home, "SELECT text FROM posts WHERE post_id = 'mvsa:2'")[0][0]
    assert text.endswith("#cut…") and "\ufffd" not in text
    assert query(home, "SELECT count(*) FROM media WHERE status = 'stored' AND width > 0") == [(3889,)]
    assert query(home, "SELECT count(DISTINCT sha256) FROM media")[0][0] > 3800
    stored = query(home, "SELECT path FROM media WHERE post_id = 'mvsa:2'")[0][0]
    assert (home / stored).is_file()
    assert "read 3889 = new 3889 + duplicates 0 + quarantined 0" in capsys.readouterr().out
    assert counts_add_up(home) == []


def test_reingest_changes_no_table(home: Path, shared_data: Path) -> None:
    sources = [str(shared_data / "api-payloads" / "twitter-v2")]
    assert main(["ingest", "twitter-v2", *sources]) == 0
    # every distinct tweet of the real payloads, with edits, withheld tweets and compliance events handled
    assert query(home, "SELECT count(*), count(DISTINCT post_id) FROM posts") == [(1109, 1109)]
    assert query(home, "SELECT edit_of FROM posts WHERE post_id = 'twitter:1576994789110992896'") == [
        ("twitter:1576994746135764992",)]
    assert query(home, "SELECT withheld FROM posts WHERE post_id = 'twitter:25712847277'") == [("DE,FR",)]
    assert query(home, "SELECT target_kind, count(*) FROM deletions GROUP BY 1 ORDER BY 1") == [("post", 2), ("user", 1)]
    assert query(home, "SELECT count(*) FROM quarantine WHERE reason = 'unsupported_payload'")[0][0] >= 2
    # one row per natural key (these tables have no index to refuse a second one: the writer's anti-join does)
    for table, key in (("users", "user_id"), ("media", "post_id, position"), ("mentions", "post_id, dst_username")):
        [(rows, keys)] = query(home, f"SELECT count(*), count(DISTINCT ({key})) FROM {table}")
        assert rows == keys > 0, table
    before = snapshot(home)
    assert main(["ingest", "twitter-v2", *sources]) == 0
    assert snapshot(home) == before
    runs = query(home, "SELECT read, written, duplicates, quarantined FROM runs ORDER BY started_at")
    assert len(runs) == 2
    first, second = runs
    assert second[0] == first[0] and second[1] == 0
    assert second[2] == first[1] + first[2]  # everything written the first time is a duplicate now
    assert counts_add_up(home) == []


def test_table_format_with_headerless_tsv_and_labels(home: Path, shared_data: Path) -> None:
    tweetlid = shared_data / "tweetlid" / "train_complete_clean.txt"
    code = main([
        "ingest", "table", str(tweetlid), "--platform", "twitter", "--columns", "id,user,lang,text",
        "--map", "id=id", "--map", "text=text", "--map", "author=user", "--label", "lang=lang",
    ])
    assert code == 0
    assert query(home, "SELECT count(*) FROM posts") == [(13931,)]
    assert query(home, "SELECT label, count(*) FROM post_labels WHERE task = 'lang' GROUP BY 1 ORDER BY 2 DESC LIMIT 2") \
        == [("es", 7952), ("pt", 1921)]
    assert query(home, "SELECT author_name, text FROM posts WHERE post_id = 'twitter:441285303425572864'") == [
        ("tamusv", "El francés va a acabar conmigo")]
    heavy = query(home, "SELECT max(n) FROM (SELECT count(*) n FROM posts GROUP BY author_id)")[0][0]
    assert heavy > 20  # per-user caps have real work to do on this data


def test_table_format_geotagged_coordinates(home: Path, shared_data: Path) -> None:
    tsv = shared_data / "geotagged-tweets" / "tweets.tsv"
    code = main(["ingest", "table", str(tsv), "--platform", "geotext", "--columns", "id,text,kind,lat,lon",
                 "--map", "id=id", "--map", "text=text", "--map", "lat=lat", "--map", "lon=lon"])
    assert code == 0
    assert query(home, "SELECT count(*), count(lat), min(lat) >= -90, max(lon) <= 180 FROM posts") == [
        (13189, 13189, True, True)]
    assert query(home, "SELECT lat, lon FROM posts WHERE native_id = '569407214101737474'") == [
        (33.905833, -117.798516)]


def _write_bad_inputs(folder: Path) -> dict[str, Path]:
    """A v2 file with every kind of bad line among good ones, and an MVSA folder with a broken image."""
    folder.mkdir(parents=True)
    good = {"data": [{"id": "1001", "text": "a perfectly fine tweet about Barcelona", "author_id": "7",
                      "created_at": "2026-05-01T10:00:00.000Z", "edit_history_tweet_ids": ["1001"]}],
            "includes": {"users": [{"id": "7", "username": "someone", "name": "Some One"}]}}
    far = {"data": [{"id": "1002", "text": "coordinates off the globe", "author_id": "7",
                     "geo": {"coordinates": {"type": "Point", "coordinates": [2.17, 123.0]}},
                     "edit_history_tweet_ids": ["1002"]}]}
    huge = {"data": [{"id": "1003", "text": "x" * 3_000_000, "author_id": "7", "edit_history_tweet_ids": ["1003"]}]}
    lines = [json.dumps(good), '{"data": [{"id": "1004", "text": "trunc', json.dumps([1, 2, 3]),
             json.dumps(far), json.dumps(huge)]
    tweets = folder / "tweets.jsonl"
    tweets.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mvsa = folder / "mvsa"
    mvsa.mkdir()
    (mvsa / "1.txt").write_bytes("caf\xe9 con leche en la Barceloneta, qu\xe9 bueno".encode("cp1252"))
    (mvsa / "1.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (mvsa / "2.txt").write_bytes(b"plain utf-8 text here")
    return {"tweets": tweets, "mvsa": mvsa}


def test_bad_input_is_quarantined_and_the_rest_ingested(home: Path, tmp_path: Path, capsys) -> None:
    files = _write_bad_inputs(tmp_path / "bad")
    assert main(["ingest", "twitter-v2", str(files["tweets"])]) == 0
    assert "warning" in capsys.readouterr().out
    assert sorted(r[0] for r in query(home, "SELECT post_id FROM posts")) == ["twitter:1001", "twitter:1002"]
    reasons = query(home, "SELECT reason, scope, location FROM quarantine ORDER BY location")
    assert ("malformed_json", "record", "line 2") in reasons
    assert ("wrong_shape", "record", "line 3") in reasons
    assert ("impossible_coordinates", "field", "line 4 post twitter:1002") in reasons
    assert ("field_too_large", "post", "line 5 post twitter:1003") in reasons
    assert query(home, "SELECT lat, lon FROM posts WHERE post_id = 'twitter:1002'") == [(None, None)]
    assert query(home, "SELECT read, written, duplicates, quarantined FROM runs") == [(5, 2, 0, 3)]

    assert main(["ingest", "mvsa", str(files["mvsa"])]) == 0
    text, encoding = query(home, "SELECT text, source_encoding FROM posts WHERE post_id = 'mvsa:1'")[0]
    assert text == "café con leche en la Barceloneta, qué bueno"
    assert encoding not in (None, "utf-8")  # a one-line text cannot tell cp1250 from cp1252: both decode it so
    assert query(home, "SELECT status FROM media WHERE post_id = 'mvsa:1'") == [("corrupt",)]
    assert query(home, "SELECT scope FROM quarantine WHERE reason = 'corrupt_image'") == [("media",)]
    assert counts_add_up(home) == []


def test_fatal_errors_exit_non_zero_with_a_message(home: Path, tmp_path: Path, capsys) -> None:
    assert main(["ingest", "twitter-v2", str(tmp_path / "does-not-exist.jsonl")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["ingest", "table", str(tmp_path)]) == 2
    assert "--platform" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", "myspace", str(tmp_path)])
    assert exit_info.value.code == 2
    assert not (home / "warehouse.duckdb").exists()  # refused before any flow run: no runs row (issue 11)


def test_sql_formats_and_runs(home: Path, shared_data: Path, capsys) -> None:
    assert main(["ingest", "twitter-v2", str(shared_data / "api-payloads" / "twitter-v2" / "two_tweets.jsonl")]) == 0
    capsys.readouterr()
    assert main(["sql", "SELECT post_id, platform FROM posts ORDER BY 1", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    # one retweet in `data`; the original sits in includes.tweets and is context, not a post of this page
    assert lines == ['"post_id","platform"', '"twitter:1394735776701816833","twitter"']
    assert main(["sql", "SELECT count(*) AS n FROM posts", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 1}]
    assert main(["sql", "DELETE FROM posts"]) == 2
    assert "read-only" in capsys.readouterr().err.lower()
    assert main(["runs"]) == 0
    assert "ingest" in capsys.readouterr().out


def test_pretty_printed_documents_and_arrays_are_read_whole(home: Path, tmp_path: Path, shared_data: Path) -> None:
    page = json.loads((shared_data / "api-payloads" / "twitter-v2" / "geo_tweets.jsonl").read_text().splitlines()[0])
    (tmp_path / "page.json").write_text(json.dumps(page, indent=2))
    statuses = [{"id_str": "11", "id": 11, "full_text": "hola des de Barcelona amics", "created_at":
                 "Wed Oct 10 20:19:24 +0000 2018", "user": {"id_str": "5", "screen_name": "abc"}},
                {"id_str": "12", "id": 12, "text": "second status here", "user": {"id_str": "5", "screen_name": "abc"}}]
    (tmp_path / "statuses.json").write_text(json.dumps(statuses, indent=1))
    assert main(["ingest", "twitter-v2", str(tmp_path / "page.json")]) == 0
    assert main(["ingest", "twitter-v1", str(tmp_path / "statuses.json")]) == 0
    assert sorted(r[0] for r in query(home, "SELECT post_id FROM posts")) == [
        "twitter:11", "twitter:12", f"twitter:{page['data'][0]['id']}"]
    assert query(home, "SELECT count(*) FROM quarantine") == [(0,)]


def test_summary_counts_new_distinct_users_not_rows_per_batch(home: Path, tmp_path: Path, capsys) -> None:
    dump = tmp_path / "submissions.jsonl"
    # alice posts in every batch of two lines; bob and carol once each: 3 distinct users over 4 batches
    authors = ["alice", "bob", "alice", "alice", "alice", "carol", "alice", "alice"]
    dump.write_text("".join(json.dumps({"id": f"p{i}", "name": f"t3_p{i}", "author": author, "subreddit": "x",
                                        "title": f"post {i}", "selftext": f"by {author}",
                                        "created_utc": 1700000000 + i}) + "\n"
                            for i, author in enumerate(authors)))
    command = ["ingest", "reddit", str(dump), "--batch-records", "2"]
    assert main(command) == 0
    assert query(home, "SELECT count(*) FROM raw_batches") == [(4,)]
    assert query(home, "SELECT count(*) FROM users") == [(3,)]
    out = capsys.readouterr().out
    assert "read 8 = new 8 + duplicates 0 + quarantined 0; new users 3," in out
    assert query(home, "SELECT counts->>'new_users' FROM runs") == [("3",)]
    assert main(command) == 0  # everyone is known now
    assert "new users 0," in capsys.readouterr().out


def test_nan_infinite_and_non_numeric_coordinates_are_quarantined_with_the_value(home: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    numeric = tmp_path / "numeric.csv"  # a float column: Arrow reads nan / inf as floats
    numeric.write_text("id,text,lat,lon\n1,fine,41.39,2.17\n2,not a number,nan,2.17\n3,infinite,inf,2.17\n"
                       "4,minus infinite,41.39,-inf\n5,off the globe,999,2.17\n")
    text = tmp_path / "text.csv"  # a text column
    text.write_text("id,text,lat,lon\n6,words,abc,2.17\n7,empty,,\n8,as text,41.5,2.25\n")
    parquet = tmp_path / "floats.parquet"
    pq.write_table(pa.table({"id": ["9"], "text": ["parquet nan"], "lat": [float("nan")], "lon": [2.0]}), parquet)
    command = ["ingest", "table", str(numeric), str(text), str(parquet), "--platform", "geo", "--map", "id=id",
               "--map", "text=text", "--map", "lat=lat", "--map", "lon=lon"]
    assert main(command) == 0
    # every post is kept; only the bad coordinates are dropped, each with a quarantine row showing the value
    assert query(home, "SELECT native_id, lat, lon FROM posts ORDER BY native_id") == [
        ("1", 41.39, 2.17), ("2", None, None), ("3", None, None), ("4", None, None), ("5", None, None),
        ("6", None, None), ("7", None, None), ("8", 41.5, 2.25), ("9", None, None)]
    details = dict(query(home, "SELECT post_id, detail FROM quarantine WHERE reason = 'impossible_coordinates' "
                               "AND scope = 'field'"))
    assert details == {
        "geo:2": "lat='nan' lon=2.17; post kept without them",
        "geo:3": "lat='inf' lon=2.17; post kept without them",
        "geo:4": "lat=41.39 lon='-inf'; post kept without them",
        "geo:5": "lat=999.0 lon=2.17; post kept without them",
        "geo:6": "lat='abc' lon=2.17; post kept without them",
        "geo:9": "lat='nan' lon=2.0; post kept without them",
    }
    assert query(home, "SELECT read, written, quarantined FROM runs") == [(9, 9, 0)]
    assert counts_add_up(home) == []
