"""Text decoding for files of unknown encoding (a quarter of MVSA's texts are not UTF-8).

Guesses are restricted to the code pages social-media text plausibly comes in (PLAUSIBLE): bytes that are
valid in no encoding of their file are decoded with that file's (or corpus's) encoding and replacement
characters, never read through an exotic code page that happens to accept any byte (cp1125, mac_greek...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from charset_normalizer import from_bytes

# UTF-8 and the legacy code pages of the languages the platforms serve most (Western and Central European,
# Cyrillic, Greek, Turkish, Hebrew, Arabic, Baltic, Vietnamese, Thai, Chinese, Japanese, Korean).
PLAUSIBLE = ("utf_8", "utf_16", "cp1252", "latin_1", "iso8859_15", "cp1250", "iso8859_2", "cp1251", "koi8_r",
             "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "cp874", "gb18030", "big5", "shift_jis",
             "cp932", "euc_jp", "euc_kr", "cp949")
VOTERS = 200  # texts checked one by one when the corpus as a whole matches no code page
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def _guess(sample: bytes) -> str | None:
    best = from_bytes(sample, cp_isolation=list(PLAUSIBLE)).best()
    return best.encoding if best is not None else None


def damaged_utf8(data: bytes) -> bool:
    """Whether ``data`` is UTF-8 with a few invalid bytes: 90 % of its non-ASCII bytes form UTF-8 sequences, or
    one or two bytes do not among many that do (legacy double-byte text such as GBK forms some by chance)."""
    non_ascii = len(_NON_ASCII.findall(data))
    in_sequences = sum(len(match) for match in _UTF8_SEQUENCE.findall(data))
    invalid = non_ascii - in_sequences
    return in_sequences > 0 and (invalid * 10 <= non_ascii or (invalid <= 2 and in_sequences >= 4 * invalid))


def detect_encoding(sample: bytes) -> str:
    """The encoding of ``sample``: UTF-8 when it decodes (or mostly does), else the best plausible guess."""
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as error:
        if error.reason == "unexpected end of data" and error.start > len(sample) - 4:
            return "utf-8"  # a multi-byte character cut by the end of the sample
    if damaged_utf8(sample):
        return "utf-8"
    return _guess(sample) or "utf-8"


def decode_text(data: bytes, corpus_encoding: str | None = None) -> tuple[str, str]:
    """``data`` decoded, with the encoding used; a UTF-8 BOM is dropped.

    ``corpus_encoding`` (see :func:`corpus_encoding`) is tried before a per-file guess: one short text
    says too little about its code page, a whole corpus says a lot. Bytes valid in no plausible encoding
    become replacement characters (U+FFFD) of the corpus's encoding, or of UTF-8.
    """
    try:
        return data.decode("utf-8").removeprefix("\ufeff"), "utf-8"
    except UnicodeDecodeError:
        pass
    if corpus_encoding:
        try:
            return data.decode(corpus_encoding).removeprefix("\ufeff"), corpus_encoding
        except (UnicodeDecodeError, LookupError):
            pass
    if damaged_utf8(data):
        return data.decode("utf-8", errors="replace").removeprefix("\ufeff"), "utf-8"
    if corpus_encoding:  # bytes valid in no encoding of the corpus: its encoding, with replacement characters
        try:
            return data.decode(corpus_encoding, errors="replace").removeprefix("\ufeff"), corpus_encoding
        except LookupError:
            pass
    encoding = _guess(data) or corpus_encoding or "utf-8"
    try:
        text = data.decode(encoding, errors="replace")
    except LookupError:
        encoding, text = "utf-8", data.decode("utf-8", errors="replace")
    return text.removeprefix("\ufeff"), encoding


def corpus_encoding(samples: Iterable[bytes], budget: int = 1 << 22) -> str | None:
    """The legacy code page shared by the non-UTF-8 texts among ``samples`` (read until ``budget`` bytes of
    them are seen), or None if they are all UTF-8."""
    legacy: list[bytes] = []
    seen = 0
    for sample in samples:
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError:
            legacy.append(sample)
            seen += len(sample)
            if seen >= budget:
                break
    if not legacy:
        return None
    joined = _guess(b"\n".join(legacy)[:budget])
    if joined is not None:
        return joined
    # Some texts hold bytes valid in no plausible code page (damaged files): the code page of the others.
    decodable = [sample for sample in legacy[:VOTERS] if _guess(sample) is not None]
    return _guess(b"\n".join(decodable)[:budget]) if decodable else None
