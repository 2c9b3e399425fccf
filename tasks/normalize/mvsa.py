"""MVSA-style folders: ``<id>.txt`` (any encoding) with ``<id>.jpg`` beside it; native_id is the file's id."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from storage.encoding import decode_text
from storage.records import Parsed, RawRecord, make_post_id
from tasks.normalize.common import hashtags_of, mentions_of


def make_mvsa_normalizer(corpus_encoding: str | None = None) -> Callable[[RawRecord], Parsed]:
    """A normalizer that decodes legacy texts with the corpus's code page first."""

    def normalize(record: RawRecord) -> Parsed:
        text, encoding = decode_text(record.payload, corpus_encoding)
        text = text.strip()
        post_id = make_post_id(record.platform, record.location)
        post = {
            "post_id": post_id,
            "platform": record.platform,
            "native_id": record.location,
            "text": text,
            "hashtags": hashtags_of(text),
            "mentions": mentions_of(text),
            "is_repost": text.startswith("RT @"),
        }
        media = [
            {"post_id": post_id, "position": i, "media_key": Path(path).name, "kind": "photo", "local_path": path}
            for i, path in enumerate(record.attachments)
        ]
        parsed = Parsed(posts=[post], media=media)
        if encoding != "utf-8":
            parsed.posts[0]["source_encoding"] = encoding
        return parsed

    return normalize
