"""Encode posts with the frozen encoders, each (post, encoder) once, into the feature store (storage/features.py).

Posts are encoded chunk by chunk; each chunk is one Parquet part written whole, so a killed run keeps the
chunks it finished and a rerun encodes only what is missing. For every encoder the counts add up:
posts = already stored + encoded + unreadable + without input (no text, or no stored image).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from models.encoder_registry import spec
from models.pretrained import FrozenEncoder, load_encoder
from storage import features, learning, warehouse
from storage.home import Home
from storage.image_arrays import full_images, image_array
from tasks.locks import warehouse_writer

CHUNK_POSTS = {"text": 2048, "square-pixels": 512, "image": 128}
BATCH = {"text": 64, "square-pixels": 64, "image": 8}


@dataclass(frozen=True)
class EncoderRun:
    """What one encoder did: posts considered, already stored, encoded now, unreadable, without its input."""

    encoder: str
    posts: int
    already: int
    encoded: int
    unreadable: int
    without_input: int
    seconds: float
    device: str = "cpu"

    @property
    def per_second(self) -> float | None:
        """Posts encoded per second of this run (None when nothing was encoded)."""
        return self.encoded / self.seconds if self.encoded and self.seconds else None


@dataclass(frozen=True)
class Featurized:
    """Every encoder's run over the same posts."""

    posts: int
    runs: list[EncoderRun] = field(default_factory=list)


def _inputs_present(posts: pa.Table, input_kind: str) -> np.ndarray:
    if input_kind == "text":
        return np.array([bool(text and text.strip()) for text in posts.column("text").to_pylist()], dtype=bool)
    return np.array([path is not None for path in posts.column("image_path").to_pylist()], dtype=bool)


def _encode_chunk(home: Home, encoder: FrozenEncoder, chunk: pa.Table, bar: tqdm
                  ) -> tuple[np.ndarray, list[str | None], list[str] | None]:
    """Vectors, per-row problems and (OCR) read texts of one chunk, batch by batch."""
    input_kind = encoder.spec.input
    size = BATCH[input_kind]
    vectors = np.zeros((chunk.num_rows, encoder.dimension), np.float32)
    problems: list[str | None] = [None] * chunk.num_rows
    texts: list[str] | None = [] if encoder.name == "ocr" else None
    for begin in range(0, chunk.num_rows, size):
        batch = chunk.slice(begin, size)
        if input_kind == "text":
            vectors[begin : begin + batch.num_rows] = encoder.encode(batch.column("text").to_pylist())
        else:
            paths = batch.column("image_path").to_pylist()
            if input_kind == "square-pixels":
                image_size = encoder.spec.image_size or 224
                pixels, readable = image_array(home, paths, image_size, 3, cache=False, progress=False)
            else:
                decoded = full_images(home, paths)
                readable = np.array([image is not None for image in decoded], dtype=bool)
                pixels = [image for image in decoded if image is not None]
            rows = np.flatnonzero(readable)
            read_by_row: dict[int, str] = {}
            if len(rows):
                chosen = pixels[rows] if input_kind == "square-pixels" else pixels
                encoded, read, failures = _encode_images(encoder, chosen)
                vectors[begin + rows] = encoded
                if texts is not None and read is not None:
                    read_by_row = dict(zip(rows.tolist(), read, strict=True))
                for position, reason in failures.items():
                    problems[begin + int(rows[position])] = f"{encoder.name} failed on this image: {reason}"
            for row in np.flatnonzero(~readable):
                problems[begin + int(row)] = "image could not be decoded"
            if texts is not None:
                texts.extend(read_by_row.get(i) for i in range(batch.num_rows))
        bar.update(batch.num_rows)
    return vectors, problems, texts


