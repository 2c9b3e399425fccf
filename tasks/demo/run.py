"""The demo's glue: write the generated dataset under the home once, and summarize what the pipeline made of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storage import queries, warehouse
from storage.demo_files import write_files
from storage.home import Home
from tasks.curate_run import CurateResult
from tasks.demo import generate_demo


def write_dataset(posts: int, seed: int, home: Home) -> Path:
    """Generate the dataset and write it under ``<home>/demo-data/posts<N>-seed<S>`` (reused when present)."""
    root = home.demo_data / f"posts{posts}-seed{seed}"
    if not root.exists():
        dataset = generate_demo(posts, seed)
        write_files(((f.relpath, f.data) for f in dataset.files), root)
    return root


def summarize(home: Home, curate_run: CurateResult) -> dict[str, Any]:
    """Posts per platform, the curate rules' counts and the quarantine reasons, from the warehouse."""
    with warehouse.reader(home.warehouse) as con:
        return {
            "platforms": queries.posts_per_platform(con),
            "quarantine": queries.quarantine_by_reason(con),
            "curate": curate_run,
            "warehouse": str(home.warehouse),
        }
