"""What paper 002's joint model reads of the warehouse besides texts and images: the weighted mention graph (the
user part) and each post's location key (the location part)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from storage.learning import FIRST_IMAGE

GEO_CELL_DEGREES = 0.1  # about 11 km: posts with coordinates but no place share a cell
HAS_PLACE = "p.place_name IS NOT NULL AND trim(p.place_name) <> ''"
LOCATION_KEY = f"""
    CASE WHEN {HAS_PLACE} THEN 'place:' || lower(trim(p.place_name))
         WHEN p.lat IS NOT NULL AND p.lon IS NOT NULL
         THEN printf('cell:%.1f,%.1f', floor(p.lat / {GEO_CELL_DEGREES}) * {GEO_CELL_DEGREES},
                     floor(p.lon / {GEO_CELL_DEGREES}) * {GEO_CELL_DEGREES}) END"""


def mention_graph(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """(source, target, posts): user u mentions v in ``posts`` posts that are not deleted. A mentioned account the
    platform did not resolve to an id is its lower-cased handle, ``@name``."""
    return con.sql(
        """
        SELECT m.src_user_id AS source, coalesce(m.dst_user_id, '@' || lower(m.dst_username)) AS target,
               count(DISTINCT m.post_id) AS posts
        FROM mentions m JOIN posts p USING (post_id)
        WHERE NOT p.deleted AND m.src_user_id IS NOT NULL
        GROUP BY ALL ORDER BY ALL
        """
    ).to_arrow_table()


def location_keys(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """(post_id, location): ``place:<name>`` for posts with a place, else ``cell:<lat>,<lon>`` of a
    GEO_CELL_DEGREES grid for posts with coordinates; posts with neither are left out."""
    return con.sql(
        f"""
        SELECT post_id, {LOCATION_KEY} AS location
        FROM posts p
        WHERE NOT deleted AND (({HAS_PLACE}) OR (lat IS NOT NULL AND lon IS NOT NULL))
        ORDER BY post_id
        """
    ).to_arrow_table()


def _joint_source(curated_only: bool) -> str:
    return "curated_posts" if curated_only else "(SELECT * FROM posts WHERE NOT deleted)"


HAS_CONTENT = "((p.text IS NOT NULL AND trim(p.text) <> '') OR i.image_path IS NOT NULL)"


def joint_posts(con: duckdb.DuckDBPyConnection, curated_only: bool, skip: Sequence[Path] = ()) -> pa.Table:
    """(post_id, author_id, text, hashtags, image_path, location, lat, lon, profile_location) of the (curated, not
    deleted) posts with a text or a stored image, in post_id order; ``location`` as in :func:`location_keys` (NULL
    without place or coordinates), ``profile_location`` the author's free-text profile location. Posts the Parquet
    files ``skip`` hold (vectors stored already) are left out in DuckDB, so a nightly embed reads its new posts only."""
    skipped = "AND p.post_id NOT IN (SELECT post_id FROM read_parquet($skip))" if skip else ""
    return con.sql(
        f"""
        WITH {FIRST_IMAGE}
        SELECT p.post_id, p.author_id, p.text, p.hashtags, i.image_path, {LOCATION_KEY} AS location, p.lat, p.lon,
               nullif(trim(u.location), '') AS profile_location
        FROM {_joint_source(curated_only)} p LEFT JOIN first_image i USING (post_id)
        LEFT JOIN users u ON u.user_id = p.author_id
        WHERE {HAS_CONTENT} {skipped}
        ORDER BY p.post_id
        """,
        params={"skip": [str(path) for path in skip]} if skip else None,
    ).to_arrow_table()


def joint_post_count(con: duckdb.DuckDBPyConnection, curated_only: bool) -> int:
    """How many posts :func:`joint_posts` gives without ``skip``: counted, not read."""
    [(count,)] = con.execute(
        f"WITH {FIRST_IMAGE} SELECT count(*) FROM {_joint_source(curated_only)} p "
        f"LEFT JOIN first_image i USING (post_id) WHERE {HAS_CONTENT}").fetchall()
    return int(count)


def location_pool(con: duckdb.DuckDBPyConnection, curated_only: bool, locations: Sequence[str]) -> pa.Table:
    """(post_id, location) of :func:`joint_posts`' posts whose location key is one of ``locations``, in post_id
    order: the posts whose encodings make those locations' means, read without the other columns."""
    wanted = pa.table({"location": pa.array(sorted(set(locations)), pa.string())})  # noqa: F841 - read by DuckDB
    return con.sql(
        f"""
        WITH {FIRST_IMAGE}
        SELECT post_id, location FROM (
            SELECT p.post_id, {LOCATION_KEY} AS location
            FROM {_joint_source(curated_only)} p LEFT JOIN first_image i USING (post_id)
            WHERE {HAS_CONTENT}) SEMI JOIN wanted USING (location)
        ORDER BY post_id
        """
    ).to_arrow_table()


def account_posts(con: duckdb.DuckDBPyConnection, task: str, labelled: bool, newest: int) -> pa.Table:
    """:func:`joint_posts`' columns of each account's ``newest`` posts with a text or an image (not deleted, curated
    or not), accounts with a gold label of ``task`` when ``labelled`` (else those without one), ordered by account
    and then oldest first."""
    return con.sql(
        f"""
        WITH {FIRST_IMAGE},
        gold AS (SELECT DISTINCT user_id FROM user_labels WHERE task = $task),
        chosen AS (
            SELECT p.*, i.image_path,
                   row_number() OVER (PARTITION BY p.author_id
                                      ORDER BY p.created_at DESC NULLS LAST, p.post_id DESC) AS recency
            FROM posts p LEFT JOIN first_image i USING (post_id)
            WHERE NOT p.deleted AND p.author_id IS NOT NULL
              AND ((p.text IS NOT NULL AND trim(p.text) <> '') OR i.image_path IS NOT NULL)
              AND p.author_id {'IN' if labelled else 'NOT IN'} (SELECT user_id FROM gold)
        )
        SELECT p.post_id, p.author_id, p.text, p.hashtags, p.image_path, {LOCATION_KEY} AS location, p.lat, p.lon,
               nullif(trim(u.location), '') AS profile_location
        FROM chosen p LEFT JOIN users u ON u.user_id = p.author_id
        WHERE p.recency <= $newest
        ORDER BY p.author_id, p.recency DESC
        """,
        params={"task": task, "newest": newest},
    ).to_arrow_table()
