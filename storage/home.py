"""Where postatlas keeps its data: one ``Home`` (POSTATLAS_HOME, default ~/.postatlas) names every folder and file.

A ``Home`` is built once per command (``Home.at(...)``) and passed down as it is: it is frozen and hashable, so
Prefect's cache keys hash it and a retried run finds the tasks it already completed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "POSTATLAS_HOME"
DEFAULT_HOME = "~/.postatlas"


@dataclass(frozen=True)
class Home:
    """The folders and files of one postatlas home; ``root`` is absolute."""

    root: Path

    @classmethod
    def at(cls, home: str | os.PathLike | Home | None = None) -> Home:
        """The home ``home``, else $POSTATLAS_HOME, else ~/.postatlas."""
        if isinstance(home, Home):
            return home
        chosen = home or os.environ.get(HOME_ENV) or DEFAULT_HOME
        return cls(Path(chosen).expanduser().resolve())

    def __str__(self) -> str:
        return str(self.root)

    def path(self, relative: str | os.PathLike) -> Path:
        """An absolute path for a path stored relative to the home (media, checkpoints, reports)."""
        return self.root / relative

    @property
    def warehouse(self) -> Path:
        """The DuckDB warehouse file."""
        return self.root / "warehouse.duckdb"

    @property
    def raw(self) -> Path:
        """The raw landing zone (Parquet batches of untouched payloads)."""
        return self.root / "raw"

    @property
    def media(self) -> Path:
        """The content-addressed media store."""
        return self.root / "media"

    @property
    def reports(self) -> Path:
        """HTML reports and figures."""
        return self.root / "reports"

    @property
    def models(self) -> Path:
        """Model checkpoints, one folder per model id."""
        return self.root / "models"

    @property
    def datasets(self) -> Path:
        """Training snapshots."""
        return self.root / "datasets"

    @property
    def image_cache(self) -> Path:
        """Decoded image arrays, reused across trainings."""
        return self.root / "cache" / "images"

    @property
    def embeddings(self) -> Path:
        """Embedding Parquet parts, one folder per model id."""
        return self.root / "embeddings"

    @property
    def embedding_parts(self) -> Path:
        """Joint models' vectors per post and part, one folder per model id (view `embedding_parts`)."""
        return self.root / "embedding_parts"

    @property
    def features(self) -> Path:
        """Frozen encoders' vectors of the posts, Parquet, one folder per encoder (view `post_features`)."""
        return self.root / "features"

    @property
    def clusterers(self) -> Path:
        """Fitted clusterers, one folder per clustering run."""
        return self.root / "clusters"

    @property
    def staging(self) -> Path:
        """Per-run scratch files (partitioned language detection)."""
        return self.root / "staging"

    @property
    def collect_work(self) -> Path:
        """Collectors' work folders (frozen iterators, sessions)."""
        return self.root / "collect-work"

    @property
    def demo_data(self) -> Path:
        """The generated demo datasets."""
        return self.root / "demo-data"

    @property
    def ops(self) -> Path:
        """`make serve`'s logs and pids (POSTATLAS_OPS moves them)."""
        return self.root / "ops"

    @property
    def prefect_results(self) -> Path:
        """Persisted Prefect task results, read by retries (PREFECT_LOCAL_STORAGE_PATH moves them)."""
        return self.root / "prefect-results"

    def ensure(self) -> Home:
        """Create the top folders if they are missing and return self."""
        for folder in (self.root, self.raw, self.media, self.reports):
            folder.mkdir(parents=True, exist_ok=True)
        return self
