"""File readers: turn the files users already have into a stream of untouched RawRecords.

Readers only read; normalizers (tasks/normalize) parse. One reader per on-disk layout:

- JSON lines (plain or compressed: gzip, bz2, xz, zstd, recognised by suffix or by their magic bytes): one
  record per non-blank line (X API v2 pages, stream logs, twarc2 flat lines, compliance events, v1.1
  statuses, Pushshift / Arctic Shift dumps);
- ``.json`` files holding one document (a saved API page or Reddit Listing, pretty-printed or not): one
  record, or one per element of a top-level array;
- instaloader folders: one record per ``*.json`` / ``*.json.xz`` structure, its images as attachments;
- MVSA-style folders: one record per ``<id>.txt`` (bytes untouched), ``<id>.jpg`` as attachment;
- tables: CSV / TSV (maybe compressed) or Parquet, one record per row (the row as JSON).

Nothing is lost without a word. What a reader cannot turn into records it reports as a :class:`ReadProblem`
to the ``report`` callback (ingest turns them into quarantine rows and counts): a compressed file cut short
(``truncated_file``, the records before the cut are still yielded), a damaged or unreadable file
(``corrupt_file``, ``unreadable_file``: its neighbours are read on), a table row that cannot be parsed
(``malformed_row``, with its line number), and a file in a given folder that no reader of the format
accepts (``skipped_file``). A source that cannot be read at all, or a file named on the command line that
is not of the format (a CSV with one column, a header of a million columns), raises :class:`ReaderError`.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import math
import os
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import zstandard

from storage.encoding import detect_encoding
from storage.records import RawRecord

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm")
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024  # a .json file up to this size may be one (pretty-printed) document
ROW_BATCH = 65_536
MAX_COLUMNS = 10_000  # a table header with more columns is refused (not a table, or the wrong delimiter)
SAMPLE_BYTES = 1 << 20
COMPRESSION_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".xz": "xz", ".lzma": "xz",
                        ".zst": "zstd", ".zstd": "zstd"}
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonlines")
TABLE_SUFFIXES = (".csv", ".tsv", ".tab")
PARQUET_SUFFIXES = (".parquet", ".pq")
# Errors of damaged files (EOFError, a truncated compressed stream, is told apart).
DAMAGE_ERRORS = (OSError, lzma.LZMAError, zlib.error, zstandard.ZstdError, pa.ArrowException, csv.Error,
                 UnicodeDecodeError)


class ReaderError(Exception):
    """A source that cannot be read at all (the command fails with this message)."""


@dataclass(frozen=True)
class ReadProblem:
    """Input a reader could not turn into records: a file (or one of its rows) that ingest quarantines or
    a file it skipped.

    ``scope`` is ``file`` (the whole file or its end), ``record`` (one table row, ``location`` names its
    line) or ``skipped`` (a file in a folder that the format does not read; counted, not quarantined).
    """

    source: str
    reason: str  # truncated_file | corrupt_file | unreadable_file | malformed_row | skipped_file
    detail: str
    platform: str
    location: str = "file"
    scope: str = "file"
    excerpt: str = ""


Report = Callable[[ReadProblem], None]


def _ignore(problem: ReadProblem) -> None:
    """The default report: readers used without a ledger (encoding detection, tests) drop problems."""


# ---------------------------------------------------------------------------------------------- compression


def sniff_compression(path: Path) -> str | None:
    """The compression of ``path`` from its first bytes (gzip, bz2, xz, zstd), whatever its name says."""
    try:
        with path.open("rb") as handle:
            head = handle.read(6)
    except OSError:
        return None
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return None


def compression_of(path: Path) -> str | None:
    """The compression to read ``path`` with: its magic bytes first, its suffix second (a damaged file named
    ``.gz`` is then reported as damaged rather than read as text)."""
    return sniff_compression(path) or COMPRESSION_SUFFIXES.get(path.suffix.lower())


def inner_name(path: Path) -> str:
    """The lower-cased file name without its compression suffix (``a.JSONL.GZ`` -> ``a.jsonl``)."""
    name = path.name.lower()
    suffix = Path(name).suffix
    return name.removesuffix(suffix) if suffix in COMPRESSION_SUFFIXES else name


class _ZstdFrames(io.RawIOBase):
    """A zstd stream of one or more frames, decoded frame by frame; a file that ends inside a frame raises
    EOFError, as Python's gzip / bz2 / lzma do (zstandard's stream reader just stops there)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor(max_window_size=2**31)  # Pushshift / Arctic Shift: long windows
        self._frame: zstandard.ZstdDecompressionObj | None = None
        self._pending = b""
        self._out = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        """Always: a read-only stream."""
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        """Decode into ``buffer``; 0 at the end of the last complete frame."""
        while not len(self._out):
            if self._done:
                return 0
            chunk = self._pending or self._raw.read(SAMPLE_BYTES)
            self._pending = b""
            if not chunk:
                self._done = True
                if self._frame is not None and not self._frame.eof:
                    raise EOFError("the zstd data ends inside a frame")
                return 0
            if self._frame is None or self._frame.eof:
                self._frame = self._dctx.decompressobj()
            self._out = memoryview(self._frame.decompress(chunk))
            if self._frame.eof:
                self._pending = self._frame.unused_data  # the start of the next frame
        count = min(len(buffer), len(self._out))
        buffer[:count] = self._out[:count]
        self._out = self._out[count:]
        return count

    def close(self) -> None:
        """Close the file underneath too."""
        self._raw.close()
        super().close()


