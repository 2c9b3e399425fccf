"""Paper 000's multimodal CorrNet autoencoder on tiny synthetic posts whose image and words share a class (CPU)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from models.corrnet import (
    CorrNetAutoencoder,
    CorrNetSettings,
    content_bags,
    content_vocabulary,
    corrnet_loss,
    embed,
    mean_correlation,
    reconstruction_error,
)
from models.text import CLASSIFIER_TOKENIZER, WORD_SPACE_TOKENIZER, TweetTokenizer
from models.training import TrainSettings, fit, to_batch

CLASSES, CLASS_WORDS, NOISE_WORDS, SIZE = 4, 4, 8, 32
VOCABULARY = 2 + CLASSES * CLASS_WORDS + NOISE_WORDS
TINY = CorrNetSettings(image_size=SIZE, conv_width=16, conv_stages=3, lstm_hidden=16, code_size=16, max_tokens=6)
FAST = TrainSettings(epochs=12, batch_size=32, optimizer="rmsprop", learning_rate=1e-3, patience=20, progress=False,
                   threads=2)


def synthetic_posts(n: int, seed: int, view_rate: float = 0.85) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Class k: a bright quadrant k in a noisy grey image, three of its four words and two of eight shared ones.

    Word id w is content word w - 2; about 15% of the posts miss their image and 15% their text (never both).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    images = rng.integers(0, 70, (n, 1, SIZE, SIZE)).astype(np.uint8)
    half = SIZE // 2
    tokens = np.zeros((n, TINY.max_tokens), dtype=np.int64)
    for row, label in enumerate(labels):
        y, x = divmod(int(label), 2)
        images[row, 0, y * half : (y + 1) * half, x * half : (x + 1) * half] += 150
        words = 2 + label * CLASS_WORDS + rng.choice(CLASS_WORDS, 3, replace=False)
        shared = 2 + CLASSES * CLASS_WORDS + rng.choice(NOISE_WORDS, 2, replace=False)
        tokens[row, :5] = rng.permutation(np.concatenate([words, shared]))
    bag = np.zeros((n, VOCABULARY - 2), dtype=np.uint8)
    np.put_along_axis(bag, tokens[:, :5] - 2, 1, axis=1)
    has_image, has_text = rng.random(n) < view_rate, rng.random(n) < view_rate
    has_text[~has_image] = True
    arrays = {"images": images, "has_image": has_image, "tokens": tokens, "has_text": has_text, "bag": bag}
    return arrays, labels


def tiny_model(config: CorrNetSettings = TINY, seed: int = 0) -> CorrNetAutoencoder:
    """A CorrNet of the TINY sizes, seeded."""
    torch.manual_seed(seed)
    return CorrNetAutoencoder(config, VOCABULARY, 12, VOCABULARY - 2)


def batch_of(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """All the rows as one CPU batch."""
    return to_batch(arrays, np.arange(len(arrays["images"])), torch.device("cpu"))


def validation_score(arrays: dict[str, np.ndarray]):
    """Higher-is-better validation score for `fit`: minus the held-out objective."""
    return lambda model: -reconstruction_error(model, arrays, device="cpu")["total"]


@pytest.fixture(scope="module")
def trained() -> tuple[CorrNetAutoencoder, dict[str, float], dict[str, np.ndarray], np.ndarray]:
    """A tiny model fitted on 400 posts, its held-out errors before training, and the held-out posts."""
    train, _ = synthetic_posts(400, seed=0)
    validation, labels = synthetic_posts(200, seed=1)
    model = tiny_model()
    before = reconstruction_error(model, validation, device="cpu")
    fit(model, train, corrnet_loss, validation_score(validation), FAST)
    return model, before, validation, labels


def test_paper_defaults_encode_and_decode_158_pixel_grey_images():
    """Paper defaults encode and decode 158 pixel grey images."""
    config = CorrNetSettings()
    assert (config.image_size, config.channels, config.conv_width, config.lstm_hidden) == (158, 1, 64, 32)
    vectors = np.random.default_rng(0).normal(size=(30, 400)).astype(np.float32)
    model = CorrNetAutoencoder(config, 30, 400, 50, vectors).eval()
    assert not model.text_encoder.embedding.weight.requires_grad
    batch = {
        "images": torch.randint(0, 256, (2, 1, 158, 158), dtype=torch.uint8),
        "has_image": torch.tensor([True, True]),
        "tokens": torch.tensor([[2, 5, 7] + [0] * 37, [3] + [0] * 39]),
        "has_text": torch.tensor([True, False]),
        "bag": torch.zeros(2, 50),
    }
    with torch.no_grad():
        codes = model(batch)
        images, words = model.decode_images(codes), model.decode_text(codes)
        loss = corrnet_loss(model, batch)
    assert codes.shape == (2, config.code_size)
    assert images.shape == (2, 1, 158, 158) and words.shape == (2, 50)
    assert float(images.min()) >= 0 and float(images.max()) <= 1 and torch.isfinite(loss)


def test_training_lowers_the_reconstruction_error_and_correlates_the_views(trained):
    """Training lowers the reconstruction error and correlates the views."""
    model, before, validation, _ = trained
    after = reconstruction_error(model, validation, device="cpu")
    assert after["image_mse"] < 0.3 * before["image_mse"]
    assert after["text_mse"] < 0.7 * before["text_mse"]
    assert after["correlation"] > before["correlation"] + 0.5 and after["correlation"] > 0.8
    assert after["total"] < before["total"]


def test_codes_of_two_classes_separate(trained):
    """Codes of two classes separate."""
    model, _, validation, labels = trained
    codes = embed(model, validation, batch_size=64, device="cpu")
    assert codes.shape == (200, TINY.code_size) and codes.dtype == np.float32
    centroids = np.stack([codes[labels == k].mean(0) for k in range(CLASSES)])
    nearest = ((codes[:, None] - centroids) ** 2).sum(-1).argmin(1)
    assert (nearest == labels).mean() > 0.9  # chance is 0.25
    text_only = {**validation, "has_image": np.zeros(200, dtype=bool), "has_text": np.ones(200, dtype=bool)}
    image_only = {**validation, "has_image": np.ones(200, dtype=bool), "has_text": np.zeros(200, dtype=bool)}
    for single_view in (text_only, image_only):
        codes = embed(model, single_view, device="cpu")
        assert (((codes[:, None] - centroids) ** 2).sum(-1).argmin(1) == labels).mean() > 0.8


def test_an_absent_view_neither_changes_the_code_nor_is_reconstructed():
    """An absent view neither changes the code nor is reconstructed."""
    arrays, _ = synthetic_posts(40, seed=2)
    model = tiny_model().eval()
    rng = np.random.default_rng(3)
    changed = {name: array.copy() for name, array in arrays.items()}
    changed["images"][~arrays["has_image"]] = rng.integers(0, 256, changed["images"][~arrays["has_image"]].shape)
    changed["tokens"][~arrays["has_text"], :3] = rng.integers(2, VOCABULARY, (int((~arrays["has_text"]).sum()), 3))
    changed["bag"][~arrays["has_text"]] = 1
    with torch.no_grad():
        original, altered = model(batch_of(arrays)), model(batch_of(changed))
        assert torch.equal(original, altered)
        assert corrnet_loss(model, batch_of(arrays)) == corrnet_loss(model, batch_of(changed))
        changed["images"][arrays["has_image"]] = 255 - changed["images"][arrays["has_image"]]
        moved = (model(batch_of(changed)) - original).abs().sum(1)
    assert bool((moved[torch.as_tensor(arrays["has_image"])] > 0).all())


@pytest.mark.parametrize("present", ["text", "image"])
def test_a_dataset_with_a_single_view_trains(present):
    """A dataset with a single view trains."""
    arrays, _ = synthetic_posts(96, seed=4)
    arrays["has_image"][:] = present == "image"
    arrays["has_text"][:] = present == "text"
    model = tiny_model()
    absent = model.image_encoder if present == "text" else model.text_encoder
    untouched = [parameter.detach().clone() for parameter in absent.parameters()]
    before = reconstruction_error(model, arrays, device="cpu")
    result = fit(model, arrays, corrnet_loss, validation_score(arrays), replace(FAST, epochs=4))
    after = reconstruction_error(model, arrays, device="cpu")
    assert all(np.isfinite(epoch.train_loss) for epoch in result.history)
    assert after["total"] < before["total"] and after["correlation"] == 0.0
    assert after["image_mse" if present == "text" else "text_mse"] == 0.0
    assert all(torch.equal(old, new) for old, new in zip(untouched, absent.parameters(), strict=True))
    assert np.isfinite(embed(model, arrays, device="cpu")).all()


def test_posts_without_any_view_add_nothing_to_the_loss():
    """Posts without any view add nothing to the loss."""
    arrays, _ = synthetic_posts(20, seed=6)
    model = tiny_model().eval()
    blank = {name: array.copy() for name, array in arrays.items()}
    blank["has_image"][:], blank["has_text"][:] = False, False
    both = {name: np.concatenate([arrays[name], blank[name]]) for name in arrays}
    with torch.no_grad():
        assert float(corrnet_loss(model, batch_of(both))) == pytest.approx(float(corrnet_loss(model, batch_of(arrays))))
    loss = corrnet_loss(model.train(), batch_of(blank))
    loss.backward()
    assert float(loss.detach()) == 0.0 and float(model.code_bias.grad.abs().sum()) == 0.0


def replace_weight(model: CorrNetAutoencoder, correlation_weight: float) -> CorrNetAutoencoder:
    """The model with another correlation weight in its settings."""
    model.settings = replace(model.settings, correlation_weight=correlation_weight)
    return model


def test_the_correlation_term_uses_only_posts_with_both_views():
    """The correlation term uses only posts with both views."""
    arrays, _ = synthetic_posts(40, seed=5, view_rate=0.6)
    paired = arrays["has_image"] & arrays["has_text"]
    assert 2 <= paired.sum() < 40
    model = tiny_model(replace(TINY, correlation_weight=0.0)).eval()
    batch = batch_of(arrays)
    with torch.no_grad():
        without = corrnet_loss(model, batch)
        with_correlation = corrnet_loss(replace_weight(model, 1.0), batch)
        image_code, text_code, _ = model.encode_views(*(batch[k] for k in ("images", "has_image", "tokens", "has_text")))
    paired_rows = torch.as_tensor(paired)
    expected = mean_correlation(image_code[paired_rows], text_code[paired_rows])
    assert torch.allclose(without - with_correlation, expected, atol=1e-6)
    assert not torch.allclose(expected, mean_correlation(image_code, text_code), atol=1e-3)
    one_pair = np.concatenate([np.flatnonzero(~paired), np.flatnonzero(paired)[:1]])
    single = batch_of({name: array[one_pair] for name, array in arrays.items()})
    with torch.no_grad():
        one, zero = corrnet_loss(replace_weight(model, 1.0), single), corrnet_loss(replace_weight(model, 0.0), single)
    assert one == zero


def test_mean_correlation_is_the_average_pearson_correlation_of_the_columns():
    """Mean correlation is the average pearson correlation of the columns."""
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    assert float(mean_correlation(x, 2 * x + 1)) == pytest.approx(1.0, abs=1e-5)
    assert float(mean_correlation(x, -x)) == pytest.approx(-1.0, abs=1e-5)
    expected = np.mean([np.corrcoef(x[:, 0], x[:, 1])[0, 1], 1.0, np.corrcoef(x[:, 2], x[:, 0])[0, 1]])
    assert float(mean_correlation(x, x[:, [1, 1, 0]])) == pytest.approx(expected, abs=1e-5)
    assert float(mean_correlation(x[:1], x[:1])) == 0.0


def test_content_words_drop_stop_words_numbers_short_tokens_and_links_but_keep_hashtags():
    """Content words drop stop words numbers short tokens and links but keep hashtags."""
    texts = [
        "The #Sunset over the beach was amazing http://t.co/x 2018 ok @ana",
        "Amazing sunset, la playa de Barcelona es preciosa x2",
        "beach beach day at the beach 😀 rock'n roll",
    ]
    documents = WORD_SPACE_TOKENIZER.many(texts)
    vocabulary = content_vocabulary(documents, size=100)
    assert vocabulary[:3] == ("amazing", "beach", "sunset")  # in 2 documents each, ties alphabetical
    assert set(vocabulary[3:]) == {"barcelona", "day", "playa", "preciosa", "roll"}
    assert content_vocabulary(documents, size=2) == ("amazing", "beach")
    # Tokens that keep stop words, placeholders, numbers and the hashtag sign give the same words.
    for tokenizer in (CLASSIFIER_TOKENIZER, TweetTokenizer(hashtags="keep")):
        assert content_vocabulary(tokenizer.many(texts), size=100) == vocabulary
    assert content_vocabulary([["uk", "tv", "bbc", "4ever", "<url>", "#nyc"]], size=10) == ("bbc", "nyc")
    bags = content_bags(documents, vocabulary)
    assert bags.dtype == np.uint8 and bags.shape == (3, len(vocabulary))
    assert bags.sum(1).tolist() == [3, 5, 3]  # each word once per document
    assert bags[2, vocabulary.index("beach")] == 1 and bags[2, vocabulary.index("sunset")] == 0
