"""The demo's glue: write the generated dataset under the home once, and summarize what the pipeline made of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage import queries, warehouse
from storage.demo_files import write_files
from storage.home import Home
from tasks.curate_run import CurateResult
from tasks.demo import generate_demo
from tasks.learn.autoencoder import AutoencoderTraining, Embedded
from tasks.learn.clustering import ClusteringRun
from tasks.learn.fusion import FusionPredictions, FusionTraining


@dataclass(frozen=True)
class DemoSummary:
    """What the demo made: posts per platform, the curate run, quarantine reasons, and what it learned."""

    platforms: list[tuple[str, int, int]]
    quarantine: list[tuple[str, str, int]]
    curate: CurateResult
    warehouse: str
    fusion: FusionTraining | None = None
    predictions: FusionPredictions | None = None
    autoencoder: AutoencoderTraining | None = None
    embeddings: Embedded | None = None
    clusters: ClusteringRun | None = None


def write_dataset(posts: int, seed: int, home: Home) -> Path:
    """Generate the dataset and write it under ``<home>/demo-data/posts<N>-seed<S>`` (reused when present)."""
    root = home.demo_data / f"posts{posts}-seed{seed}"
    if not root.exists():
        dataset = generate_demo(posts, seed)
        write_files(((f.relpath, f.data) for f in dataset.files), root)
    return root


def summarize(home: Home, curate_run: CurateResult) -> DemoSummary:
    """Posts per platform, the curate rules' counts and the quarantine reasons, from the warehouse."""
    with warehouse.reader(home.warehouse) as con:
        return DemoSummary(platforms=queries.posts_per_platform(con), quarantine=queries.quarantine_by_reason(con),
                           curate=curate_run, warehouse=str(home.warehouse))