def open_maybe_compressed(path: Path) -> IO[bytes]:
    """Open ``path`` for binary reading, decompressing gzip, bz2, xz and zstd (by magic bytes or suffix)."""
    compression = compression_of(path)
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "bz2":
        return bz2.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    if compression == "zstd":
        return io.BufferedReader(_ZstdFrames(path.open("rb")), buffer_size=SAMPLE_BYTES)
    return path.open("rb")


def _require_readable(path: Path) -> None:
    if not path.exists():
        raise ReaderError(f"{path}: no such file or folder")
    if not os.access(path, os.R_OK):
        raise ReaderError(f"{path}: not readable (check its permissions)")


# ------------------------------------------------------------------------------------- files and their damage


@dataclass(frozen=True)
class _Layout:
    """Which files under a folder a format reads, and which it knows belong to them (images, captions)."""

    reads: Callable[[Path], bool]
    companion: Callable[[Path], bool]
    wanted: str  # for the skipped-file message: "a .jsonl / .json / .ndjson file"


def _files(paths: Iterable[Path], layout: _Layout, platform: str, report: Report) -> Iterator[tuple[Path, bool]]:
    """(file, named directly) for the files given and the files under given folders that ``layout`` reads;
    every other file under a folder (but companions) is reported as skipped."""
    for path in paths:
        _require_readable(path)
        if not path.is_dir():
            yield path, True
            continue
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            if layout.reads(file):
                yield file, False
            elif not layout.companion(file):
                report(ReadProblem(str(file), "skipped_file", f"not {layout.wanted}", platform, scope="skipped"))


def _guarded(path: Path, named: bool, platform: str, records: Iterator[RawRecord], report: Report
             ) -> Iterator[RawRecord]:
    """The records of one file; damage found while reading it is reported and its neighbours are read on.

    A file cut short keeps the records before the cut. A file named directly that is not of the format
    (ReaderError) fails the command; found in a folder, it is reported and skipped.
    """
    count = 0
    try:
        for record in records:
            count += 1
            yield record
    except EOFError as error:
        report(ReadProblem(str(path), "truncated_file",
                           f"the compressed data ends before its end marker ({error}): the file was cut short; "
                           f"the {count} records before the cut were read", platform))
    except ReaderError as error:
        if named:
            raise
        report(ReadProblem(str(path), "unreadable_file", str(error), platform))
    except PermissionError as error:
        report(ReadProblem(str(path), "unreadable_file", f"{error.strerror or error}", platform))
    except DAMAGE_ERRORS as error:
        what = compression_of(path)
        detail = f"{what} data " if what else ""
        report(ReadProblem(str(path), "corrupt_file",
                           f"damaged {detail}after {count} records: {type(error).__name__}: {error}", platform))


# ------------------------------------------------------------------------------------------------ JSON lines


def iter_json_lines(path: Path, platform: str) -> Iterator[RawRecord]:
    """One record per non-blank line of a (possibly compressed) JSON-lines file."""
    source = str(path)
    with open_maybe_compressed(path) as handle:
        for number, line in enumerate(handle, start=1):
            stripped = (line.removeprefix(b"\xef\xbb\xbf") if number == 1 else line).strip()  # a UTF-8 BOM
            if stripped:
                yield RawRecord(source, f"line {number}", stripped, platform)


