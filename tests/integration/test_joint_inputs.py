"""The joint model's warehouse inputs on real X API v2 payloads: the weighted mention graph and location keys."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows.cli import main
from storage.joint_inputs import location_keys, mention_graph

pytestmark = pytest.mark.integration


def test_mention_graph_and_locations_from_real_payloads(home: Path, shared_data: Path, prefect_server) -> None:
    pages = shared_data / "api-payloads" / "twitter-v2"
    assert main(["ingest", "twitter-v2", str(pages / "mentions_tweet.jsonl"), str(pages / "geo_tweets.jsonl"),
                 str(pages / "flat.jsonl")]) == 0
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        graph = mention_graph(con).to_pylist()
        expected = con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT m.src_user_id, coalesce(m.dst_user_id, '@' || lower(m.dst_username))"
            " FROM mentions m JOIN posts p USING (post_id) WHERE m.src_user_id IS NOT NULL AND NOT p.deleted)"
        ).fetchall()[0][0]
        places = location_keys(con).to_pylist()
        with_place = con.execute("SELECT count(*) FROM posts WHERE NOT deleted AND (place_name IS NOT NULL "
                                 "OR lat IS NOT NULL)").fetchall()[0][0]
    finally:
        con.close()
    assert len(graph) == expected > 0
    assert all(edge["posts"] >= 1 for edge in graph)
    assert len({(edge["source"], edge["target"]) for edge in graph}) == len(graph)  # one row per edge, weighted
    assert len(places) == with_place > 0
    assert all(p["location"].startswith(("place:", "cell:")) for p in places)
