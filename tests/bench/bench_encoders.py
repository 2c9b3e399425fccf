"""Encoder throughput on real posts: texts/s and images/s of the frozen encoders, as `featurize` runs them.

Run: ``.venv/bin/python tests/bench/bench_encoders.py [--posts 1024] [--repeats 3] [--ocr-images 64]``.
Inputs are MVSA-Single's real tweets and images (../shared/data; the images are decoded from disk inside the
timed loop, as `featurize` does). Each figure is the median over --repeats passes after one warm-up batch; model
loading is timed apart. Prints markdown for docs/BENCHMARKS.md ("Encoders").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from charset_normalizer import from_bytes

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from models.pretrained import load_encoder  # noqa: E402
from storage.image_arrays import decode_rgb, decode_square  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "mvsa-single" / "data"


def texts_and_images(posts: int) -> tuple[list[str], list[Path]]:
    """The first `posts` MVSA posts' texts (decoded by detection where not UTF-8) and image paths."""
    stems = sorted((p.stem for p in DATA.glob("*.txt")), key=int)[:posts]
    texts = []
    for stem in stems:
        raw = (DATA / f"{stem}.txt").read_bytes()
        try:
            texts.append(raw.decode("utf-8").strip())
        except UnicodeDecodeError:
            texts.append(str(from_bytes(raw).best()).strip())
    return texts, [DATA / f"{stem}.jpg" for stem in stems]


def rate(count: int, work, repeats: int) -> float:
    """Median items per second of `work()` over `repeats` runs."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return count / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ocr-images", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts, images = texts_and_images(args.posts)
    rows = []
    for name, batch in (("e5-small", 64), ("minilm", 128)):
        started = time.perf_counter()
        encoder = load_encoder(name, threads=args.threads)
        loaded = time.perf_counter() - started
        encoder.encode(texts[:batch])

        def encode_texts(encoder=encoder, batch=batch) -> None:
            for begin in range(0, len(texts), batch):
                encoder.encode(texts[begin : begin + batch])

        rows.append((name, f"{rate(len(texts), encode_texts, args.repeats):.0f} texts/s", f"{loaded:.1f}",
                     f"batch {batch}, {args.posts:,} real tweets"))
    for device in ("cpu",):
        started = time.perf_counter()
        encoder = load_encoder("efficientnet-lite0", device=device, threads=args.threads)
        loaded = time.perf_counter() - started
        how = "onnxruntime" if encoder.session is not None else "torch"

        def encode_images(encoder=encoder) -> None:
            for begin in range(0, len(images), 64):
                pixels = np.stack([decode_square(p, 224, 3) for p in images[begin : begin + 64]])
                encoder.encode(pixels)

        pixels = np.stack([decode_square(p, 224, 3) for p in images[:64]])
        encoder.encode(pixels)
        rows.append(("efficientnet-lite0", f"{rate(len(images), encode_images, args.repeats):.0f} images/s",
                     f"{loaded:.1f}", f"{how}, decoding included, batch 64"))
        model_only = rate(len(pixels), lambda encoder=encoder, pixels=pixels: encoder.encode(pixels), args.repeats)
        rows.append(("efficientnet-lite0 (network only)", f"{model_only:.0f} images/s", "", how))
        encoder.session = None  # the same network in torch eager, channels-last, for comparison
        encoder.network = encoder.network.to(memory_format=torch.channels_last)
        torch_only = rate(len(pixels), lambda encoder=encoder, pixels=pixels: encoder.encode(pixels), args.repeats)
        rows.append(("efficientnet-lite0 (network only)", f"{torch_only:.0f} images/s", "", "torch eager"))
    started = time.perf_counter()
    ocr = load_encoder("ocr", threads=args.threads)
    loaded = time.perf_counter() - started
    whole = [decode_rgb(p) for p in images[: args.ocr_images]]
    rows.append(("ocr", f"{rate(len(whole), lambda: ocr.encode(whole), 1):.1f} images/s", f"{loaded:.1f}",
                 f"{args.ocr_images} MVSA images (at most 256 px), read + e5-small"))
    print("| encoder | throughput | load s | notes |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