def iter_json(path: Path, platform: str) -> Iterator[RawRecord]:
    """A ``.json`` file holding one (maybe pretty-printed) document is one record, or one per element of a
    top-level array; anything else is read as JSON lines."""
    if inner_name(path).endswith(".json") and path.stat().st_size <= MAX_DOCUMENT_BYTES:
        with open_maybe_compressed(path) as handle:
            data = handle.read().removeprefix(b"\xef\xbb\xbf")
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


def _starts_like_json(path: Path) -> bool:
    """Whether an uncompressed file begins (after a BOM and blanks) with ``{`` or ``[``."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] in (b"{", b"[")


def _reads_json(path: Path) -> bool:
    name = inner_name(path)
    if name.endswith(JSON_SUFFIXES):
        return True
    if name.endswith(TABLE_SUFFIXES + PARQUET_SUFFIXES + IMAGE_SUFFIXES + VIDEO_SUFFIXES):
        return False
    # A dump named by its compression only (RC_2019-01.zst), a compressed file without a suffix, or JSON lines
    # under another name (tweets.txt, stream.log): what the reader reads when the file is named directly.
    compressed = path.suffix.lower() in COMPRESSION_SUFFIXES or sniff_compression(path) is not None
    return compressed or _starts_like_json(path)


JSON_LAYOUT = _Layout(_reads_json, lambda path: False, "JSON (a .jsonl / .json / .ndjson file, maybe compressed)")


# ------------------------------------------------------------------------------------------- folder formats


def _sibling_images(structure: Path) -> tuple[str, ...]:
    """Images instaloader wrote beside a structure: ``<stem>.jpg`` or ``<stem>_1.jpg``, ``<stem>_2.jpg``..."""
    stem = inner_name(structure).removesuffix(".json")
    images = [
        p
        for p in structure.parent.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and p.name.lower().startswith(stem)
        and (p.stem.lower() == stem or p.stem.lower().removeprefix(stem + "_").isdigit())
    ]
    return tuple(str(p) for p in sorted(images, key=lambda p: (len(p.stem), p.stem)))


def _instaloader_comments(path: Path) -> bool:
    return inner_name(path).endswith("_comments.json")


INSTALOADER_LAYOUT = _Layout(
    lambda path: inner_name(path).endswith(".json") and not _instaloader_comments(path),
    # images, videos, captions, comments (not read) and instaloader's id / resume files
    lambda path: (path.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES + (".txt",) or _instaloader_comments(path)
                  or path.name == "id" or path.name.startswith(".")),
    "an instaloader structure (<name>.json or <name>.json.xz)",
)


def iter_instaloader(paths: Iterable[Path], report: Report = _ignore) -> Iterator[RawRecord]:
    """One record per instaloader structure file; comments and id files are skipped."""
    for structure, named in _files(paths, INSTALOADER_LAYOUT, "instagram", report):
        if _instaloader_comments(structure):
            continue
        yield from _guarded(structure, named, "instagram", _instaloader_record(structure), report)


def _instaloader_record(structure: Path) -> Iterator[RawRecord]:
    with open_maybe_compressed(structure) as handle:
        payload = handle.read()
    yield RawRecord(str(structure), structure.name, payload, "instagram", attachments=_sibling_images(structure))


MVSA_LAYOUT = _Layout(lambda path: path.suffix.lower() == ".txt",
                      lambda path: path.suffix.lower() in IMAGE_SUFFIXES, "a <id>.txt text")


def iter_mvsa(paths: Iterable[Path], report: Report = _ignore) -> Iterator[RawRecord]:
    """One record per ``<id>.txt`` (raw bytes, any encoding) with ``<id>.jpg`` attached when present."""
    for text_file, named in _files(paths, MVSA_LAYOUT, "mvsa", report):
        yield from _guarded(text_file, named, "mvsa", _mvsa_record(text_file), report)


def _mvsa_record(text_file: Path) -> Iterator[RawRecord]:
    images = (text_file.with_suffix(suffix) for suffix in (".jpg", ".JPG", ".jpeg", ".png"))
    attachments = next(((str(image),) for image in images if image.exists()), ())
    yield RawRecord(str(text_file), text_file.stem, text_file.read_bytes(), "mvsa", attachments=attachments)


PAN_LAYOUT = _Layout(lambda path: path.suffix.lower() == ".xml", lambda path: path.name == "truth.txt",
                     "a PAN author file <author>.xml")


def iter_pan_authors(paths: Iterable[Path], report: Report = _ignore) -> Iterator[RawRecord]:
    """One record per PAN author file: ``{"author", "xml", "truth"}`` as JSON, the truth read from the
    ``truth.txt`` beside it (``author:::bot|human:::gender``) when there is one."""
    truths: dict[Path, dict[str, str]] = {}
    for xml_file, named in _files(paths, PAN_LAYOUT, "pan", report):
        if xml_file.parent not in truths:
            truths[xml_file.parent] = _pan_truth(xml_file.parent / "truth.txt")
        yield from _guarded(xml_file, named, "pan", _pan_record(xml_file, truths[xml_file.parent]), report)


def _pan_truth(path: Path) -> dict[str, str]:
    """author -> "bot:::bot" / "human:::female" from a truth file; empty when there is none."""
    if not path.is_file():
        return {}
    truth = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        author, separator, rest = line.strip().partition(":::")
        if separator:
            truth[author] = rest
    return truth


def _pan_record(xml_file: Path, truth: dict[str, str]) -> Iterator[RawRecord]:
    raw = xml_file.read_bytes()
    document = {"author": xml_file.stem, "xml": raw.decode("utf-8", errors="replace"), "truth": truth.get(xml_file.stem)}
    yield RawRecord(str(xml_file), xml_file.name, orjson.dumps(document), "pan")


# ----------------------------------------------------------------------------------------------------- tables


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:
        return False


def _parquet_rows(path: Path, columns: list[str] | None, platform: str) -> Iterator[RawRecord]:
    row_number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=ROW_BATCH):
        batch = batch.rename_columns(columns) if columns else batch
        rows = batch.to_pylist()
        if _has_non_finite(batch):
            rows = [{key: _finite_or_text(value) for key, value in row.items()} for row in rows]
        for row in rows:
            row_number += 1
            yield RawRecord(str(path), f"row {row_number}", orjson.dumps(row, default=str), platform)


class _Lines:
    """The physical lines of a text stream for the csv module, remembering those of the row being parsed
    (for line numbers) and taking lines back (to re-read what follows a broken row)."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self._back: deque[str] = deque()
        self.taken: list[str] = []
        self.line = 0  # the number of the last line taken

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._back.popleft() if self._back else next(self._text)
        self.line += 1
        self.taken.append(line)
        return line

    def start(self) -> int:
        """The first line of the row being parsed."""
        return self.line - len(self.taken) + 1

    def give_back(self, lines: list[str]) -> None:
        """Read ``lines`` again next."""
        self._back.extendleft(reversed(lines))
        self.line -= len(lines)


