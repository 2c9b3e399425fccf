"""Paper 002's joint embedding of a post's five parts: text, image, hashtags, user and location.

Each part has its own branch into one joint space (1024 dimensions by default): the text (without hashtags) through
an embedding layer initialised from word vectors and a GRU, the other four from fixed input vectors (frozen image
features, the mean word vector of the split hashtags, the author's node2vec vector, the mean text encoding of the
posts at the same place) through one fully connected layer each. The loss (paper eq. 2 and 3) is, for every part,
the bidirectional hinge loss with the hardest negative in the batch between the part's embedding and the mean of
the post's part embeddings, cosine similarity, margin 0.2. Posts lack parts: a missing part is masked out of the
mean and out of its own loss term (and never serves as anyone's negative).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from models.settings import Settings
from models.training import TrainSettings

PARTS = ("text", "image", "hashtags", "user", "location")


@dataclass(frozen=True)
class JointSettings(Settings):
    """The joint model: the paper's settings by default (Adam 2e-4, x0.1 after half the epochs, clipping 2,
    batch 128, 30 epochs, margin 0.2, 1024 dimensions)."""

    dimension: int = 1024
    margin: float = 0.2
    word_dimension: int = 300
    text_hidden: int = 1024
    parts: tuple[str, ...] = PARTS
    train: TrainSettings = field(default_factory=lambda: TrainSettings(
        epochs=30, batch_size=128, learning_rate=2e-4, patience=30, clip_norm=2.0, decay_at=(15,)))


def hardest_negative_loss(parts: torch.Tensor, present: torch.Tensor, margin: float) -> torch.Tensor:
    """Paper eq. 2 summed over parts (eq. 3), each part against the mean of its post's present parts.

    ``parts``: (P, B, D) embeddings, L2-normalised; ``present``: (P, B) booleans. Returns the summed loss divided
    by the batch size. A post's mean is taken over its present parts; a part absent from a post contributes no
    term and is no negative. Cosine similarity (the vectors are unit length, the means are normalised).
    """
    weights = present.to(parts.dtype).unsqueeze(-1)
    mean = F.normalize((parts * weights).sum(0) / weights.sum(0).clamp_min(1.0), dim=-1)  # (B, D)
    has_any = present.any(0)
    total = parts.new_zeros(())
    for index in range(parts.shape[0]):
        rows = present[index] & has_any
        if rows.sum() < 2:
            continue
        component, average = parts[index][rows], mean[rows]
        scores = component @ average.T  # (n, n): component i against post j's mean
        positive = scores.diagonal()
        blocked = torch.eye(len(positive), dtype=torch.bool, device=scores.device)
        negatives = scores.masked_fill(blocked, float("-inf"))
        hardest_mean = negatives.max(dim=1).values  # the closest other post's mean to each component
        hardest_component = negatives.max(dim=0).values  # the closest other component to each mean
        total = total + (margin - positive + hardest_mean).clamp_min(0).sum()
        total = total + (margin - positive + hardest_component).clamp_min(0).sum()
    return total / parts.shape[1]


class JointEmbedding(nn.Module):
    """The five branches into the joint space; inputs of absent parts are ignored (masked in the loss)."""

    def __init__(self, settings: JointSettings, vocabulary_size: int, input_dimensions: dict[str, int],
                 word_vectors: torch.Tensor | None = None) -> None:
        """``input_dimensions``: the vector size of each non-text part; ``word_vectors`` initialise the text
        embedding layer (vocabulary_size x word_dimension)."""
        super().__init__()
        self.settings = settings
        self.words = nn.Embedding(vocabulary_size, settings.word_dimension, padding_idx=0)
        if word_vectors is not None:
            with torch.no_grad():
                self.words.weight.copy_(word_vectors)
        self.gru = nn.GRU(settings.word_dimension, settings.text_hidden, batch_first=True)
        self.text_head = nn.Linear(settings.text_hidden, settings.dimension)
        self.heads = nn.ModuleDict({
            part: nn.Linear(input_dimensions[part], settings.dimension)
            for part in settings.parts if part != "text"
        })

    def encode_text(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids (0 = padding) -> (B, D) unit vectors: the GRU's last state through the text head."""
        packed = nn.utils.rnn.pack_padded_sequence(self.words(tokens), lengths.clamp_min(1).cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, last = self.gru(packed)
        return F.normalize(self.text_head(last[-1]), dim=-1)

    def encode(self, part: str, vectors: torch.Tensor) -> torch.Tensor:
        """(B, input dimension) -> (B, D) unit vectors for a non-text part."""
        return F.normalize(self.heads[part](vectors), dim=-1)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(P, B, D): every part's embedding, in ``settings.parts`` order (absent parts give junk, masked later)."""
        embedded = [self.encode_text(tokens, lengths) if part == "text" else self.encode(part, inputs[part])
                    for part in self.settings.parts]
        return torch.stack(embedded)
