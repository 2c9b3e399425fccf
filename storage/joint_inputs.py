"""What paper 002's joint model reads of the warehouse besides texts and images: the weighted mention graph (the
user part) and each post's location key (the location part)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

GEO_CELL_DEGREES = 0.1  # about 11 km: posts with coordinates but no place share a cell


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
        SELECT post_id,
               CASE WHEN place_name IS NOT NULL AND trim(place_name) <> '' THEN 'place:' || lower(trim(place_name))
                    ELSE printf('cell:%.1f,%.1f', floor(lat / {GEO_CELL_DEGREES}) * {GEO_CELL_DEGREES},
                                floor(lon / {GEO_CELL_DEGREES}) * {GEO_CELL_DEGREES}) END AS location
        FROM posts
        WHERE NOT deleted AND ((place_name IS NOT NULL AND trim(place_name) <> '') OR (lat IS NOT NULL AND lon IS NOT NULL))
        ORDER BY post_id
        """
    ).to_arrow_table()
