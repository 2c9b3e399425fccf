"""The readers on real files written here: what they yield and the problems they report (issue 11)."""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import orjson
import pytest
import zstandard

from storage.encoding import PLAUSIBLE, corpus_encoding, decode_text
from storage.readers import ReaderError, ReadProblem, iter_records

COMPRESS = {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress,
            "zstd": lambda data: zstandard.ZstdCompressor().compress(data)}


def lines(start: int, count: int) -> bytes:
    return b"".join(orjson.dumps({"id_str": str(i), "text": f"post {i}"}) + b"\n" for i in range(start, start + count))


def read(fmt: str, *paths: Path, **kwargs) -> tuple[list, list[ReadProblem]]:
    problems: list[ReadProblem] = []
    records = list(iter_records(fmt, list(paths), report=problems.append, **kwargs))
    return records, problems


def test_zstd_frames_read_whole_and_a_cut_frame_is_reported(tmp_path: Path) -> None:
    compressor = zstandard.ZstdCompressor()
    frames = [compressor.compress(lines(i * 100, 100)) for i in range(4)]
    whole = tmp_path / "whole.zst"
    whole.write_bytes(b"".join(frames))
    records, problems = read("reddit", whole)
    assert len(records) == 400 and problems == []
    cut = tmp_path / "cut.zst"
    cut.write_bytes(b"".join(frames[:2]) + frames[2][: len(frames[2]) // 2])
    records, problems = read("reddit", cut)
    assert 200 <= len(records) < 300
    assert [(p.reason, p.scope, p.source) for p in problems] == [("truncated_file", "file", str(cut))]
    assert "cut short" in problems[0].detail


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_every_compression_is_read_without_its_suffix_and_cut_ones_reported(tmp_path: Path, kind: str) -> None:
    data = COMPRESS[kind](lines(0, 50))
    plain = tmp_path / "export.jsonl"
    plain.write_bytes(data)
    records, problems = read("twitter-v1", plain)
    assert len(records) == 50 and problems == []
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[:-12])
    _, problems = read("twitter-v1", cut)
    assert [p.reason for p in problems] == ["truncated_file"]


def test_a_damaged_file_in_a_folder_is_reported_and_its_neighbours_read(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(lines(0, 10)))
    (tmp_path / "b.jsonl.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 50)
    (tmp_path / "c.jsonl").write_bytes(lines(10, 10))
    records, problems = read("twitter-v2", tmp_path)
    assert len(records) == 20
    assert [(Path(p.source).name, p.reason) for p in problems] == [("b.jsonl.gz", "corrupt_file")]


def test_folders_skip_nothing_readable_and_report_the_rest(tmp_path: Path) -> None:
    for name in ("A.JSONL", "b.Json.Gz", "c.ndjson.bz2", "d.jsonl.xz", "RC_2026-01.zst", "e.jsonl.zstd"):
        compress = {"gz": COMPRESS["gzip"], "bz2": COMPRESS["bz2"], "xz": COMPRESS["xz"], "zst": COMPRESS["zstd"],
                    "zstd": COMPRESS["zstd"]}.get(name.lower().rsplit(".", 1)[1], lambda data: data)
        (tmp_path / name).write_bytes(compress(lines(0, 3)))
    (tmp_path / "suffixless").write_bytes(COMPRESS["gzip"](lines(0, 3)))
    (tmp_path / "readme.txt").write_text("hello")
    records, problems = read("twitter-v2", tmp_path)
    assert len(records) == 21
    assert [(Path(p.source).name, p.reason, p.scope) for p in problems] == [("readme.txt", "skipped_file", "skipped")]


def test_instaloader_folder_companions_are_not_reported(tmp_path: Path) -> None:
    structure = orjson.dumps({"node": {"id": "1"}, "instaloader": {"node_type": "Post"}})
    (tmp_path / "2026-05-01_UTC.JSON.XZ").write_bytes(lzma.compress(structure))
    (tmp_path / "2026-05-01_UTC.jpg").write_bytes(b"jpeg")
    (tmp_path / "2026-05-01_UTC.txt").write_text("caption")
    (tmp_path / "2026-05-01_UTC_comments.json").write_text("[]")
    (tmp_path / "id").write_text("123")
    (tmp_path / "profile.csv").write_text("x")
    records, problems = read("instaloader", tmp_path)
    assert len(records) == 1 and records[0].attachments == (str(tmp_path / "2026-05-01_UTC.jpg"),)
    assert [Path(p.source).name for p in problems] == ["profile.csv"]


def test_csv_rows_that_cannot_be_parsed_are_reported_with_their_line(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_bytes(b'id,text\r\n1,ok\r\n2,"fine, quoted"\r\n3,too,many\r\n4,"x"y\r\n5,"two\r\nlines"\r\n6,"never closed\r\n')
    records, problems = read("table", table, platform="p")
    assert [orjson.loads(r.payload)["id"] for r in records] == ["1", "2", "5"]
    assert orjson.loads(records[2].payload)["text"] == "two\r\nlines"
    assert [(p.location, p.reason, p.scope) for p in problems] == [
        ("line 4", "malformed_row", "record"), ("line 5", "malformed_row", "record"),
        ("line 8", "malformed_row", "record")]


def test_stray_quote_does_not_swallow_the_rows_after_it(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text('id,text\n1,"oops\n' + "".join(f"{i},row {i}\n" for i in range(2, 50)))
    records, problems = read("table", table, platform="p")
    assert len(records) == 48 and [p.location for p in problems] == ["line 2"]


def test_compressed_and_legacy_encoded_tables(tmp_path: Path) -> None:
    (tmp_path / "a.CSV.GZ").write_bytes(gzip.compress("id,text\n1,caf\u00e9\n".encode("cp1252")))
    (tmp_path / "b.tsv").write_text('id\ttext\n2\tsays "hi\n')
    records, problems = read("table", tmp_path, platform="p")
    assert [orjson.loads(r.payload)["text"] for r in records] == ["caf\u00e9", 'says "hi']
    assert problems == []


def test_tables_that_are_not_tables_are_refused_when_named(tmp_path: Path) -> None:
    semicolons = tmp_path / "s.csv"
    semicolons.write_text("id;text\n1;a\n")
    with pytest.raises(ReaderError, match="wrong delimiter"):
        read("table", semicolons, platform="p")
    wide = tmp_path / "w.csv"
    wide.write_text(",".join(f"c{i}" for i in range(20_000)) + "\n1\n")
    with pytest.raises(ReaderError, match="20,000 columns"):
        read("table", wide, platform="p")
    archive = tmp_path / "z.csv"
    archive.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(ReaderError, match="zip archive"):
        read("table", archive, platform="p")
    # found in a folder, the same file is reported and its neighbours are read
    (tmp_path / "good.csv").write_text("id,text\n1,a\n")
    records, problems = read("table", tmp_path, platform="p")
    assert len(records) == 1
    assert sorted((Path(p.source).name, p.reason) for p in problems) == [
        ("s.csv", "unreadable_file"), ("w.csv", "unreadable_file"), ("z.csv", "unreadable_file")]


def test_bytes_valid_in_no_encoding_use_the_corpus_encoding_with_replacements() -> None:
    texts = [t.encode("gbk") for t in ("今天巴塞罗那的天气非常好", "这家餐厅的海鲜饭真好吃", "周末去圣家堂参观")]
    damaged = "巴塞罗那赢了".encode("gbk") + b"\xff\xff\x80"
    corpus = corpus_encoding([*texts, damaged])
    assert corpus == "gb18030"
    text, encoding = decode_text(damaged, corpus)
    assert encoding == "gb18030" and text.startswith("巴塞罗那赢了") and "\ufffd" in text
    # without a corpus, a guess is one of the plausible code pages, never an exotic one
    _, encoding = decode_text(b"hello \x81\x8d\x8f\x90\x9d world")
    assert encoding.replace("-", "_") in PLAUSIBLE + ("utf_8",)
    # UTF-8 with one bad byte stays UTF-8
    text, encoding = decode_text("Gràcia és molt bonica avui, però fa calor".encode() + b"\xff")
    assert encoding == "utf-8" and text.startswith("Gràcia és")


def test_json_lines_under_another_name_in_a_folder_are_read(tmp_path: Path) -> None:
    (tmp_path / "stream.log").write_bytes(lines(0, 4))
    (tmp_path / "tweets.txt").write_bytes(b"\xef\xbb\xbf" + lines(4, 4))
    (tmp_path / "notes.txt").write_text("not json")
    records, problems = read("twitter-v2", tmp_path)
    assert len(records) == 8 and [Path(p.source).name for p in problems] == ["notes.txt"]
    assert all(orjson.loads(record.payload) for record in records)  # the BOM is not part of the first line
