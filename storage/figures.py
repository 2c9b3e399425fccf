"""Writing matplotlib figures to PNG files."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

DPI = 120


def save_figure(fig: Figure, path: Path) -> Path:
    """Write `fig` as a PNG at 120 dpi (size = figure inches x 120), atomically, and release its drawing buffers."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(staging, format="png", dpi=DPI)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
        fig.clear()
    return path
