"""Which names are temporary files or notes of a process (storage/leftovers.py), and whose."""

from __future__ import annotations

import pytest

from storage.leftovers import owner_pid


@pytest.mark.parametrize(("name", "pid"), [
    (".batch-0a1b.parquet.123.tmp", 123),  # raw zone, media store, figures, demo staging folder
    (".part-9f.45.partial", 45),  # embeddings, clusterers
    ("checkpoint.pt.partial-6", 6),  # model checkpoints, dataset snapshots, image cache
    ("text.partial-78.npy", 78),  # arrays beside snapshots, word queries
    (".download.90.k2j3.jpg", 90),  # a downloaded image before it is stored
    (".space.11.old", 11),  # a word space being replaced
    ("warehouse.duckdb.waiting.12.140001", 12),  # a waiter's note
    ("warehouse.writer.13", 13),  # a writer's note before its rename
])
def test_temporary_names_carry_their_pid(name: str, pid: int) -> None:
    assert owner_pid(name) == pid


@pytest.mark.parametrize("name", [
    "batch-0a1b.parquet", "warehouse.duckdb", "warehouse.duckdb.wal", "warehouse.writer", ".hidden", "model.pt",
    "warehouse.duckdb.finish.7c1e.json", "date=2026-01-01", ".batch.parquet.tmp",
])
def test_finished_files_are_no_leftovers(name: str) -> None:
    assert owner_pid(name) is None
