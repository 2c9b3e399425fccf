"""Text decoding for files of unknown encoding (a quarter of MVSA's texts are not UTF-8)."""

from __future__ import annotations

from collections.abc import Iterable

from charset_normalizer import from_bytes


def detect_encoding(sample: bytes) -> str:
    """The encoding of ``sample``: UTF-8 when it decodes, else charset-normalizer's best guess."""
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as error:
        if error.reason == "unexpected end of data" and error.start > len(sample) - 4:
            return "utf-8"  # a multi-byte character cut by the end of the sample
    best = from_bytes(sample).best()
    return best.encoding if best is not None else "cp1252"


def decode_text(data: bytes, corpus_encoding: str | None = None) -> tuple[str, str]:
    """``data`` decoded, with the encoding used; a UTF-8 BOM is dropped.

    ``corpus_encoding`` (see :func:`corpus_encoding`) is tried before a per-file guess: one short text
    says too little about its code page, a whole corpus says a lot.
    """
    encoding = detect_encoding(data)
    if encoding != "utf-8" and corpus_encoding:
        try:
            return data.decode(corpus_encoding).removeprefix("\ufeff"), corpus_encoding
        except (UnicodeDecodeError, LookupError):
            pass
    text = data.decode(encoding, errors="replace")
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
    best = from_bytes(b"\n".join(legacy)[:budget]).best()
    return best.encoding if best is not None else None
