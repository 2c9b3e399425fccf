"""Collector cursors and read budgets, written in the same transaction as the page they belong to."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import orjson


def load_cursor(con: duckdb.DuckDBPyConnection, collection: str) -> dict:
    """The cursor the last committed page of ``collection`` left, or {}."""
    rows = con.execute("SELECT cursor FROM collector_state WHERE collection = ?", [collection]).fetchall()
    return orjson.loads(rows[0][0]) if rows and rows[0][0] else {}


def save_cursor(con: duckdb.DuckDBPyConnection, collection: str, platform: str, cursor: dict, run_id: str) -> None:
    """Keep ``cursor`` for ``collection`` (call inside the page's transaction)."""
    con.execute(
        "INSERT INTO collector_state VALUES (?, ?, ?, ?, ?) ON CONFLICT (collection) DO UPDATE SET "
        "cursor = excluded.cursor, updated_at = excluded.updated_at, run_id = excluded.run_id",
        [collection, platform, orjson.dumps(cursor).decode(), datetime.now(UTC), run_id],
    )


def month_of(moment: datetime) -> str:
    """The budget month (YYYY-MM, UTC) of ``moment``."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def posts_read_this_month(con: duckdb.DuckDBPyConnection, platform: str) -> int:
    """Posts all runs read from ``platform`` this calendar month (UTC)."""
    rows = con.execute(
        "SELECT posts_read FROM read_budget WHERE platform = ? AND month = ?", [platform, month_of(datetime.now(UTC))]
    ).fetchall()
    return rows[0][0] if rows else 0


def add_posts_read(con: duckdb.DuckDBPyConnection, platform: str, posts: int) -> None:
    """Count ``posts`` against this month's budget (call inside the page's transaction)."""
    con.execute(
        "INSERT INTO read_budget VALUES (?, ?, ?) ON CONFLICT (platform, month) DO UPDATE SET "
        "posts_read = read_budget.posts_read + excluded.posts_read",
        [platform, month_of(datetime.now(UTC)), posts],
    )


def remote_images(con: duckdb.DuckDBPyConnection, post_ids: list[str]) -> list[tuple[str, int, str]]:
    """(post_id, position, url) of the photos of ``post_ids`` that are not in the media store yet."""
    if not post_ids:
        return []
    placeholders = ", ".join("?" for _ in post_ids)
    return con.execute(
        f"SELECT post_id, position, url FROM media WHERE status = 'remote' AND url IS NOT NULL "
        f"AND coalesce(kind, 'photo') = 'photo' AND post_id IN ({placeholders}) ORDER BY post_id, position",
        post_ids,
    ).fetchall()


def mark_image_stored(con: duckdb.DuckDBPyConnection, post_id: str, position: int, stored) -> None:
    """Record a downloaded image (a StoredImage) on its media row."""
    con.execute(
        "UPDATE media SET sha256 = ?, path = ?, width = ?, height = ?, mime = ?, phash = ?, status = 'stored' "
        "WHERE post_id = ? AND position = ?",
        [stored.sha256, stored.path, stored.width, stored.height, stored.mime, stored.phash, post_id, position],
    )
    con.execute("INSERT INTO curate_changes (post_id) VALUES (?)", [post_id])  # has_image / phash changed
