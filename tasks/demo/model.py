"""The planned world: users, posts and their images, per platform (what the writers serialise)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.demo.places import City


@dataclass
class User:
    """An account on one platform."""

    platform: str
    native_id: str
    username: str
    name: str
    city: City
    lang: str
    topic: str
    kind: str  # heavy | medium | normal | spam
    created_ts: int
    followers: int
    following: int
    fullname: str = ""  # reddit t2_ id

    @property
    def author_id(self) -> str:
        """The warehouse author id the platform's normalizer gives this user."""
        return f"{self.platform}:{self.username if self.platform == 'reddit' else self.native_id}"

    @property
    def frequent(self) -> bool:
        """A heavy or medium poster (on Instagram: a profile target with a saved Profile structure)."""
        return self.kind in ("heavy", "medium")


@dataclass
class PlannedImage:
    """A picture to render: topic, seed and size; optionally a near-duplicate of another one, or broken."""

    topic: str
    seed: int
    width: int
    height: int
    quality: int
    source: PlannedImage | None = None
    change: str | None = None  # reencode | brighten | resize
    corrupt: bool = False


@dataclass
class Post:
    """One planned post (``text`` is the tweet, caption or Reddit title)."""

    platform: str
    user: User
    ts: int
    topic: str
    lang: str
    city: City
    kind: str = "normal"  # normal | short | empty | spam | duplicate_text | retweet
    text: str | None = None
    body: str = ""  # reddit selftext
    native_id: str = ""
    point: tuple[float, float] | None = None  # (lat, lon)
    place: bool = False
    images: list[PlannedImage] = field(default_factory=list)
    repost_of: Post | None = None
    copy_of: Post | None = None
    defect: str | None = None
    community: str | None = None  # subreddit, or instaloader target folder
    in_dump: bool = False
    score: int = 0
    video: bool = False
    location: dict | None = None  # instagram location
    spam_city: str | None = None

    @property
    def post_id(self) -> str:
        """The warehouse id the platform's normalizer gives this post."""
        return f"{self.platform}:{'t3_' if self.platform == 'reddit' else ''}{self.native_id}"


@dataclass
class Plan:
    """The users and posts (in time order) of one platform."""

    platform: str
    users: list[User]
    posts: list[Post]
