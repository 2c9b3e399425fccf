"""Training throughput of every model, on synthetic data of the real shapes. Prints a table for docs/BENCHMARKS.md.

Run: ``.venv/bin/python tests/bench/bench_training.py [--device auto|cpu|cuda] [--samples 4000] [--repeats 3]
[--threads N] [--only image,joint,...] [--json PATH]``.

Every neural model trains through the project's own loop (`models.training.fit`, via `train_classifier` and
`train_regressor`) with the settings the project trains it with (FusionSettings / RegressionSettings defaults:
batch size, learning rate, widths), for ``--warmup`` + ``--epochs`` epochs and ``progress=False``. A run's figure
is the median of the measured epochs' ``samples_per_second`` from ``FitResult.history`` (train rows / epoch
seconds; the epoch includes the validation pass, kept tiny with ``--val``); the table gives the median of
``--repeats`` runs, each on a freshly built model. On CUDA `fit` trains under bf16 autocast.

The data are random but shaped as in the pipeline: uint8 images (n, 3, 64, 64); token ids (n, 96) with
Zipf-distributed ids over a 20k vocabulary (``--vocabulary``) and caption lengths around 15 tokens; 128-d image vectors (the
frozen image classifier's output, share_image_encoder); 384-d unit sentence vectors standing in for MiniLM (the
sentence model itself is not run); some posts without text or image. Word2Vec (gensim, through
`train_word_space`, TF-IDF included) is timed on ``--captions`` synthetic captions: captions x epochs / seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from models.encoder_registry import ENCODERS  # noqa: E402
from models.fusion_training import FusionSettings, build_model, train_classifier  # noqa: E402
from models.image_regression import ImageRegressor, RegressionSettings, train_regressor  # noqa: E402
from models.training import TrainSettings  # noqa: E402
from models.word_space import WordSpaceSettings, train_word_space  # noqa: E402

VOCABULARY = 20_000  # tokens in the classifiers' vocabulary and in the captions (--vocabulary)
CLASSES = 10  # --classes
IMAGE_VECTOR_DIM = 128  # the default ResNet's last width: what `image_vectors` gives the fusions
WORD_SPACE_DIM = WordSpaceSettings().dimensions
SENTENCE_DIMENSIONS = int(ENCODERS["minilm"].dimension or 0)


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One measured model: its name, description, unit and how to run it."""

    name: str
    description: str
    unit: str
    run: Callable[[argparse.Namespace, dict[str, Any]], float]


# ----------------------------------------------------------------------------- synthetic data


def token_ids(rng: np.random.Generator, rows: int, max_tokens: int, has_text: np.ndarray, vocabulary: int
              ) -> np.ndarray:
    """(rows, max_tokens) int64 ids right-padded with 0 (ids 2.. are words, Zipf-distributed as in real text)."""
    lengths = np.clip(rng.poisson(15, rows), 1, max_tokens) * has_text
    ids = np.zeros((rows, max_tokens), dtype=np.int64)
    words = np.minimum(rng.zipf(1.2, (rows, max_tokens)), vocabulary - 2) + 1
    mask = np.arange(max_tokens)[None, :] < lengths[:, None]
    ids[mask] = words[mask]
    return ids


def synthetic_data(rows: int, vocabulary: int, classes: int, seed: int = 13) -> dict[str, np.ndarray]:
    """Every input any model reads, for `rows` posts (train rows first, then validation rows)."""
    rng = np.random.default_rng(seed)
    settings = FusionSettings()
    has_text = rng.random(rows) < 0.95
    has_image = rng.random(rows) < 0.9
    pixels = rng.integers(0, 256, (rows, settings.channels, settings.image_size, settings.image_size), dtype=np.uint8)
    pixels[~has_image] = 0
    sentences = rng.standard_normal((rows, SENTENCE_DIMENSIONS)).astype(np.float32)
    sentences /= np.linalg.norm(sentences, axis=1, keepdims=True)
    ids = token_ids(rng, rows, settings.max_tokens, has_text, vocabulary)
    targets = rng.standard_normal((rows, WORD_SPACE_DIM)).astype(np.float32)
    return {
        "pixels": pixels,
        "image_vectors": np.abs(rng.standard_normal((rows, IMAGE_VECTOR_DIM))).astype(np.float32),
        "ids": ids,
        "sentences": sentences,
        "ids_and_sentences": np.concatenate([ids.astype(np.float32), sentences], 1),
        "has_text": has_text,
        "has_image": has_image,
        "label": rng.integers(0, classes, rows).astype(np.int64),
        "target": targets,
    }


