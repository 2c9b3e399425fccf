"""Incremental curate: which posts a night's changes can affect, so that deciding only those gives a full run's
decisions.

Every rule decides a post from one group of the posts it sees, and nothing outside that group:
- the post alone: empty, min_words, city_spam, require, bbox, and language with fastText or langdetect;
- the author's posts: per_user (counts and ranks), and language with the stack (its author prior);
- the posts with the same normalised text: duplicate;
- the images linked by "within phash_distance bits" (a connected component): near_duplicate_image.
Re-deciding every group that holds a changed post, whole, therefore gives the decisions a full run would.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.filters.arrays import as_numpy
from tasks.filters.config import CurateConfig
from tasks.filters.near_duplicates import parse_phash

GROUP_RULES = ("duplicate", "near_duplicate_image")  # groups that span authors: decided after the others
RULES_VERSION = 1  # bump when a rule decides differently, so that the next curate is a full run


@dataclass(frozen=True)
class RuleStages:
    """The rules split where incremental curate changes its groups: the post and author rules, then each of
    duplicate and near_duplicate_image (a config with only the first part)."""

    head: CurateConfig
    duplicate: CurateConfig | None
    near_duplicate_image: CurateConfig | None


def fingerprint(config: CurateConfig) -> tuple[str, str]:
    """A short hash and the JSON of everything that changes a decision (not the number of processes)."""
    fields = asdict(config)
    fields.pop("processes")
    fields["rules_version"] = RULES_VERSION
    text = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16], text


def full_run_reason(config: CurateConfig) -> str | None:
    """Why ``config`` can only be decided whole: the cross-author rules must come last, in their usual order."""
    tail = tuple(rule for rule in config.rules if rule in GROUP_RULES)
    if config.rules[len(config.rules) - len(tail):] != tail or tail != tuple(r for r in GROUP_RULES if r in tail):
        return "duplicate and near_duplicate_image are not the last rules"
    return None


def stages(config: CurateConfig) -> RuleStages:
    """``config`` as its three stages (``full_run_reason`` must be None)."""
    head = tuple(rule for rule in config.rules if rule not in GROUP_RULES)
    return RuleStages(
        replace(config, rules=head),
        replace(config, rules=("duplicate",)) if "duplicate" in config.rules else None,
        replace(config, rules=("near_duplicate_image",)) if "near_duplicate_image" in config.rules else None,
    )


def needs_authors(config: CurateConfig) -> bool:
    """Whether a changed post can change its author's other posts' decisions (per_user, the stack's prior)."""
    return "per_user" in config.rules or ("language" in config.rules and config.detector.startswith("stack"))


def changed_authors(changed: pa.Table) -> pa.Array:
    """The distinct authors of the changed posts (null authors: those posts stand alone)."""
    return pc.unique(pc.drop_null(changed["author_id"])).cast(pa.string())


def image_hashes(posts: pa.Table) -> tuple[pa.Array, np.ndarray]:
    """(post_id, phash as uint64) of the posts the near_duplicate_image rule compares (an image with a hash)."""
    hashed = pc.fill_null(pc.and_(posts["has_image"], pc.is_valid(posts["image_phash"])), False)
    with_hash = posts.filter(hashed)
    return with_hash["post_id"].combine_chunks().cast(pa.string()), parse_phash(with_hash["image_phash"])


def new_hashes(found: np.ndarray, seen: set[int]) -> np.ndarray:
    """The hashes in ``found`` not in ``seen`` (which then holds them)."""
    fresh = np.array(sorted(set(found.tolist()) - seen), dtype=np.uint64)
    seen.update(fresh.tolist())
    return fresh


def without(post_ids: pa.Array, *excluded: pa.Array) -> pa.Array:
    """``post_ids`` minus every id in ``excluded``."""
    keep = np.ones(len(post_ids), dtype=bool)
    for ids in excluded:
        keep &= ~as_numpy(pc.is_in(post_ids, value_set=ids.cast(pa.string())))
    return post_ids.filter(pa.array(keep))


def union(*post_ids: pa.Array) -> pa.Array:
    """The distinct ids of all of ``post_ids``."""
    arrays = [ids.cast(pa.string()) for ids in post_ids if len(ids)]
    return pc.unique(pa.chunked_array(arrays, pa.string())) if arrays else pa.array([], pa.string())
