"""Paper 000's stacked multimodal autoencoder: a CorrNet over a ResNet image encoder and an LSTM text encoder.

A batch is a dict of tensors: "images" (uint8 N x C x H x W), "has_image" (bool N), "tokens" (int64 N x T word ids),
"has_text" (bool N) and, for training and evaluation, "bag" (N x content words, multi-hot, float32 or uint8).
Pixels and tokens of a missing view are never read.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.encoders import RecurrentEncoder, ResNetImageEncoder
from models.settings import Settings
from models.text import stop_words
from models.training import Arrays, TrainSettings, autocast, predict, row_count, select_device, to_batch

INPUTS = ("images", "has_image", "tokens", "has_text")


@dataclass(frozen=True)
class CorrNetSettings(Settings):
    """The paper's sizes: grey 158 px images, 64 units in every conv layer, 32 in every LSTM layer.

    code_size: the joint hidden layer; the paper does not give it, 64 matches the width of the image features.
    correlation_weight: lambda of the CorrNet objective on the mean per-dimension Pearson correlation (in [-1, 1]).
    At 0.1 the correlation can lower the loss by at most 0.1, less than the errors of a constant reconstruction
    (0.25 for the balanced text error, 0.05 to 0.1 for natural grey images), so it aligns the two views without
    drowning the reconstructions; on synthetic posts lambda = 1 already traded text reconstruction for correlation.
    The three reconstruction paths of a post with both views (from both, from the image, from the text) add up, as
    in CorrNet. Pretrained word vectors stay fixed with freeze_word_vectors; random ones are always trained.
    """

    image_size: int = 158
    channels: int = 1
    conv_width: int = 64
    conv_stages: int = 4
    lstm_hidden: int = 32
    code_size: int = 64
    correlation_weight: float = 0.1
    image_weight: float = 1.0
    text_weight: float = 1.0
    max_tokens: int = 40
    content_words: int = 2000
    freeze_word_vectors: bool = True

    def __post_init__(self) -> None:
        sizes = (self.image_size, self.channels, self.conv_width, self.conv_stages, self.lstm_hidden, self.code_size,
                 self.max_tokens, self.content_words)
        if min(sizes) < 1:
            raise ValueError("every size of the CorrNet settings must be at least 1")
        if self.image_size < 16:
            raise ValueError(f"image_size must be at least 16 pixels, got {self.image_size}")
        if min(self.correlation_weight, self.image_weight, self.text_weight) < 0:
            raise ValueError("the weights of the objective cannot be negative")

    @property
    def halvings(self) -> int:
        """How often the image encoder halves the image: once in the stem from 64 px, once per later stage."""
        return self.conv_stages - 1 + (1 if self.image_size >= 64 else 0)


@dataclass(frozen=True)
class AutoencoderSettings(Settings):
    """The network (paper 000's sizes by default), its training (RMSprop, lr 0.001) and the word vectors.

    Word vectors: word2vec trained from scratch on the training posts (the paper used pretrained 400-d Twitter
    vectors; `word_vectors` takes such a file from a local path, word2vec text or binary format).
    """

    model: CorrNetSettings = field(default_factory=CorrNetSettings)
    train: TrainSettings = field(default_factory=lambda: TrainSettings(
        epochs=20, batch_size=32, learning_rate=0.001, optimizer="rmsprop", patience=4))
    word_dimensions: int = 400
    word_epochs: int = 20
    word_min_count: int = 2
    word_vectors: str | None = None


class CorrNetAutoencoder(nn.Module):
    """Two encoders, CorrNet's joint layer h = tanh(W image + V text + b) and two decoders.

    A missing view adds nothing to h, exactly CorrNet's h(x) = h(x, 0). The image decoder maps h to a
    conv_width x s x s grid and doubles it with transposed convolutions (the last one giving the channels) until it
    covers the image, then resizes to image_size; sigmoid pixels in [0, 1]. The text decoder gives the probability
    of every content word (the paper's nouns and adjectives) in a linear layer and a sigmoid.
    """

    def __init__(
        self,
        settings: CorrNetSettings,
        vocabulary_size: int,
        word_dimensions: int,
        content_vocabulary_size: int,
        initial_vectors: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        if initial_vectors is not None and initial_vectors.shape != (vocabulary_size, word_dimensions):
            raise ValueError(f"initial_vectors must be {vocabulary_size} x {word_dimensions}, "
                             f"got {' x '.join(map(str, initial_vectors.shape))}")
        self.settings = settings
        width = settings.conv_width
        self.image_encoder = ResNetImageEncoder(
            settings.channels, (width,) * settings.conv_stages, image_size=settings.image_size, augment=False
        )
        self.text_encoder = RecurrentEncoder(
            vocabulary_size, word_dimensions, settings.lstm_hidden, "lstm", dropout=0.0, initial_vectors=initial_vectors
        )
        if initial_vectors is not None and settings.freeze_word_vectors:
            self.text_encoder.embedding.weight.requires_grad_(False)
        self.image_projection = nn.Linear(self.image_encoder.output_dim, settings.code_size, bias=False)
        self.text_projection = nn.Linear(self.text_encoder.output_dim, settings.code_size, bias=False)
        self.code_bias = nn.Parameter(torch.zeros(settings.code_size))
        upsamplings = max(1, settings.halvings)
        self.grid = math.ceil(settings.image_size / 2**upsamplings)
        layers: list[nn.Module] = [nn.Linear(settings.code_size, width * self.grid**2), nn.ReLU(),
                                   nn.Unflatten(1, (width, self.grid, self.grid))]
        for step in range(upsamplings):
            last = step == upsamplings - 1
            layers.append(nn.ConvTranspose2d(width, settings.channels if last else width, 4, 2, 1))
            if not last:
                layers.append(nn.ReLU())
        self.image_decoder = nn.Sequential(*layers)
        self.text_decoder = nn.Linear(settings.code_size, content_vocabulary_size)

    def encode_views(
        self, images: torch.Tensor, has_image: torch.Tensor, tokens: torch.Tensor, has_text: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """h(image only), h(text only) and h(both views present), each N x code_size."""
        image = _projected(self.image_encoder, self.image_projection, images, has_image.bool(), self.code_bias)
        text = _projected(self.text_encoder, self.text_projection, tokens, has_text.bool(), self.code_bias)
        return (torch.tanh(image + self.code_bias), torch.tanh(text + self.code_bias),
                torch.tanh(image + text + self.code_bias))

    def encode(
        self, images: torch.Tensor, has_image: torch.Tensor, tokens: torch.Tensor, has_text: torch.Tensor
    ) -> torch.Tensor:
        """The joint code of the views present."""
        return self.encode_views(images, has_image, tokens, has_text)[2]

    def decode_images(self, codes: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1], N x channels x image_size x image_size."""
        size = self.settings.image_size
        grid = self.image_decoder(codes)
        return torch.sigmoid(F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False))

    def decode_text(self, codes: torch.Tensor) -> torch.Tensor:
        """The probability of every content word, N x content words."""
        return torch.sigmoid(self.text_decoder(codes))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The joint code, so `training.predict(model, arrays)` embeds posts."""
        return self.encode(*(batch[name] for name in INPUTS))


def _projected(
    encoder: nn.Module, projection: nn.Module, inputs: torch.Tensor, present: torch.Tensor, like: torch.Tensor
) -> torch.Tensor:
    """projection(encoder(input)) for the rows present, zeros for the others; the encoder sees only present rows."""
    if not bool(present.any()):
        return like.new_zeros((present.shape[0], like.shape[0]))
    values = projection(encoder(inputs[present]))
    projected = values.new_zeros((present.shape[0], values.shape[1]))
    projected[present] = values
    return projected


class _Errors(NamedTuple):
    """Sums of squared errors and their counts for one batch, and the two single-view codes of its paired posts."""

    image_sum: torch.Tensor
    image_count: int
    word_sum: torch.Tensor
    word_count: int
    other_sum: torch.Tensor
    other_count: int
    image_codes: torch.Tensor
    text_codes: torch.Tensor


def _errors(model: CorrNetAutoencoder, batch: dict[str, torch.Tensor]) -> _Errors:
    """Every reconstruction of the CorrNet objective: each view present from h(both); paired views also across."""
    has_image, has_text = batch["has_image"].bool(), batch["has_text"].bool()
    image_code, text_code, both_code = model.encode_views(*(batch[name] for name in INPUTS))
    paired = has_image & has_text
    zero = both_code.float().sum() * 0.0  # in the graph, so a batch of posts without either view still trains
    image_sum, image_count = zero, 0
    if bool(has_image.any()):
        images = batch["images"]
        targets = torch.cat([images[has_image], images[paired], images[paired]]).float() / 255.0
        codes = torch.cat([both_code[has_image], image_code[paired], text_code[paired]])
        image_sum = (model.decode_images(codes).float() - targets).pow(2).sum()
        image_count = targets.numel()
    word_sum, word_count, other_sum, other_count = zero, 0, zero, 0
    if bool(has_text.any()):
        bags = batch["bag"]
        targets = torch.cat([bags[has_text], bags[paired], bags[paired]]).float()
        codes = torch.cat([both_code[has_text], text_code[paired], image_code[paired]])
        squared = (model.decode_text(codes).float() - targets).pow(2)
        word_sum, word_count = (squared * targets).sum(), int(targets.sum())
        other_sum, other_count = (squared * (1 - targets)).sum(), targets.numel() - word_count
    return _Errors(image_sum, image_count, word_sum, word_count, other_sum, other_count,
                   image_code[paired].float(), text_code[paired].float())


def _mean(total: torch.Tensor, count: int) -> torch.Tensor:
    return total / count if count else total


def _text_error(errors: _Errors) -> torch.Tensor:
    """Squared error averaged over the words of the texts and over the other content words, then the two halves.

    The bags are sparse (a few of thousands of words): a plain mean would be lowest for a decoder that predicts no
    word at all, and its sigmoid would stop learning the words that are there.
    """
    if not errors.word_count or not errors.other_count:
        return _mean(errors.word_sum + errors.other_sum, errors.word_count + errors.other_count)
    return (errors.word_sum / errors.word_count + errors.other_sum / errors.other_count) / 2


def mean_correlation(first: torch.Tensor, second: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Pearson correlation of every column of `first` with the same column of `second`, averaged; 0 below 2 rows."""
    if first.shape[0] < 2:
        return first.new_zeros(())
    first, second = first - first.mean(0), second - second.mean(0)
    covariance = (first * second).sum(0)
    scale = (first.pow(2).sum(0) + eps).sqrt() * (second.pow(2).sum(0) + eps).sqrt()
    return (covariance / scale).mean()


def _objective(settings: CorrNetSettings, errors: _Errors) -> dict[str, torch.Tensor]:
    """The objective's terms and their weighted total."""
    image, text = _mean(errors.image_sum, errors.image_count), _text_error(errors)
    correlation = mean_correlation(errors.image_codes, errors.text_codes)
    total = settings.image_weight * image + settings.text_weight * text - settings.correlation_weight * correlation
    return {"image_mse": image, "text_mse": text, "correlation": correlation, "total": total}


def corrnet_loss(model: CorrNetAutoencoder, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """CorrNet's objective: self and cross reconstruction errors minus lambda x the correlation of the two views.

    A view absent from a post is never reconstructed; the correlation is taken over the posts with both views.
    """
    return _objective(model.settings, _errors(model, batch))["total"]


@torch.no_grad()
def reconstruction_error(
    model: CorrNetAutoencoder, arrays: Arrays, batch_size: int = 256, device: str | torch.device = "auto"
) -> dict[str, float]:
    """The objective's terms on held-out posts: image_mse, text_mse (balanced as in training), correlation, total.

    The correlation is taken over all held-out posts with both views, not per batch; `-total` is a validation
    score for `training.fit`.
    """
    device = select_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    inputs = {name: arrays[name] for name in (*INPUTS, "bag")}
    batches = []
    for begin in range(0, row_count(inputs), batch_size):
        batch = to_batch(inputs, np.arange(begin, min(begin + batch_size, row_count(inputs))), device)
        with autocast(device):
            batches.append(_errors(model, batch))
    summed = _Errors(*(sum(getattr(errors, name) for errors in batches) for name in _Errors._fields[:6]),
                     image_codes=torch.cat([errors.image_codes for errors in batches]),
                     text_codes=torch.cat([errors.text_codes for errors in batches]))
    return {name: float(value) for name, value in _objective(model.settings, summed).items()}


def embed(model: CorrNetAutoencoder, arrays: Arrays, batch_size: int = 256, device: str | torch.device = "auto"
          ) -> np.ndarray:
    """The joint code of every post from the views it has, float32 N x code_size."""
    return predict(model, {name: arrays[name] for name in INPUTS}, batch_size, device)


def content_word(token: str) -> str | None:
    """The content word a token stands for (a hashtag counts as its word), or None.

    The paper's decoder reconstructs the nouns and adjectives of a text; with no part-of-speech tagger offline,
    content words approximate them: alphabetic tokens of at least 3 letters that are not en/es/ca stop words.
    Placeholders (<url>, <number>), numbers, emoji and mixed tokens like "4ever" or "don't" are not words here.
    """
    word = token.lstrip("#").lower()
    if len(word) < 3 or not word.isalpha() or word in stop_words():
        return None
    return word


def content_vocabulary(token_lists: Iterable[Sequence[str]], size: int) -> tuple[str, ...]:
    """The `size` content words found in most documents (ties alphabetical); tokens as WORD_SPACE_TOKENIZER gives.

    Any tokenizer's output works: `content_word` drops stop words, URLs, mentions and numbers itself.
    """
    counts = Counter(word for tokens in token_lists for word in {content_word(token) for token in tokens} if word)
    return tuple(sorted(counts, key=lambda word: (-counts[word], word))[:size])


def content_bags(token_lists: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> np.ndarray:
    """Multi-hot uint8 N x len(vocabulary): which content words of the vocabulary each document has."""
    index = {word: position for position, word in enumerate(vocabulary)}
    bags = np.zeros((len(token_lists), len(vocabulary)), dtype=np.uint8)
    for row, tokens in enumerate(token_lists):
        columns = [index[word] for word in map(content_word, tokens) if word in index]
        bags[row, columns] = 1
    return bags
