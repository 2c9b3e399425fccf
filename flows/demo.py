"""The demo flow: the embedded dataset through the whole pipeline (ingest every format, curate, learn, predict)."""

from __future__ import annotations

from dataclasses import replace

from prefect import flow, task

from flows.clusters import cluster_flow, embed_flow, train_autoencoder_flow
from flows.curate import curate_flow
from flows.ingest import ingest_flow
from flows.learn import predict_fusion_flow, train_fusion_flow
from storage.home import Home
from tasks.demo.run import DemoSummary, summarize, write_dataset

# (format, folder of the dataset, folder of downloaded images or None)
DEMO_SOURCES = (
    ("twitter-v2", "twitter", "twitter/media"),
    ("reddit", "reddit", "reddit/media"),
    ("instaloader", "instagram", None),
)


write_demo_dataset = task(name="write-demo-dataset", timeout_seconds=600)(write_dataset)
summarize_demo = task(name="summarize-demo", timeout_seconds=300)(summarize)

# Small enough to train every fusion variant on the demo's topic labels in about a minute on two cores (the
# scratch-CNN sizes only matter with `--image-encoder scratch-cnn`).
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
def demo_flow(posts: int = 3000, seed: int = 7, home: str | None = None, learn: bool = True) -> DemoSummary:
    """Generate the demo dataset, ingest it through the real readers, curate it, train and predict; summarize."""
    store = Home.at(home).ensure()
    root = write_demo_dataset(posts, seed, store)
    for fmt, folder, media in DEMO_SOURCES:
        ingest_flow(
            fmt=fmt,
            paths=[str(root / folder)],
            labels_csv=str(root / "labels.csv"),
            label_task="topic",
            media_dirs=[str(root / media)] if media else None,
            home=str(store),
        )
    curated = curate_flow(options={}, home=str(store))
    summary = summarize_demo(store, curated)
    if not learn:
        return summary
    return replace(
        summary,
        fusion=train_fusion_flow("topic", ["all"], str(store), DEMO_FUSION_SETTINGS),
        predictions=predict_fusion_flow("topic", home=str(store)),
        autoencoder=train_autoencoder_flow(home=str(store), settings=DEMO_AUTOENCODER_SETTINGS),
        embeddings=embed_flow(home=str(store)),
        clusters=cluster_flow(home=str(store), method="default", settings={"n_clusters": DEMO_CLUSTERS},
                              label_task="topic"),
    )