def _encode_images(encoder: FrozenEncoder, images: Any) -> tuple[np.ndarray, list[str] | None, dict[int, str]]:
    """The batch's vectors and read texts; when the encoder fails on the batch (rapidocr raises on very thin
    images), each image again on its own, so only the failing ones get a reason instead of the run crashing."""
    try:
        vectors, read = encoder.encode_with_text(images)
        return vectors, read, {}
    except Exception:  # noqa: BLE001 - any library error on one image becomes that post's recorded problem
        pass
    vectors = np.zeros((len(images), encoder.dimension), np.float32)
    read_texts: list[str] = []
    failures: dict[int, str] = {}
    for position in range(len(images)):
        try:
            vector, text = encoder.encode_with_text(images[position : position + 1])
            vectors[position] = vector[0]
            read_texts.append(text[0] if text else "")
        except Exception as error:  # noqa: BLE001 - recorded in post_features.problem
            failures[position] = f"{type(error).__name__}: {error}"[:300]
            read_texts.append("")
    return vectors, read_texts, failures


def featurize_posts(home: Home, posts: pa.Table, encoder_name: str, run_id: str, device: str = "auto",
                    progress: bool = True, considered: int | None = None) -> EncoderRun:
    """Encode the posts the encoder has no row for yet; returns the counts.

    ``considered``: the caller left the stored posts out already (see :func:`featurize_new_posts`) and this many
    posts were considered in all."""
    encoder_spec = spec(encoder_name)
    started = time.perf_counter()
    present = _inputs_present(posts, encoder_spec.input)
    stored = features.stored_post_ids(home, encoder_name) if considered is None else set()
    post_ids = posts.column("post_id").to_pylist()
    todo = np.array([has and post_id not in stored for post_id, has in zip(post_ids, present, strict=True)],
                    dtype=bool)
    already = int(sum(post_id in stored for post_id in post_ids)) if considered is None else considered - len(post_ids)
    encoded = unreadable = 0
    device_used = "cpu"
    if todo.any():
        encoder = load_encoder(encoder_name, device=device)
        device_used = encoder.device
        pending = posts.filter(pa.array(todo))
        chunk_size = CHUNK_POSTS[encoder_spec.input]
        unit = "text" if encoder_spec.input == "text" else "img"
        with tqdm(total=pending.num_rows, desc=f"featurize {encoder_name}", unit=unit,
                  disable=None if progress else True) as bar:
            for begin in range(0, pending.num_rows, chunk_size):
                chunk = pending.slice(begin, chunk_size)
                vectors, problems, texts = _encode_chunk(home, encoder, chunk, bar)
                features.write_features(home, encoder_name, run_id, chunk.column("post_id").to_pylist(), vectors,
                                        problems, texts)
                failed = sum(problem is not None for problem in problems)
                unreadable += failed
                encoded += chunk.num_rows - failed
    return EncoderRun(encoder_name, len(post_ids) if considered is None else considered, already, encoded,
                      unreadable, int((~present).sum()), time.perf_counter() - started, device_used)


def refresh_feature_view(home: Home, run_id: str) -> None:
    """Point `post_features` at the parts now on disk."""
    with warehouse_writer(home.warehouse, run_id) as con:
        features.refresh_view(con, home)


def featurize_new_posts(home: Home, encoder_name: str, run_id: str, curated_only: bool | None,
                        located_only: bool = False, device: str = "auto") -> EncoderRun:
    """Encode the posts `postatlas featurize` covers (the curated ones once curation has run, with ``curated_only``
    None; ``located_only``: those with a place or coordinates) that the encoder has no row for, reading only those."""
    with warehouse.reader(home.warehouse) as con:
        if curated_only is None:
            curated_only = learning.has_curation(con)
        considered = features.featurize_candidates(con, curated_only, located_only)
        new = features.posts_to_featurize(con, curated_only, located_only, skip=features.part_paths(home, encoder_name))
    return featurize_posts(home, new, encoder_name, run_id, device, considered=considered)


def feature_matrix(home: Home, post_ids: list[str], encoders: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The encoders' vectors side by side (n, sum of dimensions) and whether the first encoder has the post."""
    blocks, present = [], None
    for name in encoders:
        vectors, found = features.read_features(home, name, post_ids, int(spec(name).dimension or 0))
        blocks.append(vectors)
        present = found if present is None else present
    if not blocks:
        return np.zeros((len(post_ids), 0), np.float32), np.zeros(len(post_ids), bool)
    return np.concatenate(blocks, 1), present