def synthetic_captions(count: int, vocabulary: int, seed: int = 13) -> list[list[str]]:
    """Token lists of captions: Zipf-distributed words over the vocabulary, about 12 tokens each."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.poisson(12, count), 1, 60)
    words = np.minimum(rng.zipf(1.2, int(lengths.sum())), vocabulary)
    names = [f"w{i}" for i in range(vocabulary + 1)]
    captions, start = [], 0
    for length in lengths:
        captions.append([names[w] for w in words[start : start + length]])
        start += length
    return captions


# ----------------------------------------------------------------------------- measurements


def epoch_config(base: TrainSettings, args: argparse.Namespace) -> TrainSettings:
    """The project's training settings, for warm-up + measured epochs, no early stop, no progress bars."""
    epochs = args.warmup + args.epochs
    return dataclasses.replace(base, epochs=epochs, patience=epochs + 1, device=args.device, threads=args.threads,
                               progress=False)


def measured_rate(history: list, warmup: int) -> float:
    """Median samples/s over the epochs after the warm-up."""
    return statistics.median(report.samples_per_second for report in history[warmup:])


def split_column(args: argparse.Namespace) -> np.ndarray:
    """The split column: the train samples, then the validation ones."""
    return np.array(["train"] * args.samples + ["val"] * args.val, dtype=object)


def fusion(variant: str, text_encoder: str = "bag-max", cnn: bool = False) -> Callable[..., float]:
    """A run of one fusion classifier: `cnn` (or variant `image`) trains the ResNet on pixels, else the image
    input is the frozen 128-d image vectors."""

    def run(args: argparse.Namespace, data: dict[str, Any]) -> float:
        settings = FusionSettings(text_encoder=text_encoder, image_encoder="scratch-cnn")
        arrays: dict[str, np.ndarray] = {"has_text": data["has_text"], "has_image": data["has_image"],
                                         "label": data["label"]}
        if variant != "text":
            arrays["image"] = data["pixels"] if cnn or variant == "image" else data["image_vectors"]
        if variant != "image":
            arrays["text"] = {"minilm": data["sentences"], "minilm+bag": data["ids_and_sentences"]}.get(
                text_encoder, data["ids"])
        image_feature_dim = None if cnn or variant == "image" else IMAGE_VECTOR_DIM
        text_feature_dim = SENTENCE_DIMENSIONS if text_encoder in ("minilm", "minilm+bag") else 0
        model = build_model(variant, settings, args.classes, args.vocabulary, text_feature_dim, image_feature_dim)
        base = settings.image_train if variant == "image" else settings.train
        result = train_classifier(model, arrays, split_column(args), epoch_config(base, args))
        return measured_rate(result.history, args.warmup)

    return run


def regression(args: argparse.Namespace, data: dict[str, Any]) -> float:
    """Samples/s of paper 001's regression CNN."""
    settings = RegressionSettings()
    model = ImageRegressor(WORD_SPACE_DIM, settings)
    arrays = {"image": data["pixels"], "target": data["target"]}
    result = train_regressor(model, arrays, split_column(args), epoch_config(settings.train, args))
    return measured_rate(result.history, args.warmup)


def word2vec(args: argparse.Namespace, data: dict[str, Any]) -> float:
    """Captions/s of gensim Word2Vec as the word space trains it."""
    captions = data["captions"]
    config = dataclasses.replace(WordSpaceSettings(), epochs=args.w2v_epochs, workers=args.w2v_workers)
    started = time.perf_counter()
    train_word_space(captions, config)
    return len(captions) * config.epochs / (time.perf_counter() - started)


def benchmarks(args: argparse.Namespace) -> list[Benchmark]:
    """Every benchmark, in report order."""
    cnn = "ResNet CNN on uint8 64x64x3 images"
    vectors = f"{IMAGE_VECTOR_DIM}-d image vectors"
    w2v = WordSpaceSettings()
    return [
        Benchmark("image", f"image: {cnn}", "samples/s", fusion("image")),
        Benchmark("text", "text: bag-max", "samples/s", fusion("text")),
        Benchmark("late", f"late: bag-max + {vectors}", "samples/s", fusion("late")),
        Benchmark("early", f"early: bag-max + {vectors}", "samples/s", fusion("early")),
        Benchmark("joint", f"joint: bag-max + {vectors}", "samples/s", fusion("joint")),
        Benchmark("common", f"common: bag-max + {vectors}", "samples/s", fusion("common")),
        Benchmark("joint-cnn", "joint, end to end CNN: bag-max + ResNet CNN", "samples/s", fusion("joint", cnn=True)),
        Benchmark("text-gru", "text: gru", "samples/s", fusion("text", "gru")),
        Benchmark("text-lstm", "text: lstm", "samples/s", fusion("text", "lstm")),
        Benchmark("text-minilm+bag", f"text: minilm+bag ({SENTENCE_DIMENSIONS}-d features + bag-max)", "samples/s",
                  fusion("text", "minilm+bag")),
        Benchmark("text-minilm", f"text: minilm ({SENTENCE_DIMENSIONS}-d features)", "samples/s",
                  fusion("text", "minilm")),
        Benchmark("regression", f"paper 001 image regression: {cnn} -> {WORD_SPACE_DIM}-d", "samples/s", regression),
        Benchmark("word2vec", f"word2vec: gensim {'skip-gram' if w2v.skip_gram else 'CBOW'} {w2v.dimensions}-d, "
                  f"window {w2v.window}, {args.captions:,} captions, {args.w2v_epochs} epochs, "
                  f"{args.w2v_workers} worker{'s' if args.w2v_workers > 1 else ''}", "sentences/s", word2vec),
    ]


