"""Embedding parts on disk and the `embeddings` view (real Parquet files and a real DuckDB connection)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from storage import embeddings
from storage.home import Home


def _view_rows(home: Home) -> list[tuple]:
    con = duckdb.connect()
    try:
        embeddings.refresh_view(con, home)
        return con.execute("SELECT post_id, model_id, len(vector), run_id FROM embeddings ORDER BY 1").fetchall()
    finally:
        con.close()


def test_parts_of_one_run_never_replace_each_other(tmp_path: Path) -> None:
    """Parts of one run never replace each other."""
    home = Home(tmp_path)
    vectors = np.ones((2, 3), dtype=np.float32)
    first = embeddings.write_part(home, "m", "run-1", ["a", "b"], vectors)
    second = embeddings.write_part(home, "m", "run-1", ["c", "d"], vectors)  # e.g. a retried run
    assert first != second and first.exists() and second.exists()
    assert embeddings.embedded_post_ids(home, "m") == {"a", "b", "c", "d"}
    assert embeddings.embedded_post_ids(home, "m", {second.name}) == {"c", "d"}
    assert _view_rows(home) == [(p, "m", 3, "run-1") for p in "abcd"]
    assert embeddings.write_part(home, "m", "run-2", [], np.zeros((0, 3))) is None


def test_half_written_files_are_not_read_and_an_emptied_view_still_answers(tmp_path: Path) -> None:
    """Half written files are not read and an emptied view still answers."""
    home = Home(tmp_path)
    embeddings.write_part(home, "m", "run-1", ["a"], np.zeros((1, 4), dtype=np.float32))
    (home.embeddings / "m" / ".part-x.123.partial").write_bytes(b"PAR1 truncated")
    assert [row[0] for row in _view_rows(home)] == ["a"]
    embeddings.drop_model(home, "m")
    assert embeddings.embedded_post_ids(home, "m") == set()
    assert _view_rows(home) == []


def test_embed_reads_only_the_posts_without_a_vector(tmp_path: Path) -> None:
    """The texts a nightly embed reads are those of its new posts: stored vectors are left out in SQL."""
    from storage import learning, warehouse

    home = Home(tmp_path)
    first = embeddings.write_part(home, "m", "run-1", ["p1", "p2"], np.ones((2, 3), dtype=np.float32))
    second = embeddings.write_part(home, "m", "run-2", ["p3"], np.ones((1, 3), dtype=np.float32))
    with warehouse.writer(home.warehouse, publish=False) as con:
        rows = [("p1", "one"), ("p2", "two"), ("p3", "three"), ("p4", "four"), ("p5", "  "), ("p6", None),
                ("p7", "gone")]
        for post_id, text in rows:
            con.execute("INSERT INTO posts (post_id, platform, native_id, text, deleted, run_id, ingested_at) "
                        "VALUES (?, 'x', ?, ?, ?, 'r', now())", [post_id, post_id, text, post_id == "p7"])
        con.execute("INSERT INTO media (post_id, position, status, path, run_id) "
                    "VALUES ('p6', 0, 'stored', 'media/p6.jpg', 'r')")
        new = learning.posts_with_content(con, False, skip=embeddings.part_paths(home, "m"))
        assert new.column("post_id").to_pylist() == ["p4", "p6"]  # p5 has no content, p7 is deleted
        assert learning.posts_with_content(con, False, skip=[first]).column("post_id").to_pylist() == ["p3", "p4",
                                                                                                       "p6"]
        assert learning.posts_with_content(con, False).num_rows == 5
        assert learning.content_counts(con, False) == (5, 1)
    assert embeddings.part_paths(home, "m") == sorted([first, second])
    assert embeddings.embedded_count(home, "m") == 3


def test_featurize_reads_only_the_posts_an_encoder_has_no_row_for(tmp_path: Path) -> None:
    """A nightly featurize reads the texts of its new posts only: stored rows (vectors and problems) are left out
    in SQL, and the posts considered are counted without being read."""
    from storage import features, warehouse
    from tasks.featurize import featurize_new_posts

    home = Home(tmp_path)
    features.write_features(home, "e5-small", "run-1", ["p1", "p2"], np.ones((2, 3), dtype=np.float32),
                            [None, "text could not be encoded"])
    with warehouse.writer(home.warehouse, publish=False) as con:
        for post_id, text, lat in [("p1", "one", None), ("p2", "two", 41.4), ("p3", None, 41.4), ("p4", " ", None),
                                   ("p5", "gone", 41.4)]:
            con.execute("INSERT INTO posts (post_id, platform, native_id, text, lat, lon, deleted, run_id, ingested_at) "
                        "VALUES (?, 'x', ?, ?, ?, 2.2, ?, 'r', now())", [post_id, post_id, text, lat, post_id == "p5"])
        parts = features.part_paths(home, "e5-small")
        assert features.posts_to_featurize(con, False, skip=parts).column("post_id").to_pylist() == ["p3", "p4"]
        assert features.posts_to_featurize(con, False, True, skip=parts).column("post_id").to_pylist() == ["p3"]
        assert features.featurize_candidates(con, False) == 4
        assert features.featurize_candidates(con, False, located_only=True) == 2

    # the new posts have no text (nothing to encode, no model to load); the counts add up without reading p1, p2
    run = featurize_new_posts(home, "e5-small", "run-2", curated_only=False)
    assert (run.posts, run.already, run.encoded, run.unreadable, run.without_input) == (4, 2, 0, 0, 2)
