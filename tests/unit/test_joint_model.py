"""Paper 002's joint embedding: the masked hardest-negative loss on hand-made vectors, and the network's shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.joint import (
    PARTS,
    JointEmbedding,
    JointSettings,
    hardest_negative_loss,
    pairwise_loss,
    post_vectors,
    ranks,
    recall_sum,
    recall_summary,
)
from models.metrics import ranking_scores


def unit(*rows: list[float]) -> torch.Tensor:
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


def test_aligned_parts_far_from_other_posts_cost_nothing() -> None:
    post_a, post_b = [1.0, 0.0], [0.0, 1.0]
    parts = torch.stack([unit(post_a, post_b), unit(post_a, post_b)])  # two parts, two posts, all aligned
    present = torch.ones(2, 2, dtype=torch.bool)
    assert hardest_negative_loss(parts, present, margin=0.2).item() == 0.0


def test_leaving_a_part_out_of_its_own_mean_makes_the_parts_align() -> None:
    # texts and images in orthogonal subspaces, nothing aligned across them: against the mean that includes itself
    # every part still finds its own post (loss 0, the failure seen on MVSA: image <-> text at chance); against the
    # mean of the other parts it cannot, so the loss asks for alignment: margin 0.2, two directions, 3 posts, 2 parts
    eye = torch.eye(6)
    parts = torch.stack([eye[:3], eye[3:]])  # part 0 of post i is e_i, part 1 is e_(3+i)
    present = torch.ones(2, 3, dtype=torch.bool)
    assert hardest_negative_loss(parts, present, margin=0.2).item() == 0.0
    assert hardest_negative_loss(parts, present, margin=0.2, leave_out=True).item() == pytest.approx(2 * 2 * 3 * 0.2 / 3)
    aligned = torch.stack([eye[:3], eye[:3]])
    assert hardest_negative_loss(aligned, present, margin=0.2, leave_out=True).item() == 0.0
    alone = torch.tensor([[True, True, True], [False, False, False]])  # a part alone in its post has no others
    assert hardest_negative_loss(parts, alone, margin=0.2, leave_out=True).item() == 0.0


def test_the_hardest_negative_sets_the_hinge() -> None:
    # one part, three posts; post 0's part sits between its own mean and post 1's
    parts = torch.stack([unit([1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]), unit([0.6, 0.8], [0.0, 1.0], [-1.0, 0.0])])
    present = torch.tensor([[True, True, True], [True, True, True]])
    loss = hardest_negative_loss(parts, present, margin=0.2)
    weights = present.float().unsqueeze(-1)
    mean = F.normalize((parts * weights).sum(0), dim=-1)
    expected = 0.0
    for p in range(2):
        scores = parts[p] @ mean.T
        for i in range(3):
            others = [j for j in range(3) if j != i]
            expected += max(0.0, 0.2 - scores[i, i].item() + max(scores[i, j].item() for j in others))
            expected += max(0.0, 0.2 - scores[i, i].item() + max(scores[j, i].item() for j in others))
    assert abs(loss.item() - expected / 3) < 1e-6 and loss.item() > 0


def test_an_absent_part_changes_neither_the_mean_nor_the_loss() -> None:
    torch.manual_seed(0)
    parts = F.normalize(torch.randn(3, 5, 8), dim=-1)
    present = torch.ones(3, 5, dtype=torch.bool)
    present[2, 1] = False
    changed = parts.clone()
    changed[2, 1] = F.normalize(torch.randn(8), dim=0)  # whatever an absent part's branch outputs
    assert torch.isclose(hardest_negative_loss(parts, present, 0.2), hardest_negative_loss(changed, present, 0.2))
    all_present = torch.ones(3, 5, dtype=torch.bool)
    assert not torch.isclose(hardest_negative_loss(parts, all_present, 0.2),
                             hardest_negative_loss(changed, all_present, 0.2))


def test_the_network_embeds_every_part_in_one_space_and_learns() -> None:
    torch.manual_seed(0)
    settings = JointSettings(dimension=16, word_dimension=8, text_hidden=12)
    dims = {"image": 10, "hashtags": 8, "user": 6, "location": 16}
    model = JointEmbedding(settings, vocabulary_size=30, input_dimensions=dims, word_vectors=torch.randn(30, 8))
    tokens = torch.randint(1, 30, (6, 7))
    lengths = torch.tensor([7, 5, 3, 7, 1, 2])
    inputs = {part: torch.randn(6, size) for part, size in dims.items()}
    present = torch.ones(len(PARTS), 6, dtype=torch.bool)
    present[1, :3] = False  # three posts without an image
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        embedded = model(tokens, lengths, inputs)
        loss = hardest_negative_loss(embedded, present, settings.margin)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert embedded.shape == (len(PARTS), 6, 16)
    assert torch.allclose(embedded.norm(dim=-1), torch.ones(len(PARTS), 6), atol=1e-5)
    assert losses[-1] < 0.5 * losses[0]


def test_pairwise_loss_is_vse_between_the_two_parts_only() -> None:
    torch.manual_seed(1)
    parts = F.normalize(torch.randn(2, 4, 6), dim=-1)
    present = torch.ones(2, 4, dtype=torch.bool)
    scores = parts[0] @ parts[1].T
    expected = 0.0
    for i in range(4):
        others = [j for j in range(4) if j != i]
        expected += max(0.0, 0.2 - scores[i, i].item() + max(scores[i, j].item() for j in others))
        expected += max(0.0, 0.2 - scores[i, i].item() + max(scores[j, i].item() for j in others))
    assert abs(pairwise_loss(parts, present, 0.2).item() - expected / 4) < 1e-6
    present[1, 3] = False  # post 3 lacks the second part: out of the loss, no negative for anyone
    kept = pairwise_loss(parts[:, :3], torch.ones(2, 3, dtype=torch.bool), 0.2).item() * 3 / 4
    assert abs(pairwise_loss(parts, present, 0.2).item() - kept) < 1e-6


def test_ranks_recalls_and_median_rank_by_hand() -> None:
    queries = np.eye(3, dtype=np.float32)
    targets = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 0.5, 1]], dtype=np.float32)
    # query 1 scores its own target 0.1 and target 2 0.5: rank 2; query 0 ties 1.0 vs 0.9: rank 1
    assert ranks(queries, targets).tolist() == [1, 2, 1]
    summary = recall_summary(np.array([1, 2, 7, 12]))
    assert summary == {"r1": 25.0, "r5": 50.0, "r10": 75.0, "median_rank": 4.5}


def test_post_vectors_average_the_present_parts_and_can_leave_one_out() -> None:
    parts = np.array([[[1.0, 0.0]], [[0.0, 1.0]], [[0.0, -1.0]]], dtype=np.float32)  # 3 parts, 1 post
    present = np.array([[True], [True], [False]])
    np.testing.assert_allclose(post_vectors(parts, present), [[2 ** -0.5, 2 ** -0.5]], rtol=1e-6)
    np.testing.assert_allclose(post_vectors(parts, present, leave_out=0), [[0.0, 1.0]])
    assert not post_vectors(parts, np.zeros((3, 1), bool)).any()


def test_perfectly_aligned_parts_score_the_maximum_recall_sum() -> None:
    settings = JointSettings(parts=("text", "image"))
    aligned = np.stack([np.eye(12, dtype=np.float32)] * 2)
    present = np.ones((2, 12), dtype=bool)
    assert recall_sum(aligned, present, settings) == 2 * 2 * 300  # two parts x two directions x (100 + 100 + 100)
    opposite = aligned.copy()
    opposite[1] = -opposite[1]  # every post's image is the farthest from its own text
    assert recall_sum(opposite, present, settings) == 0  # every own target ranks 12th of 12



def test_settings_refuse_impossible_combinations() -> None:
    for wrong in ({"parts": ("text",)}, {"parts": ("text", "audio")}, {"objective": "pairwise"},
                  {"objective": "nearest"}):
        with pytest.raises(ValueError):
            JointSettings(**wrong)
    assert JointSettings(train=JointSettings().train.__class__(epochs=8)).with_decay_at_half().train.decay_at == (4,)


def test_ranking_scores_by_hand() -> None:
    predicted = [["a", "b", "c"], ["x", "a", "y"]]
    gold = [{"a", "c"}, {"a"}]
    scores = ranking_scores(predicted, gold, (1, 3))
    assert scores["p@1"] == 0.5 and scores["r@1"] == 0.25  # post 1: a is right (1 of 2 gold); post 2: x is not
    assert scores["p@3"] == pytest.approx((2 / 3 + 1 / 3) / 2) and scores["r@3"] == 1.0
    assert scores["f1@3"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)


def test_standardised_inputs_do_not_collapse_to_one_point() -> None:
    """Frozen inputs with a large shared direction (sentence encoders, mean word vectors) map to nearly one point
    unless standardised on the training posts."""
    torch.manual_seed(0)
    settings = JointSettings(parts=("image", "location"), dimension=16)
    inputs = torch.randn(1, 12) * 10 + torch.randn(64, 12) * 0.1  # one shared direction, small differences
    model = JointEmbedding(settings, vocabulary_size=2, input_dimensions={"image": 12, "location": 12})

    def mean_cosine() -> float:
        vectors = model.encode("image", inputs)
        sims = vectors @ vectors.T
        return float(sims[~torch.eye(64, dtype=torch.bool)].mean())

    assert mean_cosine() > 0.9
    model.standardise("image", inputs)
    assert abs(mean_cosine()) < 0.2


def test_a_one_post_batch_trains_through_the_text_branch() -> None:
    model = JointEmbedding(JointSettings(dimension=8, word_dimension=4, text_hidden=6), 10, {
        "image": 3, "hashtags": 4, "user": 2, "location": 5}).train()
    vector = model.encode_text(torch.tensor([[2, 3, 0]]), torch.tensor([2]))
    assert vector.shape == (1, 8) and torch.isfinite(vector).all()
