"""Instagram collector: hashtag and profile posts through instaloader 4.16, one post (and its images) per page.

Each page's payload is the post's instaloader structure JSON, exactly as ``save_structure_to_file`` writes a
``.json`` file (``{"node": {...}, "instaloader": {"node_type": "Post", "version": "4.16"}}``), for
``normalize_instaloader``; ``attachments`` are the images instaloader's ``download_pic`` wrote, named as
instaloader names them: ``<download_dir>/<target>/<shortcode>.jpg``, or ``<shortcode>_1.jpg``,
``<shortcode>_2.jpg``... for the images of a sidecar (``<target>`` is ``#tag`` or the username, as instaloader's
``{target}``; a video gives its thumbnail, never the video).

Cursor (the dict stored after each committed page)::

    {"target": "#cats", "frozen": {...}, "seen": 17, "done": ["@nasa"]}

- ``target``: the key (``#tag`` / ``@username``) of the target the page's post came from. A key rather than an
  index, so that adding or reordering targets in the spec keeps every stored position valid.
- ``frozen``: that target's ``NodeIterator.freeze()._asdict()`` taken right after the post was read.
  instaloader freezes *including* the item last returned (it is made to re-process an interrupted item), so
  a resumed run thaws it (``FrozenNodeIterator(**frozen)``) and skips items until the iterator's
  ``total_index`` reaches ``seen``: no post is read twice and none is lost.
- ``seen``: posts read from that target so far (counted against ``max_posts_per_target``).
- ``done``: keys of the targets finished (read to their end or to ``max_posts_per_target``); they are skipped.
  A target read to its end is known to be finished only when the next post is asked for, so it shows in
  ``done`` from the next page on; once every target is done the collection yields nothing more (give the
  spec a new ``name`` to read the targets again).
- A frozen state instaloader will not resume (older than its 29-day shelf life, another ``login_user``, or
  instaloader changed the query) is dropped with a warning and that target is read again from its newest post,
  as instaloader's own ``resumable_iteration`` does.
- Resuming a target costs the requests that build its iterator again (instaloader's ``NodeIterator`` asks
  for its first page when it is constructed).

Location targets are validated but not collected: instaloader 4.16's only location iterator,
``Instaloader.get_location_posts``, is a generator over a ``SectionIterator`` (``explore/locations/<id>/``) that
cannot be frozen, and 4.16 documents no GraphQL query for a location ``NodeIterator``; an interrupted run
could not continue without losing or doubling posts, so ``make_collector`` refuses them.

Requests: one ``Instaloader`` per collector (one account), quiet, one attempt per request (no retries of our
own either: a failed request stops the run, the cursor is kept), instaloader's default ``RateController`` and
its random pause before each request kept. ``iphone_support`` is off: with it, every hashtag image costs an
extra ``i.instagram.com`` request for a larger version. The session file's path is a secret and never
logged; it is read with ``Instaloader.load_session_from_file``.

Faults: checkpoint / challenge / feedback_required -> ``CollectionStopped("checkpoint")``; 401 "Please wait a
few minutes" and 429 -> ``"rate_limited"``; the session logged out (login redirect, other 401) ->
``"login_required"``; other connection faults (5xx, network) -> ``"unavailable"``. A missing or unreadable
session file, a target needing a login, a missing or private profile, an unknown hashtag and answers
instaloader cannot read -> ``CollectorError``. Images answered 403 / 404 (expired signature, deleted) are
skipped with a warning; the post is kept with its image URL.
"""

from __future__ import annotations

import glob
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Literal

