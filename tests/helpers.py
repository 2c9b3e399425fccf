"""Helpers for tests: read the warehouse, snapshot tables, run the CLI."""

from __future__ import annotations

from pathlib import Path

import duckdb

DATA_TABLES = (
    "posts", "users", "media", "mentions", "post_labels", "deletions", "quarantine", "raw_batches",
    "filter_decisions", "curated_set",
)


def query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of ``sql`` over the warehouse in ``home`` (read-only)."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def snapshot(home: Path, tables: tuple[str, ...] = DATA_TABLES) -> dict[str, list[tuple]]:
    """Every row of every data table, sorted, for before/after comparisons."""
    return {table: query(home, f"SELECT * FROM {table} ORDER BY ALL") for table in tables}


def counts_add_up(home: Path) -> list[tuple]:
    """Runs whose counters do not add up (should be empty)."""
    return query(
        home,
        "SELECT run_id, flow, read, written, duplicates, quarantined, kept, filtered FROM runs WHERE "
        "(flow = 'ingest' AND read <> written + duplicates + quarantined) OR "
        "(flow = 'curate' AND read <> kept + filtered)",
    )

# The demo every integration module that needs one shares (tests/integration/conftest.py: demo_home).
DEMO_POSTS, DEMO_SEED = 1200, 11
