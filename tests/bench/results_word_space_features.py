"""Paper 001's image regression into the word space: the CNN trained from scratch vs a head on frozen
EfficientNet-Lite0 features, measured on MVSA-Single (docs/WORD_SPACE.md).

Run: ``.venv/bin/python tests/bench/results_word_space_features.py [--seeds 1 2 3] [--threads 2] [--work DIR]``.
Everything goes through the real CLI into a scratch POSTATLAS_HOME: `postatlas ingest mvsa`, `train word-space`
(the defaults, seed 13), `featurize --encoder efficientnet-lite0`, then `train image-regression` once per image
encoder and seed. The scores are read back from the `models` table (test split, 15 % of the posts by hashed id):
image-to-caption retrieval (each test image queries the test captions' vectors) recall@1/5/10 and median rank,
text-to-image recall@10 and median rank, and the mean cosine. A markdown table is printed (mean over the seeds,
min-max in brackets).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from functools import partial
from pathlib import Path

import duckdb
from results_learning import DATA
from results_learning import run as run_cli

run = partial(run_cli, quiet=True)
ENCODERS = ("scratch-cnn", "efficientnet-lite0")
COLUMNS = (("test_image_to_caption_recall_at_1", "img→cap R@1", 3), ("test_image_to_caption_recall_at_5", "R@5", 3),
           ("test_image_to_caption_recall_at_10", "R@10", 3), ("test_image_to_caption_median_rank", "median rank", 0),
           ("test_recall_at_10", "cap→img R@10", 3), ("test_median_rank", "cap→img median rank", 0),
           ("test_mean_cosine", "mean cosine", 3), ("seconds", "train s", 0))


def newest_regression(home: Path) -> tuple[dict, dict]:
    """(config, metrics) of the newest image-regression model."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        config, metrics = con.execute("SELECT config, metrics FROM models WHERE kind = 'image_regression' "
                                      "ORDER BY created_at DESC LIMIT 1").fetchone()
    finally:
        con.close()
    return json.loads(config), json.loads(metrics)


def cell(values: list[float], digits: int) -> str:
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=ENCODERS)
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new temporary one)")
    args = parser.parse_args()
    home = (args.work or Path(tempfile.mkdtemp(prefix="postatlas-word-features-"))) / "home"
    mvsa = DATA / "mvsa-single"
    if not (home / "warehouse.duckdb").exists():
        run(home, "ingest", "mvsa", str(mvsa / "data"), "--labels", str(mvsa / "label" / "labels.csv"),
            "--task", "sentiment")
        run(home, "train", "word-space", "--seed", "13")
        run(home, "featurize", "--encoder", "efficientnet-lite0", "--all-posts", "--device", "cpu")
    scores: dict[str, list[dict]] = {encoder: [] for encoder in args.encoders}
    posts = chance = None
    for seed in args.seeds:
        for encoder in args.encoders:
            run(home, "train", "image-regression", "--image-encoder", encoder, "--seed", str(seed), "--device", "cpu",
                "--threads", str(args.threads))
            config, metrics = newest_regression(home)
            assert config["image_encoder"] == encoder, config
            scores[encoder].append(metrics)
            posts, chance = metrics["test_images"], 10 / metrics["test_images"]
    print(f"\nMVSA-Single, {posts} test images (recall@10 chance {chance:.3f}), seeds {' '.join(map(str, args.seeds))}, "
          f"{args.threads} torch threads, default settings (10 epochs)\n")
    print("| image encoder | " + " | ".join(title for _, title, _ in COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for encoder, runs in scores.items():
        print(f"| {encoder} | " + " | ".join(cell([r[key] for r in runs], digits) for key, _, digits in COLUMNS) + " |")


if __name__ == "__main__":
    main()
