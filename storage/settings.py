"""Where postatlas keeps its data: everything lives under POSTATLAS_HOME (default ~/.postatlas)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "POSTATLAS_HOME"


@dataclass(frozen=True)
class Paths:
    """The folders and files of one postatlas home."""

    home: Path

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def raw(self) -> Path:
        return self.home / "raw"

    @property
    def media(self) -> Path:
        return self.home / "media"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    def ensure(self) -> "Paths":
        """Create the folders if they are missing and return self."""
        for folder in (self.home, self.raw, self.media, self.reports):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def home_paths(home: str | os.PathLike | None = None) -> Paths:
    """Paths for ``home``, else $POSTATLAS_HOME, else ~/.postatlas."""
    chosen = home or os.environ.get(HOME_ENV) or Path.home() / ".postatlas"
    return Paths(Path(chosen).expanduser().resolve())
