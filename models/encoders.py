"""Text and image encoders: each maps a batch to one vector per post and says its size in `output_dim`."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

TEXT_ENCODERS = ("bag-max", "bag-mean", "gru", "lstm")


class EmbeddingBagEncoder(nn.Module):
    """Paper 003's text vector: a lookup table, dropout, then max or mean over the words of the post."""

    def __init__(
        self,
        vocabulary_size: int,
        dimensions: int = 200,
        aggregation: str = "max",
        dropout: float = 0.25,
        initial_vectors: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        if aggregation not in ("max", "mean"):
            raise ValueError(f"aggregation must be 'max' or 'mean', got {aggregation!r}")
        self.embedding = nn.Embedding(vocabulary_size, dimensions, padding_idx=0)
        if initial_vectors is not None:
            self.embedding.weight.data.copy_(torch.as_tensor(initial_vectors, dtype=torch.float32))
        self.dropout = nn.Dropout(dropout)
        self.aggregation = aggregation
        self.output_dim = dimensions

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Max- or mean-pool the embeddings of the tokens that are not padding."""
        present = (token_ids != 0).unsqueeze(-1)
        vectors = self.dropout(self.embedding(token_ids))
        if self.aggregation == "mean":
            return (vectors * present).sum(1) / present.sum(1).clamp(min=1)
        pooled = vectors.masked_fill(~present, float("-inf")).amax(1)
        return torch.where(present.any(1), pooled, torch.zeros_like(pooled))


class RecurrentEncoder(nn.Module):
    """A bidirectional GRU or LSTM over word embeddings; the post vector is the max over time steps."""

    def __init__(
        self,
        vocabulary_size: int,
        dimensions: int = 200,
        hidden: int = 128,
        cell: str = "gru",
        dropout: float = 0.25,
        initial_vectors: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        rnn_types = {"gru": nn.GRU, "lstm": nn.LSTM}
        if cell not in rnn_types:
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        self.embedding = nn.Embedding(vocabulary_size, dimensions, padding_idx=0)
        if initial_vectors is not None:
            self.embedding.weight.data.copy_(torch.as_tensor(initial_vectors, dtype=torch.float32))
        self.dropout = nn.Dropout(dropout)
        self.rnn = rnn_types[cell](dimensions, hidden, batch_first=True, bidirectional=True)
        self.output_dim = 2 * hidden

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Concatenate the last forward and backward states over each text's real length."""
        lengths = (token_ids != 0).sum(1)
        safe_lengths = lengths.clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            self.dropout(self.embedding(token_ids)), safe_lengths, batch_first=True, enforce_sorted=False
        )
        outputs, _ = self.rnn(packed)
        padded, _ = nn.utils.rnn.pad_packed_sequence(
            outputs, batch_first=True, padding_value=float("-inf"), total_length=token_ids.shape[1]
        )
        pooled = padded.amax(1)
        return torch.where((lengths > 0).unsqueeze(-1), pooled, torch.zeros_like(pooled))