# ----------------------------------------------------------------------------- report


def cpu_model() -> str:
    """The CPU's model name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(args: argparse.Namespace) -> dict[str, Any]:
    """The machine, library versions and load the numbers were measured under."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "device": args.device,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    if args.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["bf16_autocast"] = True  # `fit` trains every model under torch.autocast(bfloat16) on CUDA
    return info


def format_rate(value: float) -> str:
    """A rate with sensible precision."""
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def print_report(args: argparse.Namespace, info: dict[str, Any], rows: list[dict[str, Any]], command: str) -> None:
    """The results as the markdown BENCHMARKS.md holds."""
    print(f"\nCommand: `{command}`\n")
    print(f"- CPU: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable); torch {info['torch']}, "
          f"{info['torch_threads']} threads; Python {info['python']}")
    if args.device == "cuda":
        print(f"- GPU: {info['gpu']} (CUDA {info['cuda']}), bf16 autocast on (as `fit` trains)")
    print(f"- {args.samples:,} train + {args.val} val samples, {args.classes} classes, {args.vocabulary:,}-token "
          f"vocabulary, {args.warmup} warm-up + {args.epochs} measured "
          f"epochs per run; load average before: {', '.join(f'{v:.2f}' for v in info['load_average'] or [])}\n")
    print("| model | device | samples/s (median) | runs |")
    print("|---|---|---:|---|")
    for row in rows:
        unit = "" if row["unit"] == "samples/s" else f" ({row['unit']})"
        print(f"| {row['description']}{unit} | {row['device']} | "
              f"{format_rate(row['median'])} | {', '.join(format_rate(v) for v in row['runs'])} |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options."""
    names = [b.name for b in benchmarks(argparse.Namespace(captions=0, w2v_epochs=0, w2v_workers=0))]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--samples", type=int, default=4000, help="train samples per model (default 4000)")
    parser.add_argument("--val", type=int, default=64, help="validation samples (default 64)")
    parser.add_argument("--epochs", type=int, default=2, help="measured epochs per run (default 2)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up epochs per run, not measured (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per model; the table shows the median")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of: {', '.join(names)}")
    parser.add_argument("--vocabulary", type=int, default=VOCABULARY,
                        help=f"classifier vocabulary and caption words (default {VOCABULARY}); the bag encoders' "
                        "dense embedding update grows with it")
    parser.add_argument("--classes", type=int, default=CLASSES, help=f"classes (default {CLASSES})")
    parser.add_argument("--captions", type=int, default=20_000, help="word2vec captions (default 20000)")
    parser.add_argument("--w2v-epochs", type=int, default=5, help="word2vec epochs per run (default 5)")
    parser.add_argument("--w2v-workers", type=int, default=WordSpaceSettings().workers,
                        help=f"gensim worker threads (default {WordSpaceSettings().workers}, as the project trains)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.only:
        args.only = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    if min(args.samples, args.val, args.epochs, args.repeats, args.captions, args.w2v_epochs, args.w2v_workers) < 1:
        parser.error("--samples, --val, --epochs, --repeats, --captions, --w2v-epochs and --w2v-workers must be >= 1")
    if args.vocabulary < 3 or args.classes < 2:
        parser.error("--vocabulary must be >= 3 and --classes >= 2")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    elif args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda was asked for but no CUDA device is visible")
    if not args.threads:
        args.threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    command = " ".join([".venv/bin/python", "tests/bench/bench_training.py", *map(shlex.quote, sys.argv[1:])])
    chosen = [b for b in benchmarks(args) if not args.only or b.name in args.only]
    info = machine_info(args)
    data: dict[str, Any] = synthetic_data(args.samples + args.val, args.vocabulary, args.classes)
    if any(b.name == "word2vec" for b in chosen):
        data["captions"] = synthetic_captions(args.captions, args.vocabulary)
    rows = []
    for bench in chosen:
        runs = []
        for repeat in range(args.repeats):
            value = bench.run(args, data)
            runs.append(value)
            print(f"{bench.name} run {repeat + 1}/{args.repeats}: {format_rate(value)} {bench.unit}", file=sys.stderr,
                  flush=True)
        device = "cpu" if bench.name == "word2vec" else args.device
        rows.append({"name": bench.name, "description": bench.description, "unit": bench.unit, "device": device,
                     "median": statistics.median(runs), "runs": runs})
    info["torch_threads"] = torch.get_num_threads()
    print_report(args, info, rows, command)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {key: getattr(args, key) for key in ("samples", "val", "epochs", "warmup", "repeats", "threads",
                                                          "vocabulary", "classes", "captions", "w2v_epochs", "w2v_workers")}
        args.json.write_text(json.dumps({"command": command, "machine": info, "settings": settings, "results": rows},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
