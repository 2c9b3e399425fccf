"""The post model: what every reader yields and every normalizer returns.

Normalizers are pure functions ``RawRecord -> Parsed``. Rows are plain dicts whose keys are the
warehouse columns (see storage/schema.py and docs/WAREHOUSE.md); the ingest pipeline validates them,
fills ``run_id`` and the raw-record pointer, and upserts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RawRecord:
    """One untouched payload as read from a file or an API page."""

    source: str  # file path or endpoint URL
    location: str  # where inside the source: "line 12", "row 7", "member 2019-01-01_UTC.json.xz"
    payload: bytes  # the bytes exactly as read (for folder formats: a small JSON document, see readers)
    platform: str  # twitter | reddit | instagram | mvsa | <table --platform>
    fetched_at: datetime | None = None
    attachments: tuple[str, ...] = ()  # absolute paths of files that belong to the record (images)


@dataclass
class Parsed:
    """What one raw record turned into.

    posts:      dicts with POST_KEYS (missing keys are NULL)
    users:      dicts with USER_KEYS
    media:      dicts with MEDIA_KEYS; ``local_path`` set when the image file is on disk (folder formats),
                ``url`` when it is only known remotely
    mentions:   dicts {post_id, src_user_id, dst_user_id, dst_username}
    labels:     dicts {post_id, task, label, source}
    user_labels: dicts {user_id, task, label, source} (an account's gold label: PAN's bot / human)
    deletions:  dicts {post_id, reason, deleted_at} (compliance events, Pushshift removals)
    quarantine: dicts {reason, detail} for parts of the record that could not be used; a record that yields
                no post and only quarantine rows counts as quarantined
    """

    posts: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    media: list[dict] = field(default_factory=list)
    mentions: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)
    user_labels: list[dict] = field(default_factory=list)
    deletions: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)


POST_KEYS = (
    "post_id",  # "<platform>:<native id>"
    "platform",
    "native_id",
    "author_id",  # "<platform>:<native user id>" or None
    "author_name",  # the handle / username, without "@"
    "created_at",  # timezone-aware datetime in UTC, or None
    "text",
    "platform_lang",  # the language the platform claims (tweet "lang"), or None
    "hashtags",  # list[str], lower-cased, without "#"
    "mentions",  # list[str], lower-cased usernames without "@"
    "place_name",
    "lat",
    "lon",
    "score",  # likes / upvotes
    "url",  # permalink
    "is_repost",  # retweet / crosspost
    "repost_of",  # post_id of the original, or None
    "reply_to",  # post_id replied to, or None
    "title",  # Reddit title; None elsewhere
    "community",  # subreddit / list / hashtag target, or None
    "edit_of",  # post_id of the first version of an edited post, or None
    "withheld",  # comma-joined country codes where the post is withheld, or None
)

USER_KEYS = (
    "user_id",  # "<platform>:<native user id>"
    "platform",
    "native_id",
    "username",
    "display_name",
    "description",
    "location",
    "followers",
    "following",
    "post_count",
    "verified",
    "created_at",
)

MEDIA_KEYS = (
    "post_id",
    "position",  # 0-based order within the post
    "media_key",  # platform media key or file name
    "kind",  # photo | video | animated_gif
    "url",
    "local_path",  # absolute path of an image file to import, or None
    "width",
    "height",
)


def make_post_id(platform: str, native_id: str | int) -> str:
    """The warehouse identity of a post: ``<platform>:<native id>``."""
    return f"{platform}:{native_id}"