class FeatureEncoder(nn.Module):
    """Precomputed vectors (a frozen encoder's) standardised with the training rows' statistics, then dropout.

    The statistics are buffers (saved with the weights), set by `fit_statistics` before training; until then the
    encoder passes the features unchanged.
    """

    def __init__(self, input_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mean", torch.zeros(input_dim))
        self.register_buffer("scale", torch.ones(input_dim))
        self.output_dim = input_dim

    def fit_statistics(self, features: np.ndarray) -> None:
        """Standardise with these rows' per-dimension mean and standard deviation (the train split's)."""
        features = np.asarray(features, dtype=np.float64)
        if len(features) == 0:
            return
        self.mean.copy_(torch.as_tensor(features.mean(0), dtype=torch.float32))
        self.scale.copy_(torch.as_tensor(1.0 / np.maximum(features.std(0), 1e-6), dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The standardised features, with dropout while training."""
        return self.dropout((features.float() - self.mean) * self.scale)


class FeaturesPlusTokensEncoder(nn.Module):
    """Frozen vectors (standardised, projected) beside a trainable token encoder (a bag or an RNN), concatenated.

    Its input packs both into one float tensor: the first `max_tokens` columns are token ids, the rest the frozen
    vectors, so it travels through the batch like any other text input.
    """

    def __init__(self, token_encoder: nn.Module, feature_dim: int, dimensions: int, max_tokens: int,
                 dropout: float = 0.25) -> None:
        super().__init__()
        self.tokens = token_encoder
        self.features = FeatureEncoder(feature_dim, dropout)
        self.projection = nn.Linear(feature_dim, dimensions)
        self.max_tokens = max_tokens
        self.output_dim = token_encoder.output_dim + dimensions

    def fit_statistics(self, packed: np.ndarray) -> None:
        """Standardise the frozen part with the training rows' statistics."""
        self.features.fit_statistics(np.asarray(packed)[:, self.max_tokens :])

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        """The token encoder of the first ``max_tokens`` columns beside the projected vectors of the rest."""
        token_ids = packed[:, : self.max_tokens].long()
        return torch.cat([self.tokens(token_ids), self.projection(self.features(packed[:, self.max_tokens :]))], -1)


class ProjectedFeatures(nn.Module):
    """Frozen vectors standardised, with dropout, and projected to `dimensions` (the text side of the fusions)."""

    def __init__(self, feature_dim: int, dimensions: int, dropout: float = 0.25) -> None:
        super().__init__()
        self.features = FeatureEncoder(feature_dim, dropout)
        self.projection = nn.Linear(feature_dim, dimensions)
        self.output_dim = dimensions

    def fit_statistics(self, features: np.ndarray) -> None:
        """Standardise with the training rows' statistics."""
        self.features.fit_statistics(features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Projected standardised features."""
        return self.projection(self.features(features))


class _BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetImageEncoder(nn.Module):
    """A small ResNet trained from scratch on uint8 images (grey or colour, any square size).

    The stem halves the size once for inputs of 64 px or more; each stage after the first halves it again;
    global average pooling gives a vector of the last stage's width. Training adds random flips and shifts.
    """

    def __init__(
        self,
        channels: int = 3,
        widths: tuple[int, ...] = (32, 64, 128),
        blocks_per_stage: int = 1,
        image_size: int = 64,
        augment: bool = True,
    ) -> None:
        super().__init__()
        stem_stride = 2 if image_size >= 64 else 1
        self.stem = nn.Sequential(
            nn.Conv2d(channels, widths[0], 3, stem_stride, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        layers: list[nn.Module] = []
        in_channels = widths[0]
        for stage, width in enumerate(widths):
            for block in range(blocks_per_stage):
                layers.append(_BasicBlock(in_channels, width, 2 if stage > 0 and block == 0 else 1))
                in_channels = width
        self.stages = nn.Sequential(*layers)
        self.channels, self.image_size, self.augment = channels, image_size, augment
        self.output_dim = widths[-1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalise the uint8 images, augment while training, and pool the last block."""
        x = (images.float() / 255.0 - 0.5) / 0.25
        if self.training and self.augment:
            x = _flip_and_shift(x)
        return self.stages(self.stem(x)).mean(dim=(2, 3))


def _flip_and_shift(x: torch.Tensor, max_shift: int = 4) -> torch.Tensor:
    """Random horizontal flips and translations of up to max_shift pixels (reflection padded)."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (max_shift,) * 4, mode="reflect")
    dx, dy = (int(v) for v in torch.randint(0, 2 * max_shift + 1, (2,)))
    return padded[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]


def _evaluation_mode(network: nn.Module) -> None:
    """eval() for a TorchScript network; a torch.export program is fixed in the mode it was exported in."""
    with contextlib.suppress(NotImplementedError):
        network.eval()


class FrozenBackbone(nn.Module):
    """A pretrained image network (for example TorchScript loaded from a local file), never updated."""

    def __init__(self, network: nn.Module, channels: int, image_size: int) -> None:
        super().__init__()
        self.network = network
        _evaluation_mode(network)
        for parameter in self.network.parameters():
            parameter.requires_grad_(False)
        with torch.no_grad():
            probe = self.network(torch.zeros(2, channels, image_size, image_size))
        self.output_dim = int(probe.reshape(2, -1).shape[1])
        self.channels, self.image_size = channels, image_size

    def train(self, mode: bool = True) -> FrozenBackbone:
        """Stay frozen: the backbone is evaluated in any mode."""
        self.training = mode
        _evaluation_mode(self.network)
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features of the frozen backbone for ImageNet-normalised images."""
        mean = torch.tensor([0.485, 0.456, 0.406][: self.channels], device=images.device).view(1, -1, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225][: self.channels], device=images.device).view(1, -1, 1, 1)
        with torch.no_grad():
            return self.network((images.float() / 255.0 - mean) / std).reshape(images.shape[0], -1)
