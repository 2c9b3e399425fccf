"""HTML reports on disk (POSTATLAS_HOME/reports/<kind>/<name>.html) and the static assets they inline."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from storage.home import Home

ASSETS = "report_assets"


def save_html(home: Home, kind: str, name: str, html: str) -> Path:
    """Write a report atomically as reports/<kind>/<name>.html; returns its path."""
    path = home.reports / kind / f"{name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(html, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def asset_text(name: str) -> str:
    """A file of storage/report_assets/ (the offline basemap, the reports' script and style sheet)."""
    return resources.files("storage").joinpath(ASSETS, name).read_text(encoding="utf-8")
