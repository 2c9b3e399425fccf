"""Paper 002's joint embedding of a post's five parts: text, image, hashtags, user and location.

Each part has its own branch into one joint space (1024 dimensions by default): the text (without hashtags) through
an embedding layer initialised from word vectors and a GRU, the other four from fixed input vectors (frozen image
features, the mean word vector of the split hashtags, the author's node2vec vector, the mean text encoding of the
posts at the same place) through one fully connected layer each. The loss (paper eq. 2 and 3) is, for every part,
the bidirectional hinge loss with the hardest negative in the batch between the part's embedding and the mean of
the post's part embeddings, cosine similarity, margin 0.2. Posts lack parts: a missing part is masked out of the
mean and out of its own loss term (and never serves as anyone's negative). By default (objective ``others``) the
mean leaves the part itself out: against a mean that includes it a part finds its own post without aligning with
the other parts (measured on MVSA: image <-> text at chance with ``mean``, docs/RESULTS.md).

The baselines of the paper's Tables 2 and 3 are the same network with two parts and the ``pairwise`` objective:
VSE++ (text against image directly, hardest negatives) and VSE++ with the hashtags' words left in the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.joint_options import OBJECTIVES, PARTS
from models.settings import Settings
from models.training import TrainSettings

RECALL_AT = (1, 5, 10)


@dataclass(frozen=True)
class JointSettings(Settings):
    """The joint model: the paper's settings by default (Adam 2e-4, x0.1 after half the epochs, clipping 2,
    batch 128, 30 epochs, margin 0.2, 1024 dimensions)."""

    dimension: int = 1024
    margin: float = 0.2
    word_dimension: int = 300
    text_hidden: int = 1024
    parts: tuple[str, ...] = PARTS
    objective: str = "others"  # others (default, measured best): each part against the mean of the post's other
    # parts; mean: against the mean of all its parts (paper 002, eq. 2-3); pairwise: VSE++ of two parts
    text_input: str = "words"  # words: embedding layer + GRU (the paper); or a frozen sentence encoder's name
    hashtags_in_text: bool = False  # leave the hashtags' words in the text (the "VSE++ with hashtags" baseline)
    image_encoder: str = "efficientnet-lite0"  # frozen image features from the feature store
    location_encoder: str = "e5-small"  # the text encoding averaged over the posts at a place
    max_tokens: int = 48
    min_count: int = 2  # words seen fewer times are unknown to the text branch
    word_epochs: int = 10  # word2vec epochs for the initial word vectors (trained on the warehouse's texts)
    user_dimension: int = 128  # node2vec vectors of the mention graph
    walks_per_node: int = 10
    walk_length: int = 20
    validation_posts: int = 1000  # the validation recalls are over this many held-out posts (the paper's 1K)
    train: TrainSettings = field(default_factory=lambda: TrainSettings(
        epochs=30, batch_size=128, learning_rate=2e-4, patience=30, clip_norm=2.0, decay_at=(15,)))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.parts) - set(PARTS))
        if unknown or len(set(self.parts)) != len(self.parts) or len(self.parts) < 2:
            raise ValueError(f"parts: at least two of {', '.join(PARTS)}, each once (got {', '.join(self.parts)})")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.objective == "pairwise" and len(self.parts) != 2:
            raise ValueError("the pairwise objective (VSE++) takes exactly two parts, e.g. text,image")

    def with_decay_at_half(self) -> JointSettings:
        """The paper's schedule for any number of epochs: x0.1 after half of them."""
        return replace(self, train=replace(self.train, decay_at=(max(1, self.train.epochs // 2),)))


def hardest_negative_loss(parts: torch.Tensor, present: torch.Tensor, margin: float,
                          leave_out: bool = False) -> torch.Tensor:
    """Paper eq. 2 summed over parts (eq. 3), each part against the mean of its post's present parts (with
    ``leave_out``: of its post's *other* present parts, so a part cannot match its post through itself).

    ``parts``: (P, B, D) embeddings, L2-normalised; ``present``: (P, B) booleans. Returns the summed loss divided
    by the batch size. A post's mean is taken over its present parts; a part absent from a post contributes no
    term and is no negative. Cosine similarity (the vectors are unit length, the means are normalised).
    """
    weights = present.to(parts.dtype).unsqueeze(-1)
    summed = (parts * weights).sum(0)  # (B, D): the sum of each post's present parts
    counts = present.sum(0)
    total = parts.new_zeros(())
    for index in range(parts.shape[0]):
        if leave_out:  # a post whose only part this is has no others to match
            mean, rows = F.normalize(summed - parts[index] * weights[index], dim=-1), present[index] & (counts > 1)
        else:
            mean, rows = F.normalize(summed, dim=-1), present[index]
        total = total + _bidirectional_hinge(parts[index][rows], mean[rows], margin)
    return total / parts.shape[1]


def pairwise_loss(parts: torch.Tensor, present: torch.Tensor, margin: float) -> torch.Tensor:
    """VSE++ (the baselines): the hardest-negative hinge between the two parts directly, over the posts that have
    both; summed and divided by the batch size."""
    rows = present[0] & present[1]
    return _bidirectional_hinge(parts[0][rows], parts[1][rows], margin) / parts.shape[1]


def _bidirectional_hinge(left: torch.Tensor, right: torch.Tensor, margin: float) -> torch.Tensor:
    """Sum over rows of the hinge with the hardest negative in both directions (row i of each side matches)."""
    if len(left) < 2:
        return left.new_zeros(())
    scores = left @ right.T  # (n, n): left i against right j
    positive = scores.diagonal()
    blocked = torch.eye(len(positive), dtype=torch.bool, device=scores.device)
    negatives = scores.masked_fill(blocked, float("-inf"))
    hardest_right = negatives.max(dim=1).values  # the closest other right to each left
    hardest_left = negatives.max(dim=0).values  # the closest other left to each right
    return ((margin - positive + hardest_right).clamp_min(0).sum()
            + (margin - positive + hardest_left).clamp_min(0).sum())


def joint_loss(settings: JointSettings, parts: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """The settings' objective on (P, B, D) embeddings and (P, B) presence."""
    if settings.objective == "pairwise":
        return pairwise_loss(parts, present, settings.margin)
    return hardest_negative_loss(parts, present, settings.margin, leave_out=settings.objective == "others")


def post_vectors(parts: np.ndarray, present: np.ndarray, leave_out: int | None = None) -> np.ndarray:
    """(B, D) unit vectors: the mean of each post's present parts (``leave_out``: without that part); zero rows
    for posts with no such part."""
    weights = present.astype(np.float32)
    if leave_out is not None:
        weights[leave_out] = 0
    mean = (parts * weights[..., None]).sum(0)
    norms = np.linalg.norm(mean, axis=1, keepdims=True)
    return np.divide(mean, norms, out=np.zeros_like(mean), where=norms > 0)


def ranks(queries: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of target i among all targets for query i (cosine; the vectors are unit length)."""
    scores = queries @ targets.T
    return (scores > scores.diagonal()[:, None]).sum(1) + 1


def recall_summary(found: np.ndarray) -> dict[str, float]:
    """R@1, R@5, R@10 (in %) and the median rank of 1-based ranks."""
    summary = {f"r{k}": float((found <= k).mean() * 100) for k in RECALL_AT}
    summary["median_rank"] = float(np.median(found))
    return summary


def recall_sum(parts: np.ndarray, present: np.ndarray, settings: JointSettings) -> float:
    """The validation score: R@1 + R@5 + R@10 in both directions, for pairwise the two parts against each other,
    otherwise each part against the mean of the post's other parts, summed over the parts."""
    pairs = ([(0, 1)] if settings.objective == "pairwise" else
             [(index, None) for index in range(len(settings.parts))])
    total = 0.0
    for index, other in pairs:
        targets = parts[other] if other is not None else post_vectors(parts, present, leave_out=index)
        rows = present[index] & (present[other] if other is not None else present.sum(0) - present[index] > 0)
        if rows.sum() < 2:
            continue
        for queries, keys in ((parts[index][rows], targets[rows]), (targets[rows], parts[index][rows])):
            summary = recall_summary(ranks(queries, keys))
            total += sum(summary[f"r{k}"] for k in RECALL_AT)
    return total


class JointEmbedding(nn.Module):
    """The five branches into the joint space; inputs of absent parts are ignored (masked in the loss)."""

    def __init__(self, settings: JointSettings, vocabulary_size: int, input_dimensions: dict[str, int],
                 word_vectors: torch.Tensor | None = None) -> None:
        """``input_dimensions``: the vector size of each non-text part; ``word_vectors`` initialise the text
        embedding layer (vocabulary_size x word_dimension)."""
        super().__init__()
        self.settings = settings
        self.reads_words = "text" in settings.parts and settings.text_input == "words"
        if self.reads_words:
            self.words = nn.Embedding(vocabulary_size, settings.word_dimension, padding_idx=0)
            if word_vectors is not None:
                with torch.no_grad():
                    self.words.weight.copy_(word_vectors)
            self.gru = nn.GRU(settings.word_dimension, settings.text_hidden, batch_first=True)
            self.text_norm = nn.BatchNorm1d(settings.text_hidden)  # the GRU's states share a direction too
            self.text_head = nn.Linear(settings.text_hidden, settings.dimension)
        self.heads = nn.ModuleDict({
            part: nn.Linear(input_dimensions[part], settings.dimension)
            for part in settings.parts if part != "text" or not self.reads_words
        })
        # Frozen inputs share a large common direction (word2vec means, sentence encoders' vectors): left in, every
        # post maps to nearly the same point and the hinge loss collapses. Each part's input is standardised with
        # the training posts' mean and spread (set by `standardise`, saved with the weights).
        for part in self.heads:
            self.register_buffer(f"{part}_mean", torch.zeros(input_dimensions[part]))
            self.register_buffer(f"{part}_scale", torch.ones(input_dimensions[part]))

    def standardise(self, part: str, inputs: torch.Tensor) -> None:
        """Set a part's input mean and spread from (n, input dimension) training inputs of posts that have it."""
        if len(inputs) < 2:
            return
        getattr(self, f"{part}_mean").copy_(inputs.mean(0))
        getattr(self, f"{part}_scale").copy_(inputs.std(0).clamp_min(1e-6))

    def encode_text(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids (0 = padding) -> (B, D) unit vectors: the GRU's last state through the text head."""
        packed = nn.utils.rnn.pack_padded_sequence(self.words(tokens), lengths.clamp_min(1).cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, last = self.gru(packed)
        state, norm = last[-1], self.text_norm
        if self.training and len(state) < 2:  # a one-post last batch: no batch statistics, use the running ones
            normed = F.batch_norm(state, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0,
                                  norm.eps)
        else:
            normed = norm(state)
        return F.normalize(self.text_head(normed), dim=-1)

    def encode(self, part: str, vectors: torch.Tensor) -> torch.Tensor:
        """(B, input dimension) -> (B, D) unit vectors for a non-text part."""
        standardised = (vectors - getattr(self, f"{part}_mean")) / getattr(self, f"{part}_scale")
        return F.normalize(self.heads[part](standardised), dim=-1)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(P, B, D): every part's embedding, in ``settings.parts`` order (absent parts give junk, masked later)."""
        embedded = [self.encode_text(tokens, lengths) if part == "text" and self.reads_words
                     else self.encode(part, inputs[part]) for part in self.settings.parts]
        return torch.stack(embedded)
