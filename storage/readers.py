"""File readers: turn the files users already have into a stream of untouched RawRecords.

Readers only read; normalizers (tasks/normalize) parse. One reader per on-disk layout:

- JSON lines (plain, .gz, .xz, .zst): one record per non-blank line (X API v2 pages, stream logs,
  twarc2 flat lines, compliance events, v1.1 statuses, Pushshift / Arctic Shift dumps);
- ``.json`` files holding one document (a saved API page or Reddit Listing, pretty-printed or not): one
  record, or one per element of a top-level array;
- instaloader folders: one record per ``*.json`` / ``*.json.xz`` structure, its images as attachments;
- MVSA-style folders: one record per ``<id>.txt`` (bytes untouched), ``<id>.jpg`` as attachment;
- tables: CSV or Parquet, one record per row (the row as JSON).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import zstandard

from storage.encoding import detect_encoding
from storage.records import RawRecord

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024  # a .json file up to this size may be one (pretty-printed) document
ROW_BATCH = 65_536


class ReaderError(Exception):
    """A source that cannot be read at all (the command fails with this message)."""


def open_maybe_compressed(path: Path) -> IO[bytes]:
    """Open ``path`` for binary reading, decompressing by suffix (.gz .bz2 .xz .zst)."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rb")
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    if suffix == ".xz":
        return lzma.open(path, "rb")
    if suffix in (".zst", ".zstd"):
        # Pushshift / Arctic Shift dumps use long windows.
        reader = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(path.open("rb"))
        return io.BufferedReader(reader, buffer_size=1 << 20)
    return path.open("rb")


def _require_readable(path: Path) -> None:
    if not path.exists():
        raise ReaderError(f"{path}: no such file or folder")
    if not os.access(path, os.R_OK):
        raise ReaderError(f"{path}: not readable (check its permissions)")


def iter_json_lines(path: Path, platform: str) -> Iterator[RawRecord]:
    """One record per non-blank line of a (possibly compressed) JSON-lines file."""
    source = str(path)
    with open_maybe_compressed(path) as handle:
        for number, line in enumerate(handle, start=1):
            stripped = line.strip()
            if stripped:
                yield RawRecord(source, f"line {number}", stripped, platform)


def iter_json(path: Path, platform: str) -> Iterator[RawRecord]:
    """A ``.json`` file holding one (maybe pretty-printed) document is one record, or one per element of a
    top-level array; anything else is read as JSON lines."""
    inner = path.name.lower().removesuffix(".gz").removesuffix(".xz").removesuffix(".bz2").removesuffix(".zst")
    if inner.endswith(".json") and path.stat().st_size <= MAX_DOCUMENT_BYTES:
        with open_maybe_compressed(path) as handle:
            data = handle.read()
        if data.lstrip()[:1] in (b"{", b"["):
            try:
                document = orjson.loads(data)
            except orjson.JSONDecodeError:
                document = None  # not one document: JSON lines (broken lines are quarantined one by one)
            if isinstance(document, list):
                for index, item in enumerate(document):
                    yield RawRecord(str(path), f"item {index}", orjson.dumps(item), platform)
                return
            if document is not None:
                yield RawRecord(str(path), "document", data.strip(), platform)
                return
    yield from iter_json_lines(path, platform)


def _expand(paths: Iterable[Path], patterns: tuple[str, ...]) -> list[Path]:
    """Files given directly, plus the files under given folders whose names match ``patterns``."""
    found: list[Path] = []
    for path in paths:
        _require_readable(path)
        if path.is_dir():
            matches = {p for pattern in patterns for p in path.rglob(pattern) if p.is_file()}
            found.extend(sorted(matches))
        else:
            found.append(path)
    return found


def _sibling_images(structure: Path) -> tuple[str, ...]:
    """Images instaloader wrote beside a structure: ``<stem>.jpg`` or ``<stem>_1.jpg``, ``<stem>_2.jpg``..."""
    stem = structure.name.removesuffix(".xz").removesuffix(".json")
    images = [
        p
        for p in structure.parent.glob(f"{stem}*")
        if p.suffix.lower() in IMAGE_SUFFIXES and (p.stem == stem or p.stem.removeprefix(stem + "_").isdigit())
    ]
    return tuple(str(p) for p in sorted(images, key=lambda p: (len(p.stem), p.stem)))