def _not_a_table(path: Path, sample: bytes) -> str | None:
    """Why ``sample`` (the first bytes, decompressed) cannot be a CSV / TSV file, or None."""
    if sample.startswith(b"PK\x03\x04"):
        return "a zip archive, not a table: unpack it first"
    if b"\x00" in sample[:4096] and not sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return f"binary data, not a CSV / TSV table (it starts with {sample[:8]!r})"
    if len(sample) >= SAMPLE_BYTES and b"\n" not in sample and b"\r" not in sample:
        return f"the first line is longer than {SAMPLE_BYTES // (1 << 20)} MB: not a CSV / TSV table?"
    return None


def _header_problem(header: list[str]) -> str | None:
    if len(header) > MAX_COLUMNS:
        return (f"the header has {len(header):,} columns (at most {MAX_COLUMNS:,} are read): not a table, or the "
                "wrong delimiter?")
    if len(header) == 1 and any(mark in header[0] for mark in ";|"):
        return f'wrong delimiter? the header has one column: "{header[0][:200]}"'
    return None


def _csv_rows(path: Path, columns: list[str] | None, platform: str, report: Report) -> Iterator[RawRecord]:
    """One record per row; rows that cannot be parsed (an unterminated quote, too few or too many fields)
    are reported with their line and the lines after them read on. Streams line by line."""
    with open_maybe_compressed(path) as handle:
        sample = handle.read(SAMPLE_BYTES)
    why = _not_a_table(path, sample)
    if why:
        raise ReaderError(f"{path}: {why}")
    first_line = sample.split(b"\n", 1)[0]
    tab = inner_name(path).endswith((".tsv", ".tab")) or first_line.count(b"\t") > first_line.count(b",")
    dialect = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if tab else {"delimiter": ",", "strict": True}
    source = str(path)
    with open_maybe_compressed(path) as handle:
        text = io.TextIOWrapper(handle, encoding=detect_encoding(sample), errors="replace", newline="")
        lines = _Lines(text)
        reader = csv.reader(lines, **dialect)
        header = list(columns) if columns else None
        row_number = 0
        while True:
            lines.taken = []
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                bad = lines.taken or [""]
                report(ReadProblem(source, "malformed_row", f"{error}; the lines after it are read on", platform,
                                   location=f"line {lines.start()}", scope="record", excerpt=bad[0][:2000]))
                lines.give_back(bad[1:])
                reader = csv.reader(lines, **dialect)
                continue
            if not row or row == [""]:
                continue
            if header is None:
                header = row
                problem = _header_problem(header)
                if problem:
                    raise ReaderError(f"{path}: {problem}")
                continue
            if len(row) != len(header):
                report(ReadProblem(source, "malformed_row",
                                   f"{len(row)} fields where the header has {len(header)}", platform,
                                   location=f"line {lines.start()}", scope="record",
                                   excerpt="".join(lines.taken)[:2000]))
                if len(lines.taken) > 1:  # a quote that ran on over the next lines: read them again
                    lines.give_back(lines.taken[1:])
                    reader = csv.reader(lines, **dialect)
                continue
            row_number += 1
            yield RawRecord(source, f"row {row_number}", orjson.dumps(dict(zip(header, row, strict=True))),
                            platform)
    if header is None and not columns:
        raise ReaderError(f"{path}: empty table (no header row)")