import requests
from instaloader import FrozenNodeIterator, Hashtag, Instaloader, NodeIterator, Post, Profile, get_json_structure
from instaloader.exceptions import (
    AbortDownloadException,
    ConnectionException,
    InstaloaderException,
    InvalidArgumentException,
    LoginException,
    LoginRequiredException,
    PrivateProfileNotFollowedException,
    ProfileNotExistsException,
    QueryReturnedForbiddenException,
    QueryReturnedNotFoundException,
    TooManyRequestsException,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tasks.collect.base import CollectionStopped, CollectorError, Limits, Page
from tasks.collect.secrets import require_secret
from tasks.collect.spec import CollectSpec

log = logging.getLogger(__name__)

SESSION_SECRET = "instagram-session-file"
HASHTAG = re.compile(r"^\w+$")
USERNAME = re.compile(r"^[A-Za-z0-9._]{1,30}$")
URL = re.compile(r"https?://\S+")
CHECKPOINT_MARKS = ("checkpoint_required", "challenge_required", "feedback_required")
GONE = re.compile(r"\b40[34] (Forbidden|Not Found)\b")


# --------------------------------------------------------------------------- spec


class InstagramTarget(BaseModel):
    """One target: exactly one of a hashtag, a profile (username) or a location id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hashtag: str | None = Field(default=None, description="hashtag, with or without '#' (needs login_user)")
    profile: str | None = Field(default=None, description="username, with or without '@'")
    location: int | None = Field(default=None, gt=0, description="location id (needs login_user; not collected)")

    @field_validator("hashtag")
    @classmethod
    def _check_hashtag(cls, value: str | None) -> str | None:
        """A hashtag without its '#', lower-cased as Instagram keys it."""
        if value is None:
            return None
        name = value.strip().removeprefix("#").lower()
        if not HASHTAG.match(name):
            raise ValueError(f"not a hashtag: {value!r} (letters, digits and '_' only)")
        return name

    @field_validator("profile")
    @classmethod
    def _check_profile(cls, value: str | None) -> str | None:
        """A username without its '@', lower-cased."""
        if value is None:
            return None
        name = value.strip().removeprefix("@").lower()
        if not USERNAME.match(name):
            raise ValueError(f"not an Instagram username: {value!r} (1-30 letters, digits, '.' and '_')")
        return name

    @model_validator(mode="after")
    def _exactly_one(self) -> InstagramTarget:
        """A target names exactly one thing."""
        given = [name for name in ("hashtag", "profile", "location") if getattr(self, name) is not None]
        if len(given) != 1:
            got = ", ".join(given) or "none"
            raise ValueError(f"a target has exactly one of hashtag, profile, location; got {got}")
        return self

    @property
    def key(self) -> str:
        """'#tag', '@username' or '%location' (names the target in cursors, sources and messages)."""
        if self.hashtag is not None:
            return f"#{self.hashtag}"
        return f"@{self.profile}" if self.profile is not None else f"%{self.location}"

    @property
    def folder(self) -> str:
        """instaloader's ``{target}`` for the download folder: '#tag' or the username."""
        return self.key.removeprefix("@")

    @property
    def needs_login(self) -> bool:
        """Instagram serves hashtag and location feeds only to a logged-in session."""
        return self.profile is None


class InstagramSpec(CollectSpec):
    """What to collect from Instagram with instaloader: hashtag and profile targets, up to N posts each."""

    platform: Literal["instagram"]
    targets: list[InstagramTarget] = Field(
        min_length=1, description="each {hashtag: ...}, {profile: ...} or {location: ...}"
    )
    max_posts_per_target: int = Field(default=1000, gt=0, description="posts read per target, at most")
    login_user: str | None = Field(
        default=None, min_length=1, validate_default=True,
        description="account whose session file (secret 'instagram-session-file') is loaded",
    )
    download_dir: Path | None = Field(default=None, description="where images go; default: the run's work folder")
    request_timeout: float = Field(default=60.0, gt=0, description="seconds per request")

    @field_validator("login_user")
    @classmethod
    def _login_when_needed(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Hashtag and location targets need a login."""
        needing = [target.key for target in info.data.get("targets") or () if target.needs_login]
        if value is None and needing:
            raise ValueError(f"required for hashtag and location targets ({', '.join(needing)}): Instagram serves "
                             "them only to a logged-in session")
        return value

    @field_validator("endpoint", "media_endpoint")
    @classmethod
    def _no_endpoint(cls, value: str | None) -> str | None:
        """instaloader's hosts cannot be overridden."""
        if value is not None:
            raise ValueError("not supported for instagram: instaloader's hosts are hard-coded")
        return value


# --------------------------------------------------------------------------- collector


class InstagramCollector:
    """Posts of each target in turn, newest first, one post per page (see the module docstring)."""

    platform = "instagram"
    fmt = "instaloader"
    page_size = 1

    def __init__(self, spec: InstagramSpec, loader: Instaloader, download_dir: Path) -> None:
        self.spec = spec
        self.loader = loader
        self.download_dir = download_dir

    def pages(self, cursor: dict, limits: Limits) -> Iterator[Page]:
        """One page per post, from ``cursor`` on; the run loop checks ``limits`` between pages."""
        done = list(cursor.get("done", []))
        for target in self.spec.targets:
            if target.key in done:
                continue
            resume = cursor if cursor.get("target") == target.key else {}
            yield from self._target_pages(target, resume, done)
            done = [*done, target.key]

    def _target_pages(self, target: InstagramTarget, resume: dict, done: list[str]) -> Iterator[Page]:
        """The pages of one target, continuing from its frozen iterator when there is one."""
        with _faults(target, self.spec.login_user):
            posts = self._iterator(target)
            seen = _resume(posts, target, resume)
            while seen < self.spec.max_posts_per_target:
                post = next(posts, None)
                if post is None:
                    return
                seen += 1
                finished = seen >= self.spec.max_posts_per_target
                cursor = {"target": target.key, "frozen": posts.freeze()._asdict(), "seen": seen,
                          "done": [*done, target.key] if finished else list(done)}
                yield self._page(target, post, cursor)

    def _iterator(self, target: InstagramTarget) -> NodeIterator[Post]:
        """instaloader's resumable iterator over the target's posts."""
        context = self.loader.context
        if target.hashtag is None:
            return Profile.from_username(context, target.profile).get_posts()
        try:
            return Hashtag.from_name(context, target.hashtag).get_posts_resumable()
        except QueryReturnedNotFoundException as error:
            raise CollectorError(f"instagram {target.key}: Instagram knows no such hashtag ({_text(error)}); "
                                 "fix or remove the target") from error

    def _page(self, target: InstagramTarget, post: Post, cursor: dict) -> Page:
        """The post's structure JSON and images as a page."""
        attachments = self._download(target, post) if self.spec.download_images else ()
        payload = json.dumps(get_json_structure(post), indent=4, sort_keys=True).encode()
        return Page(payload=payload, source=f"instagram {target.key}", location=post.shortcode, cursor=cursor,
                    posts=1, attachments=attachments)

    def _download(self, target: InstagramTarget, post: Post) -> tuple[str, ...]:
        """The post's image(s) through ``download_pic``: ``<shortcode>.jpg`` or ``<shortcode>_<n>.jpg``."""
        folder = self.download_dir / target.folder
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / self.loader.format_filename(post, target=target.folder)
        if post.typename == "GraphSidecar":
            images = [(node.display_url, str(n)) for n, node in enumerate(post.get_sidecar_nodes(), start=1)]
        else:
            images = [(post.url, None)]
        files: list[str] = []
        for url, suffix in images:
            self._fetch(str(stem), url, post, suffix)
            files.extend(_written(stem, suffix))
        return tuple(files)

    def _fetch(self, stem: str, url: str, post: Post, suffix: str | None) -> None:
        """One image; an image Instagram no longer serves (403 / 404) is skipped with a warning."""
        try:
            self.loader.download_pic(stem, url, post.date_local, filename_suffix=suffix)
        except (QueryReturnedForbiddenException, ConnectionException) as error:
            if not isinstance(error, QueryReturnedForbiddenException) and not GONE.search(str(error)):
                raise
            log.warning("instagram %s: image %s not downloaded (%s); the post keeps its URL",
                        post.shortcode, suffix or 0, _text(error))


def make_collector(spec: InstagramSpec, work_dir: Path) -> InstagramCollector:
    """The collector for ``spec``; images go to ``spec.download_dir`` or else ``work_dir``."""
    locations = [target.key for target in spec.targets if target.location is not None]
    if locations:
        raise CollectorError(
            f"location targets are not supported ({', '.join(locations)}): instaloader 4.16 reads locations "
            "only through an iterator that cannot be frozen, so an interrupted run could not resume; remove them"
        )
    loader = Instaloader(
        quiet=True, download_videos=False, download_comments=False, save_metadata=False, compress_json=False,
        max_connection_attempts=1, request_timeout=spec.request_timeout, filename_pattern="{shortcode}",
        iphone_support=False,
    )
    if spec.login_user:
        _load_session(loader, spec.login_user)
    return InstagramCollector(spec, loader, (spec.download_dir or work_dir).resolve())


def _load_session(loader: Instaloader, user: str) -> None:
    """Load ``user``'s session from the file the secret names, without ever showing its path."""
    path = require_secret(SESSION_SECRET, "the path of the Instagram session file of login_user")
    how = f"create it with `instaloader --login {user}` and point the secret '{SESSION_SECRET}' at the file it saves"
    try:
        loader.load_session_from_file(user, path)
    except FileNotFoundError:
        raise CollectorError(f"the Instagram session file named by the secret '{SESSION_SECRET}' does not exist: "
                             f"{how}") from None
    except Exception as error:  # noqa: BLE001 - any failure to read it means it is no usable session file
        raise CollectorError(f"the file named by the secret '{SESSION_SECRET}' is not an instaloader session file "
                             f"({type(error).__name__}): {how}") from None


def _resume(posts: NodeIterator[Post], target: InstagramTarget, resume: dict) -> int:
    """Thaw ``posts`` from the stored frozen state and skip the post already read; the posts read so far."""
    frozen, seen = resume.get("frozen"), int(resume.get("seen", 0))
    if not frozen:
        return 0
    try:
        state = FrozenNodeIterator(**frozen)
        if state.best_before and datetime.fromtimestamp(state.best_before) < datetime.now():
            raise InvalidArgumentException('"best before" date exceeded')
        posts.thaw(state)
    except (InvalidArgumentException, TypeError) as error:
        log.warning("instagram %s: not resuming (%s); reading the target again from its newest post", target.key, error)
        return 0
    while posts.total_index < seen and next(posts, None) is not None:
        pass
    return seen


def _written(stem: Path, suffix: str | None) -> list[str]:
    """The file(s) ``download_pic`` wrote for ``stem`` (its extension comes from the answer's Content-Type)."""
    name = f"{stem.name}_{suffix}" if suffix else stem.name
    return sorted(str(path) for path in stem.parent.glob(glob.escape(name) + ".*") if path.suffix != ".temp")


# --------------------------------------------------------------------------- faults


@contextmanager
def _faults(target: InstagramTarget, account: str | None) -> Iterator[None]:
    """instaloader's exceptions as CollectorError / CollectionStopped saying what the operator should do."""
    try:
        yield
    except ProfileNotExistsException as error:
        raise CollectorError(f"instagram {target.key}: the profile does not exist ({_text(error)}); "
                             "fix or remove the target") from error
    except PrivateProfileNotFollowedException as error:
        raise CollectorError(f"instagram {target.key}: the profile is private and {account} does not follow it; "
                             "follow it with that account or remove the target") from error
    except LoginRequiredException as error:
        raise CollectorError(f"instagram {target.key}: Instagram serves this only to a logged-in session "
                             f"({_text(error)}); set login_user and the secret '{SESSION_SECRET}'") from error
    except LoginException as error:
        raise CollectorError(f"instagram: the login of {account} failed ({_text(error)}); recreate the session "
                             f"file with `instaloader --login {account}`") from error
    except (InstaloaderException, AbortDownloadException, requests.RequestException) as error:
        raise _classified(error, target, account) from error


def _classified(error: Exception, target: InstagramTarget, account: str | None) -> Exception:
    """The stop (or permanent error) an instaloader fault means."""
    text = _text(error)
    who = f"the account {account}" if account else "this machine's address (no login)"
    if any(mark in text for mark in CHECKPOINT_MARKS):
        return CollectionStopped("checkpoint", (
            f"Instagram wants {who} to pass a checkpoint / challenge before it answers again ({text}). Open "
            f"Instagram as {account or 'a browser from this machine'}, complete the check, recreate the session "
            f"file (`instaloader --login {account or 'USER'}`), then run again; the cursor is kept."
        ))
    if "please wait a few minutes" in text.lower() or _caused_by(error, TooManyRequestsException) \
            or "429 Too Many Requests" in text:
        return CollectionStopped("rate_limited", (
            f"Instagram throttles {who} ({text}). Wait an hour or more before the next run, run no other "
            "instaloader or Instagram app with it meanwhile, and lower limits.max_posts; the cursor is kept."
        ))
    if "Redirected to login page" in text or re.search(r"\b401 Unauthorized\b", text):
        return CollectionStopped("login_required", (
            f"Instagram no longer accepts the session of {account or 'this client'} ({text}). Recreate the "
            f"session file (`instaloader --login {account or 'USER'}`) and run again; the cursor is kept."
        ))
    if isinstance(error, (ConnectionException, requests.RequestException)):
        return CollectionStopped("unavailable", (
            f"a request for instagram {target.key} failed ({text}); the cursor is kept, run again later."
        ))
    return CollectorError(f"instagram {target.key}: instaloader could not use Instagram's answer "
                          f"({type(error).__name__}: {text}); Instagram may have changed its web API: try a newer "
                          "instaloader")


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``error`` or an exception it was raised from is a ``kind``."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, kind):
            return True
        current = current.__cause__ or current.__context__
    return False


def _text(error: BaseException) -> str:
    """The error's message without URLs (they carry query variables, and tokens in image URLs)."""
    return URL.sub("<url>", str(error)).strip()