def iter_instaloader(paths: Iterable[Path]) -> Iterator[RawRecord]:
    """One record per instaloader structure file; comments and id files are skipped."""
    for structure in _expand(paths, ("*.json", "*.json.xz")):
        if structure.name.endswith(("_comments.json", "_comments.json.xz")):
            continue
        with open_maybe_compressed(structure) as handle:
            payload = handle.read()
        yield RawRecord(str(structure), structure.name, payload, "instagram", attachments=_sibling_images(structure))


def iter_mvsa(paths: Iterable[Path]) -> Iterator[RawRecord]:
    """One record per ``<id>.txt`` (raw bytes, any encoding) with ``<id>.jpg`` attached when present."""
    for text_file in _expand(paths, ("*.txt",)):
        image = text_file.with_suffix(".jpg")
        attachments = (str(image),) if image.exists() else ()
        yield RawRecord(str(text_file), text_file.stem, text_file.read_bytes(), "mvsa", attachments=attachments)


def _table_batches(path: Path, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith(".parquet") or suffix.endswith(".pq"):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=ROW_BATCH):
            yield batch.rename_columns(columns) if columns else batch
        return
    with path.open("rb") as handle:
        sample = handle.read(1 << 20)
    first_line = sample.split(b"\n", 1)[0]
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") or first_line.count(b"\t") > first_line.count(b",") else ","
    options = pacsv.ReadOptions(encoding=detect_encoding(sample), block_size=1 << 22, column_names=columns)
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                               quote_char=False if delimiter == "\t" else '"')
    convert = pacsv.ConvertOptions(strings_can_be_null=False)
    with pacsv.open_csv(path, read_options=options, parse_options=parse, convert_options=convert) as reader:
        yield from reader


def iter_table(paths: Iterable[Path], platform: str, columns: list[str] | None = None) -> Iterator[RawRecord]:
    """One record per row of CSV / TSV / Parquet files; the payload is the row as JSON.

    ``columns`` names the columns of headerless files (the first row is then data).
    """
    for path in _expand(paths, ("*.csv", "*.tsv", "*.parquet")):
        row_number = 0
        for batch in _table_batches(path, columns):
            for row in batch.to_pylist():
                row_number += 1
                yield RawRecord(str(path), f"row {row_number}", orjson.dumps(row, default=str), platform)


def read_id_labels(path: Path) -> dict[str, str]:
    """A two-column CSV of id and label (a header row is recognised and skipped)."""
    _require_readable(path)
    raw = path.read_bytes()
    text = raw.decode(detect_encoding(raw[: 1 << 20]), errors="replace")
    rows = [row for row in csv.reader(io.StringIO(text)) if len(row) >= 2]
    if rows and not any(ch.isdigit() for ch in rows[0][0]) and rows[0][0].lower() in {"id", "guid", "post_id", "native_id"}:
        rows = rows[1:]
    return {row[0].strip(): row[1].strip() for row in rows}


JSONL_PATTERNS = ("*.jsonl", "*.json", "*.ndjson", "*.jsonl.gz", "*.jsonl.zst", "*.ndjson.zst", "*.zst", "*.jsonl.xz")


def iter_records(
    fmt: str, paths: list[Path], platform: str | None = None, columns: list[str] | None = None
) -> Iterator[RawRecord]:
    """All raw records of ``paths`` read as format ``fmt``."""
    if fmt in ("twitter-v2", "twitter-v1", "reddit"):
        platform = "reddit" if fmt == "reddit" else "twitter"
        for path in _expand(paths, JSONL_PATTERNS):
            yield from iter_json(path, platform)
    elif fmt == "instaloader":
        yield from iter_instaloader(paths)
    elif fmt == "mvsa":
        yield from iter_mvsa(paths)
    elif fmt == "table":
        if not platform:
            raise ReaderError("the table format needs --platform NAME (the platform the rows come from)")
        yield from iter_table(paths, platform, columns)
    else:
        raise ReaderError(f"unknown format {fmt!r}")