def _reads_table(path: Path) -> bool:
    name = inner_name(path)
    return name.endswith(TABLE_SUFFIXES) or path.name.lower().endswith(PARQUET_SUFFIXES)


TABLE_LAYOUT = _Layout(_reads_table, lambda path: path.suffix.lower() in IMAGE_SUFFIXES,
                       "a .csv / .tsv / .tab (maybe compressed) or .parquet table")


def iter_table(paths: Iterable[Path], platform: str, columns: list[str] | None = None,
               report: Report = _ignore) -> Iterator[RawRecord]:
    """One record per row of CSV / TSV / Parquet files; the payload is the row as JSON (CSV values as text).

    ``columns`` names the columns of headerless files (the first row is then data).
    """
    for path, named in _files(paths, TABLE_LAYOUT, platform, report):
        rows = _parquet_rows(path, columns, platform) if _is_parquet(path) else _csv_rows(path, columns, platform,
                                                                                          report)
        yield from _guarded(path, named, platform, rows, report)


def _has_non_finite(batch: pa.RecordBatch) -> bool:
    """True when a float column holds NaN or an infinity (JSON has neither: orjson would write null)."""
    return any(pa.types.is_floating(column.type) and pc.any(pc.invert(pc.is_finite(column))).as_py()
               for column in batch.columns)


def _finite_or_text(value: object) -> object:
    """NaN / inf as the text 'nan' / 'inf' / '-inf', so the normalizer can quarantine the value it saw."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def read_id_labels(path: Path) -> dict[str, str]:
    """A two-column CSV of id and label (a header row is recognised and skipped)."""
    _require_readable(path)
    raw = path.read_bytes()
    text = raw.decode(detect_encoding(raw[: 1 << 20]), errors="replace")
    rows = [row for row in csv.reader(io.StringIO(text)) if len(row) >= 2]
    if rows and not any(ch.isdigit() for ch in rows[0][0]) and rows[0][0].lower() in {"id", "guid", "post_id", "native_id"}:
        rows = rows[1:]
    return {row[0].strip(): row[1].strip() for row in rows}


def iter_records(
    fmt: str, paths: list[Path], platform: str | None = None, columns: list[str] | None = None,
    report: Report = _ignore,
) -> Iterator[RawRecord]:
    """All raw records of ``paths`` read as format ``fmt``; problems go to ``report`` (see ReadProblem)."""
    if fmt in ("twitter-v2", "twitter-v1", "reddit"):
        platform = "reddit" if fmt == "reddit" else "twitter"
        for path, named in _files(paths, JSON_LAYOUT, platform, report):
            yield from _guarded(path, named, platform, iter_json(path, platform), report)
    elif fmt == "instaloader":
        yield from iter_instaloader(paths, report)
    elif fmt == "mvsa":
        yield from iter_mvsa(paths, report)
    elif fmt == "pan-authors":
        yield from iter_pan_authors(paths, report)
    elif fmt == "table":
        if not platform:
            raise ReaderError("the table format needs --platform NAME (the platform the rows come from)")
        yield from iter_table(paths, platform, columns, report)
    else:
        raise ReaderError(f"unknown format {fmt!r}")
