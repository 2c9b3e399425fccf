"""The demo flow: the embedded dataset through the whole pipeline (ingest every format, curate, learn, predict)."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from flows.clusters import cluster_flow, embed_flow, train_autoencoder_flow
from flows.curate import curate_flow
from flows.ingest import ingest_flow
from flows.learn import predict_fusion_flow, train_fusion_flow
from storage import queries, warehouse
from storage.demo_files import write_files
from storage.home import Home
from tasks.demo_data import generate_demo

# (format, folder of the dataset, folder of downloaded images or None)
DEMO_SOURCES = (
    ("twitter-v2", "twitter", "twitter/media"),
    ("reddit", "reddit", "reddit/media"),
    ("instaloader", "instagram", None),
)


@task(name="write-demo-dataset", timeout_seconds=600)
def write_demo_dataset(posts: int, seed: int, home: str) -> str:
    """Generate the dataset and write it under ``<home>/demo-data/<posts>-<seed>`` (reused when present)."""
    root = Home.at(home).root / "demo-data" / f"posts{posts}-seed{seed}"
    if not root.exists():
        dataset = generate_demo(posts, seed)
        write_files(((f.relpath, f.data) for f in dataset.files), root)
    return str(root)


@task(name="summarize-demo", timeout_seconds=300)
def summarize_demo(home: str, curate_run: dict) -> dict:
    """Posts per platform, the curate rules' counts and the quarantine reasons, from the warehouse."""
    paths = Home.at(home)
    with warehouse.reader(paths.warehouse) as con:
        return {
            "platforms": queries.posts_per_platform(con),
            "quarantine": queries.quarantine_by_reason(con),
            "curate": curate_run,
            "warehouse": str(paths.warehouse),
        }


# Small enough to train all six fusion variants on the demo's topic labels in about a minute on two cores.
DEMO_FUSION_SETTINGS = {
    "image_size": 32,
    "image_widths": [16, 32, 64],
    "embedding_dim": 64,
    "train": {"epochs": 8, "patience": 3, "learning_rate": 0.001, "progress": False},
    "image_train": {"epochs": 8, "patience": 3, "progress": False},
}

# Paper 000's network shrunk for the demo (32 px grey images, 16-wide convolutions, short word2vec).
DEMO_AUTOENCODER_SETTINGS = {
    "model": {"image_size": 32, "conv_width": 16, "content_words": 500},
    "train": {"epochs": 6, "batch_size": 64, "learning_rate": 0.001, "optimizer": "rmsprop", "patience": 3,
              "progress": False},
    "word_dimensions": 64,
    "word_epochs": 10,
}
DEMO_CLUSTERS = 12


@flow(name="demo")
def demo_flow(posts: int = 3000, seed: int = 7, home: str | None = None, learn: bool = True) -> dict:
    """Generate the demo dataset, ingest it through the real readers, curate it, train and predict; summarize."""
    store = Home.at(home).ensure()
    root = Path(write_demo_dataset(posts, seed, str(store.root)))
    for fmt, folder, media in DEMO_SOURCES:
        ingest_flow(
            fmt=fmt,
            paths=[str(root / folder)],
            labels_csv=str(root / "labels.csv"),
            label_task="topic",
            media_dirs=[str(root / media)] if media else None,
            home=str(store.root),
        )
    curated = curate_flow(options={}, home=str(store.root))
    summary = summarize_demo(str(store.root), curated)
    if learn:
        summary["fusion"] = train_fusion_flow("topic", ["all"], str(store.root), DEMO_FUSION_SETTINGS)
        summary["predictions"] = predict_fusion_flow("topic", home=str(store.root))
        summary["autoencoder"] = train_autoencoder_flow(home=str(store.root), settings=DEMO_AUTOENCODER_SETTINGS)
        summary["embeddings"] = embed_flow(home=str(store.root))
        summary["clusters"] = cluster_flow(home=str(store.root), method="default",
                                           settings={"n_clusters": DEMO_CLUSTERS}, label_task="topic")
    return summary
