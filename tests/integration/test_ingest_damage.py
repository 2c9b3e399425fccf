"""No input is lost without a word (issue 11): damaged, oddly named and unparseable files through the CLI,
real compressed files on disk, real DuckDB files."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import pytest
import zstandard

from flows.cli import main
from tests.helpers import counts_add_up, query

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _server(prefect_server):
    yield


def statuses(start: int, count: int) -> bytes:
    """``count`` v1.1 statuses as JSON lines, ids from ``start``."""
    lines = [json.dumps({"id_str": str(i), "id": i, "full_text": f"status number {i} from Barcelona {i * 7919}",
                         "user": {"id_str": "5", "screen_name": "abc"}}) for i in range(start, start + count)]
    return ("\n".join(lines) + "\n").encode()


def zstd_frames(data: bytes, frames: int) -> bytes:
    """``data`` as several zstd frames, cut at line ends (as Pushshift-style writers do)."""
    lines = data.splitlines(keepends=True)
    step = -(-len(lines) // frames)
    compressor = zstandard.ZstdCompressor()
    return b"".join(compressor.compress(b"".join(lines[i:i + step])) for i in range(0, len(lines), step))


COMPRESSORS = {"gz": gzip.compress, "bz2": lambda d: bz2.compress(d, compresslevel=1),  # 100 kB blocks
                "xz": lzma.compress, "zst": lambda d: zstd_frames(d, 3)}


def posts(home: Path) -> int:
    return query(home, "SELECT count(*) FROM posts")[0][0]


def test_truncated_compressed_files_keep_what_was_decoded_and_say_so(home: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    for index, (suffix, compress) in enumerate(COMPRESSORS.items()):
        data = compress(statuses(index * 10_000, 3_000))
        (folder / f"part{index}.jsonl.{suffix}").write_bytes(data[: int(len(data) * 0.7)])  # cut mid-stream
    assert main(["ingest", "twitter-v1", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "truncated_file" in out and "warning" in out
    rows = query(home, "SELECT source, scope, location FROM quarantine WHERE reason = 'truncated_file' ORDER BY 1")
    assert [(Path(s).name, scope, where) for s, scope, where in rows] == [
        (f"part{i}.jsonl.{suffix}", "file", "file") for i, suffix in enumerate(COMPRESSORS)]
    per_file = query(home, "SELECT CAST(native_id AS BIGINT) // 10000, count(*) FROM posts GROUP BY 1 ORDER BY 1")
    assert [part for part, _ in per_file] == [0, 1, 2, 3]  # every file's decoded records were ingested
    assert all(0 < count < 3_000 for _, count in per_file)
    read, quarantined = query(home, "SELECT read, quarantined FROM runs")[0]
    assert quarantined == 4 and read == posts(home) + 4
    assert main(["runs"]) == 0
    assert " 4 " in capsys.readouterr().out  # the quarantined count is in the ledger listing
    assert counts_add_up(home) == []


def test_complete_multi_frame_zstd_is_read_whole(home: Path, tmp_path: Path) -> None:
    dump = tmp_path / "RC_2026-05.zst"
    dump.write_bytes(zstd_frames(statuses(1, 2_000), 5))
    assert main(["ingest", "twitter-v1", str(dump)]) == 0
    assert posts(home) == 2_000
    assert query(home, "SELECT count(*) FROM quarantine") == [(0,)]


def test_folders_read_every_readable_file_and_list_the_rest(home: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "mixed"
    (folder / "deeper").mkdir(parents=True)
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(statuses(100, 5)))
    (folder / "B.JSONL").write_bytes(statuses(200, 5))
    (folder / "c.json.bz2").write_bytes(bz2.compress(statuses(300, 5)))
    (folder / "deeper" / "d.NDJSON.XZ").write_bytes(lzma.compress(statuses(400, 5)))
    (folder / "RS_2026-05.zst").write_bytes(zstd_frames(statuses(500, 5), 2))
    (folder / "e.jsonl.ZSTD").write_bytes(zstd_frames(statuses(600, 5), 1))
    (folder / "notes.md").write_text("what these files are")
    (folder / "table.csv").write_text("id,text\n1,hello\n")
    assert main(["ingest", "twitter-v1", str(folder)]) == 0
    out = capsys.readouterr().out
    assert posts(home) == 30
    assert "skipped 2 files" in out and "notes.md" in out and "table.csv" in out
    counts = json.loads(query(home, "SELECT counts FROM runs")[0][0])
    assert counts["skipped_files"] == 2 and len(counts["skipped"]) == 2
    assert counts_add_up(home) == []


def test_compressed_file_without_its_suffix_is_read(home: Path, tmp_path: Path) -> None:
    for index, (name, compress) in enumerate(COMPRESSORS.items()):
        (tmp_path / f"export-{name}.jsonl").write_bytes(compress(statuses(1_000 * (index + 1), 10)))
    (tmp_path / "no-suffix-at-all").write_bytes(gzip.compress(statuses(9_000, 10)))
    assert main(["ingest", "twitter-v1", *sorted(str(p) for p in tmp_path.iterdir())]) == 0
    assert posts(home) == 50
    assert query(home, "SELECT count(*) FROM quarantine") == [(0,)]


def test_bytes_valid_in_no_encoding_keep_the_corpus_encoding(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mvsa"
    folder.mkdir()
    texts = ["今天巴塞罗那的天气非常好，我们去海边散步吧", "这家餐厅的海鲜饭真好吃，推荐给大家", "周末去圣家堂参观，人很多但值得"]
    for index, text in enumerate(texts, start=1):
        (folder / f"{index}.txt").write_bytes(text.encode("gbk"))
    (folder / "4.txt").write_bytes("巴塞罗那足球俱乐部赢了".encode("gbk") + b"\xff\xff\x80")  # no code page has these
    assert main(["ingest", "mvsa", str(folder)]) == 0
    rows = dict(query(home, "SELECT native_id, source_encoding FROM posts"))
    assert set(rows.values()) == {"gb18030"}, rows  # never an exotic code page for the damaged text
    text = query(home, "SELECT text FROM posts WHERE native_id = '4'")[0][0]
    assert text.startswith("巴塞罗那足球俱乐部赢了") and "\ufffd" in text


def test_one_corrupt_instaloader_file_does_not_sink_its_neighbours(home: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "barcelona_eats"
    folder.mkdir()
    for index in range(3):
        node = {"__typename": "GraphImage", "id": f"33500000000000000{index}", "shortcode": f"C9abcDEF12{index}",
                "owner": {"id": "123456", "username": "laia.puig"}, "taken_at_timestamp": 1777630000 + index,
                "edge_media_to_caption": {"edges": [{"node": {"text": f"Vermut {index} a Gràcia"}}]},
                "display_url": "https://scontent.cdninstagram.com/x.jpg", "is_video": False}
        payload = json.dumps({"node": node, "instaloader": {"node_type": "Post", "version": "4.16"}}).encode()
        (folder / f"2026-05-0{index + 1}_10-00-00_UTC.json.xz").write_bytes(lzma.compress(payload))
    broken = folder / "2026-05-02_10-00-00_UTC.json.xz"
    broken.write_bytes(broken.read_bytes()[:40] + b"\x00" * 40)
    (folder / "2026-05-02_10-00-00_UTC.txt").write_text("Vermut 1 a Gràcia")  # the caption: a known companion
    assert main(["ingest", "instaloader", str(folder)]) == 0
    assert posts(home) == 2
    assert query(home, "SELECT source, reason, scope FROM quarantine") == [(str(broken), "corrupt_file", "file")]
    assert "skipped" not in capsys.readouterr().out
    assert counts_add_up(home) == []


def test_csv_parse_errors_keep_the_good_rows(home: Path, tmp_path: Path) -> None:
    table = tmp_path / "posts.csv"
    table.write_text(
        'id,text,lat,lon\n'
        '1,first good row,41.38,2.17\n'
        '2,"a quoted, fine text",41.39,2.16\n'
        '3,a ragged row,41.40\n'
        '4,"an unterminated quote,41.41,2.15\n'
        '5,"a text over\ntwo lines",41.42,2.14\n'
        '6,last good row,41.43,2.13\n'
    )
    code = main(["ingest", "table", str(table), "--platform", "geo", "--map", "id=id", "--map", "text=text",
                 "--map", "lat=lat", "--map", "lon=lon"])
    assert code == 0
    assert sorted(r[0] for r in query(home, "SELECT native_id FROM posts")) == ["1", "2", "5", "6"]
    assert query(home, "SELECT text FROM posts WHERE native_id = '5'") == [("a text over\ntwo lines",)]
    assert query(home, "SELECT location, reason, scope FROM quarantine ORDER BY location") == [
        ("line 4", "malformed_row", "record"), ("line 5", "malformed_row", "record")]
    assert query(home, "SELECT read, written, quarantined FROM runs") == [(6, 4, 2)]
    assert counts_add_up(home) == []


def test_files_that_are_not_tables_exit_2_naming_the_problem(home: Path, tmp_path: Path, capsys) -> None:
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_text("id;text;lat;lon\n1;hola;41.3;2.1\n")
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n")
    args = ["--platform", "geo", "--map", "id=id"]
    assert main(["ingest", "table", str(semicolons), *args]) == 2
    assert 'wrong delimiter? the header has one column: "id;text;lat;lon"' in capsys.readouterr().err
    assert main(["ingest", "table", str(wide), *args]) == 2
    err = capsys.readouterr().err
    assert "wide.csv" in err and "Empty CSV" not in err and ("columns" in err or "longer than" in err)
