"""What the generator produces: the dataset's files and facts, and the collector the writers fill."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tasks.demo.images import image_bytes
from tasks.demo.model import PlannedImage, Post


@dataclass(frozen=True)
class DemoFile:
    """One file of the dataset: the reader format it belongs to, its path relative to the root, its bytes."""

    format: str  # twitter-v2 | reddit | instaloader | media | labels
    relpath: str
    data: bytes


@dataclass
class DemoDataset:
    """All files of the demo dataset and the facts a test can check an ingest of them against."""

    files: list[DemoFile]
    expected: dict

    def file(self, relpath: str) -> DemoFile:
        """The file at ``relpath`` (KeyError if there is none)."""
        for item in self.files:
            if item.relpath == relpath:
                return item
        raise KeyError(relpath)

    def by_format(self, fmt: str) -> list[DemoFile]:
        """The files of one format, in dataset order."""
        return [item for item in self.files if item.format == fmt]


@dataclass
class Output:
    """Files as they are produced, plus what the writers learned on the way."""

    files: list[DemoFile] = field(default_factory=list)
    image_cache: dict[int, bytes] = field(default_factory=dict)
    image_paths: dict[int, list[str]] = field(default_factory=dict)  # id(post) -> relpaths of its images
    anomalies: list[dict] = field(default_factory=list)
    repeated_records: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)
    written_paths: set[str] = field(default_factory=set)

    def add(self, fmt: str, relpath: str, data: bytes) -> None:
        """Append a file (a path already written is skipped: same content by construction)."""
        if relpath not in self.written_paths:
            self.written_paths.add(relpath)
            self.files.append(DemoFile(fmt, relpath, data))

    def add_image(self, fmt: str, relpath: str, image: PlannedImage, post: Post) -> None:
        """Append ``post``'s picture ``image``; a corrupt one is recorded as a planted problem."""
        self.add(fmt, relpath, image_bytes(image, self.image_cache))
        if image.corrupt:
            self.anomaly(post.platform, relpath, "file", "corrupt_image", "corrupt_image", "media", post.post_id,
                         "a JPEG cut to a third of its bytes; the post is kept without the image")

    def anomaly(self, platform: str, relpath: str, location: str, kind: str, reason: str | None,
                scope: str | None, post_id: str | None, note: str) -> None:
        """Record a planted problem and what the pipeline should make of it."""
        self.anomalies.append({"platform": platform, "relpath": relpath, "location": location, "kind": kind,
                               "reason": reason, "scope": scope, "post_id": post_id, "note": note})


def line_of(lines: list[bytes], line: bytes) -> str:
    """An anomaly location: ``line <n>`` of the first ``line`` in ``lines`` (1-based)."""
    return f"line {lines.index(line) + 1}"
