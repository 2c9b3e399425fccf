"""The pure parts of incremental curate (tasks/filters/incremental.py, near_duplicates.neighbour_probes)."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.filters import CurateConfig
from tasks.filters.incremental import fingerprint, full_run_reason, needs_authors, new_hashes, stages
from tasks.filters.near_duplicates import neighbour_probes


def _matches(probes: dict[str, np.ndarray], stored: np.ndarray, max_distance: int) -> set[tuple[int, int]]:
    """(seed, stored) pairs a table of ``stored`` hashes joined on the probes returns (as images_near's SQL)."""
    found = set()
    for shift, mask, key, seed in zip(probes["shift"], probes["mask"], probes["key"], probes["seed"], strict=True):
        chunk = (stored >> np.uint64(shift)) & mask
        hit = stored[(chunk == key) & (np.bitwise_count(stored ^ seed) <= max_distance)]
        found.update((int(seed), int(h)) for h in hit)
    return found


@pytest.mark.parametrize("max_distance", [0, 2, 4, 6])
def test_probes_find_exactly_the_hashes_within_the_distance(max_distance: int) -> None:
    rng = np.random.default_rng(max_distance)
    seeds = rng.integers(0, 2**63, size=20, dtype=np.uint64)
    near = []  # hashes 0..8 bits away from each seed: some within the distance, some not
    for seed in seeds:
        for bits in range(9):
            flipped = rng.choice(64, size=bits, replace=False)
            near.append(seed ^ np.bitwise_or.reduce(np.uint64(1) << flipped.astype(np.uint64), initial=np.uint64(0)))
    stored = np.concatenate([np.array(near, dtype=np.uint64), rng.integers(0, 2**63, size=2000, dtype=np.uint64)])
    expected = {(int(s), int(h)) for s in seeds for h in stored if int(np.bitwise_count(s ^ h)) <= max_distance}
    assert _matches(neighbour_probes(seeds, max_distance), stored, max_distance) == expected
    assert len(expected) >= len(seeds) * (max_distance + 1)


def test_the_fingerprint_follows_the_options_that_decide() -> None:
    default = fingerprint(CurateConfig())[0]
    assert fingerprint(CurateConfig(processes=8))[0] == default  # how many processes never changes a decision
    assert fingerprint(CurateConfig(min_words=4))[0] != default
    assert fingerprint(CurateConfig(detector="fast"))[0] != default


def test_the_group_rules_must_come_last_for_an_incremental_run() -> None:
    assert full_run_reason(CurateConfig()) is None
    assert full_run_reason(CurateConfig(rules=("empty", "duplicate"))) is None
    assert full_run_reason(CurateConfig(rules=("duplicate", "empty"))) is not None
    assert full_run_reason(CurateConfig(rules=("near_duplicate_image", "duplicate"))) is not None
    split = stages(CurateConfig())
    assert split.head.rules == ("empty", "min_words", "language", "per_user", "city_spam", "require", "bbox")
    assert split.duplicate.rules == ("duplicate",) and split.near_duplicate_image.rules == ("near_duplicate_image",)
    assert stages(CurateConfig(rules=("empty",))).duplicate is None


def test_author_groups_only_when_a_rule_reads_the_author() -> None:
    assert needs_authors(CurateConfig())  # per_user, and the stack's author prior
    assert needs_authors(CurateConfig(rules=("language",)))  # the stack alone
    assert not needs_authors(CurateConfig(rules=("language", "duplicate"), detector="fast"))


def test_new_hashes_are_returned_once() -> None:
    seen: set[int] = set()
    assert new_hashes(np.array([3, 1, 3], dtype=np.uint64), seen).tolist() == [1, 3]
    assert new_hashes(np.array([1, 5], dtype=np.uint64), seen).tolist() == [5]
