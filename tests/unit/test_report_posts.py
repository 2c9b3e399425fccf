"""The posts a clustering report shows are chosen in SQL (real DuckDB file): a seeded sample, every
representative post and each cluster's first posts with an image; the report never reads the rest."""

from __future__ import annotations

from pathlib import Path

from storage import clusters, warehouse


def test_the_report_reads_a_sample_the_representatives_and_each_clusters_first_images(tmp_path: Path) -> None:
    with warehouse.writer(tmp_path / "warehouse.duckdb", publish=False) as con:
        for number in range(40):
            post_id = f"x:{number:02d}"
            con.execute("INSERT INTO posts (post_id, platform, native_id, text, deleted, run_id, ingested_at) "
                        "VALUES (?, 'x', ?, 'text', ?, 'r', now())", [post_id, post_id, number == 39])
            con.execute("INSERT INTO cluster_assignments VALUES ('run-a', ?, ?, 0, 0, 'fit', now())",
                        [post_id, number % 2])
            con.execute("INSERT INTO cluster_assignments VALUES ('run-b', ?, 0, 0, 0, 'fit', now())", [post_id])
            if number in (5, 7, 9, 30, 31):  # cluster 1's first two with an image: 5 and 7; cluster 0's: 30
                con.execute("INSERT INTO media (post_id, position, status, path, run_id) "
                            "VALUES (?, 0, 'stored', ?, 'r')", [post_id, f"media/{number}.jpg"])

        posts, total = clusters.report_posts(con, "run-a", 4, ["x:12", "x:39"], 2)
        again, _ = clusters.report_posts(con, "run-a", 4, ["x:12", "x:39"], 2)
        everything, _ = clusters.report_posts(con, "run-a", 100, [], 2)

    assert total == 39  # the deleted post is not the run's any more
    chosen = posts.column("post_id").to_pylist()
    assert chosen == sorted(chosen) and again.column("post_id").to_pylist() == chosen  # seeded: the same each time
    shown_anyway = {"x:12", "x:05", "x:07", "x:30"}  # the live representative, the sheets' first images
    assert shown_anyway <= set(chosen) and "x:39" not in chosen
    assert len(chosen) <= 4 + len(shown_anyway) and len(set(chosen) - shown_anyway) <= 4  # a sample of 4 beside
    assert everything.num_rows == 39
    assert dict(zip(posts.column("post_id").to_pylist(), posts.column("cluster_id").to_pylist(), strict=True))[
        "x:05"] == 1
