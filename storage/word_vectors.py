"""Saving and loading a trained word space's arrays: gensim KeyedVectors files plus the IDF weights, one folder each."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from gensim.models import KeyedVectors

VECTORS_FILE = "vectors.kv"
IDF_FILE = "idf.npy"
META_FILE = "word_space.json"
FORMAT_VERSION = 1


def save_word_space(directory: Path, vectors: KeyedVectors, idf: np.ndarray) -> Path:
    """Write word vectors and their IDF weights to `directory`, replacing any earlier ones: files go to a sibling
    temp folder renamed into place."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        vectors.save(str(staging / VECTORS_FILE))
        np.save(staging / IDF_FILE, idf.astype(np.float32), allow_pickle=False)
        meta = {"format": FORMAT_VERSION, "words": len(vectors), "dimensions": vectors.vector_size}
        (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        retired = directory.with_name(f".{directory.name}.{os.getpid()}.old")
        if directory.exists():
            os.replace(directory, retired)
        os.replace(staging, directory)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def load_word_space(directory: Path) -> tuple[KeyedVectors, np.ndarray]:
    """The word vectors and IDF weights written by `save_word_space` (gensim's format unpickles: load only folders
    you wrote)."""
    directory = Path(directory)
    meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{directory}: unsupported word space format {meta.get('format')!r}")
    return KeyedVectors.load(str(directory / VECTORS_FILE)), np.load(directory / IDF_FILE, allow_pickle=False)


def load_pretrained_vectors(path: str | os.PathLike) -> KeyedVectors:
    """Word vectors from a local file: gensim's own format (.kv), else word2vec binary (.bin) or text format."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"word vectors not found at {file}: give a local word2vec file (.bin, .txt) or a "
                                "gensim KeyedVectors file (.kv); postatlas never downloads them")
    if file.suffix == ".kv":
        return KeyedVectors.load(str(file))
    return KeyedVectors.load_word2vec_format(str(file), binary=file.suffix == ".bin")
