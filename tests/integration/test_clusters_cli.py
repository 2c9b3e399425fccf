"""Paper 000 through the command line on real geotagged tweets (text + coordinates, no images):
`train autoencoder`, `embed`, `cluster --method default|paper`, `cluster --assign`, `report`, the nightly flow."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from flows.cli import main
from tests.helpers import query

pytestmark = pytest.mark.integration
FIRST, SECOND = 260, 40  # posts fitted, then posts arriving after the fit
NO_COORDINATES_EVERY = 10
TRAIN = ["train", "autoencoder", "--epochs", "3", "--word-dimensions", "32", "--code-size", "16",
         "--content-words", "300", "--batch-size", "64"]


def _write_tweets(shared_data: Path, folder: Path, start: int, count: int) -> Path:
    """Real geotagged tweets as a CSV; every tenth one without coordinates."""
    lines = (shared_data / "geotagged-tweets" / "tweets.tsv").read_text(encoding="utf-8").splitlines()
    path = folder / f"tweets-{start}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "lat", "lon"])
        for number, line in enumerate(lines[start:start + count], start):
            native_id, text, _, lat, lon = line.split("\t")
            located = number % NO_COORDINATES_EVERY != 0
            writer.writerow([native_id, text, lat if located else "", lon if located else ""])
    return path


def _ingest(path: Path) -> None:
    assert main(["ingest", "table", str(path), "--platform", "geotext", "--map", "id=id", "--map", "text=text",
                 "--map", "lat=lat", "--map", "lon=lon"]) == 0


@pytest.fixture(scope="module")
def clustered_home(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, prefect_server) -> Path:
    """A home with the first tweets ingested, an autoencoder trained, embeddings and a default clustering."""
    home = tmp_path_factory.mktemp("clusters")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POSTATLAS_HOME", str(home))
        _ingest(_write_tweets(shared_data, home, 0, FIRST))
        assert main(TRAIN) == 0
        assert main(["embed"]) == 0
        assert main(["cluster", "--method", "default", "--clusters", "6"]) == 0
    return home


def _latest_run(home: Path, method: str) -> str:
    return query(home, "SELECT run FROM cluster_runs WHERE method = ? ORDER BY created_at DESC LIMIT 1", [method])[0][0]


def test_embed_writes_one_vector_per_post_and_is_incremental(clustered_home: Path, monkeypatch, capsys) -> None:
    """Embed writes one vector per post and is incremental."""
    rows = query(clustered_home, "SELECT count(*), count(DISTINCT post_id), min(len(vector)), max(len(vector)), "
                                 "count(DISTINCT model_id) FROM embeddings")
    assert rows == [(FIRST, FIRST, 16, 16, 1)]
    assert query(clustered_home, "SELECT kind FROM models") == [("autoencoder",)]
    monkeypatch.setenv("POSTATLAS_HOME", str(clustered_home))
    model_id = query(clustered_home, "SELECT model_id FROM models")[0][0]
    # what a run killed while writing leaves behind is never read
    (clustered_home / "embeddings" / model_id / ".part-killed.123.partial").write_bytes(b"PAR1 half a file")
    capsys.readouterr()
    assert main(["embed"]) == 0
    output = capsys.readouterr().out
    assert re.search(r"embedded now\s*│\s*0\s*│", output)
    assert re.search(rf"embedded before\s*│\s*{FIRST}\s*│", output)
    assert query(clustered_home, "SELECT count(*) FROM embeddings") == [(FIRST,)]
    assert query(clustered_home, "SELECT read FROM runs WHERE flow = 'embed' ORDER BY started_at DESC LIMIT 1") == [
        (0,)]


def test_cluster_writes_runs_clusters_and_one_assignment_per_post(clustered_home: Path) -> None:
    """Cluster writes runs clusters and one assignment per post."""
    run = _latest_run(clustered_home, "default")
    assert query(clustered_home, "SELECT method, posts, n_clusters, silhouette IS NOT NULL, posts_with_coordinates, "
                                 "posts_with_image FROM cluster_runs WHERE run = ?", [run]) == [
        ("default", FIRST, 6, True, FIRST - FIRST // NO_COORDINATES_EVERY, 0)]
    assert query(clustered_home, "SELECT count(*), count(DISTINCT post_id), count(DISTINCT cluster_id), count(x) "
                                 "FROM cluster_assignments WHERE run = ?", [run]) == [(FIRST, FIRST, 6, FIRST)]
    assert query(clustered_home, "SELECT sum(size), count(*) FROM clusters WHERE run = ?", [run]) == [(FIRST, 6)]
    # sizes match the assignments, representatives belong to their cluster, centroids lie in their boxes
    assert query(clustered_home, """
        SELECT count(*) FROM clusters c WHERE run = ? AND (
            size <> (SELECT count(*) FROM cluster_assignments a WHERE a.run = c.run AND a.cluster_id = c.cluster_id)
            OR len(representative_post_ids) = 0
            OR EXISTS (SELECT 1 FROM cluster_assignments a WHERE a.run = c.run
                       AND list_contains(c.representative_post_ids, a.post_id) AND a.cluster_id <> c.cluster_id)
            OR NOT (centroid_lat BETWEEN min_lat AND max_lat) OR len(top_terms) = 0)""", [run]) == [(0,)]


def test_rerunning_the_same_clustering_replaces_its_rows(clustered_home: Path, monkeypatch) -> None:
    """Rerunning the same clustering replaces its rows."""
    monkeypatch.setenv("POSTATLAS_HOME", str(clustered_home))
    before = query(clustered_home, "SELECT count(*) FROM cluster_runs WHERE method = 'default'")
    assert main(["cluster", "--method", "default", "--clusters", "6", "--no-report"]) == 0
    assert query(clustered_home, "SELECT count(*) FROM cluster_runs WHERE method = 'default'") == before
    run = _latest_run(clustered_home, "default")
    assert query(clustered_home, "SELECT count(*) FROM cluster_assignments WHERE run = ?", [run]) == [(FIRST,)]


def test_paper_method_uses_kernel_cca_with_the_coordinates(clustered_home: Path, monkeypatch) -> None:
    """Paper method uses kernel cca with the coordinates."""
    monkeypatch.setenv("POSTATLAS_HOME", str(clustered_home))
    assert main(["cluster", "--method", "paper", "--clusters", "5", "--perplexity", "20"]) == 0
    run = _latest_run(clustered_home, "paper")
    assert query(clustered_home, "SELECT n_clusters, posts FROM cluster_runs WHERE run = ?", [run]) == [(5, FIRST)]
    assert query(clustered_home, "SELECT json_extract(parameters, '$.geography.used')::BOOLEAN FROM cluster_runs "
                                 "WHERE run = ?", [run]) == [(True,)]
    assert query(clustered_home, "SELECT count(DISTINCT post_id) FROM cluster_assignments WHERE run = ?",
                 [run]) == [(FIRST,)]


def test_report_is_one_self_contained_html_file(clustered_home: Path) -> None:
    """Report is one self contained html file."""
    run = _latest_run(clustered_home, "default")
    relative = query(clustered_home, "SELECT report_path FROM cluster_runs WHERE run = ?", [run])[0][0]
    html = (clustered_home / relative).read_text(encoding="utf-8")
    assert "window.PlotlyGeoAssets" in html and "cluster-map" in html and "cluster-space" in html  # map, 2-D view
    markup = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.DOTALL)  # plotly.js names sites in strings
    assert not re.search(r"""(src|href)=["']https?:""", markup)  # nothing fetched from elsewhere (and see
    # tests/integration/test_reports_browser.py: a browser that blocks every request)
    names = [row[0] for row in query(clustered_home, "SELECT name FROM clusters WHERE run = ?", [run])]
    assert all(f"· {name} ·".replace("&", "&amp;") in html or name in html for name in names)
    assert "<blockquote>" in html  # example texts


def test_new_posts_are_assigned_to_the_existing_clusters(clustered_home: Path, shared_data: Path,
                                                         monkeypatch) -> None:
    """New posts are assigned to the existing clusters."""
    monkeypatch.setenv("POSTATLAS_HOME", str(clustered_home))
    run = _latest_run(clustered_home, "default")
    _ingest(_write_tweets(shared_data, clustered_home, FIRST, SECOND))
    assert main(["embed"]) == 0
    assert query(clustered_home, "SELECT count(*) FROM embeddings") == [(FIRST + SECOND,)]
    # the run read the new posts only (the anti-join against the stored vectors runs in SQL)
    assert query(clustered_home, "SELECT read, written FROM runs WHERE flow = 'embed' ORDER BY started_at DESC "
                                 "LIMIT 1") == [(SECOND, SECOND)]
    from storage.home import Home
    from tasks.learn.clustering import new_post_count

    assert new_post_count(Home(clustered_home), run) == SECOND  # what the nightly refit check weighs
    from storage import clusters as cluster_store
    from storage import warehouse

    with warehouse.reader(Home(clustered_home).warehouse) as con:  # what assigning reads: the new posts only
        model_id = cluster_store.cluster_run(con, run)["model_id"]
        assert cluster_store.embedded_posts(con, model_id, False, unassigned_in=run).num_rows == SECOND
    fitted = query(clustered_home, "SELECT cluster_id, name, top_terms, term_scores, representative_post_ids "
                                   "FROM clusters WHERE run = ? ORDER BY 1", [run])
    assert main(["cluster", "--method", "default", "--assign", "--no-report"]) == 0
    assert new_post_count(Home(clustered_home), run) == 0
    # the rows were updated from the new posts alone, yet their counts are those of every post the run now holds;
    # what a cluster is about stays the fit's until a refit
    assert query(clustered_home, "SELECT cluster_id, name, top_terms, term_scores, representative_post_ids "
                                 "FROM clusters WHERE run = ? ORDER BY 1", [run]) == fitted
    assert query(clustered_home, """
        WITH members AS (
            SELECT a.cluster_id, p.lat, p.lon, p.created_at, p.lang, radians(p.lat) AS phi, radians(p.lon) AS lam
            FROM cluster_assignments a JOIN posts p USING (post_id) WHERE a.run = $run),
        exact AS (
            SELECT cluster_id, count(*) AS size, count(lat) AS located, min(lat) AS min_lat, max(lat) AS max_lat,
                   min(created_at) AS first_at, max(created_at) AS last_at,
                   degrees(atan2(sum(sin(phi)), sqrt(sum(cos(phi) * cos(lam)) ** 2 + sum(cos(phi) * sin(lam)) ** 2)))
                       AS centroid_lat,
                   degrees(atan2(sum(cos(phi) * sin(lam)), sum(cos(phi) * cos(lam)))) AS centroid_lon
            FROM members GROUP BY cluster_id),
        languages AS (SELECT cluster_id, list(lang ORDER BY n DESC, lang) AS langs, list(n ORDER BY n DESC, lang) AS ns
                      FROM (SELECT cluster_id, lang, count(*) AS n FROM members WHERE lang IS NOT NULL GROUP BY ALL)
                      GROUP BY cluster_id)
        SELECT count(*) FROM clusters c JOIN exact e USING (cluster_id) LEFT JOIN languages l USING (cluster_id)
        WHERE c.run = $run AND (c.size <> e.size OR c.posts_with_coordinates <> e.located
            OR c.min_lat <> e.min_lat OR c.max_lat <> e.max_lat OR c.first_post_at <> e.first_at
            OR c.last_post_at <> e.last_at OR abs(c.centroid_lat - e.centroid_lat) > 1e-9
            OR abs(c.centroid_lon - e.centroid_lon) > 1e-9 OR c.languages IS DISTINCT FROM coalesce(l.langs, [])
            OR c.language_counts IS DISTINCT FROM coalesce(l.ns, []) OR e.located = 0
            OR EXISTS (SELECT 1 FROM members m WHERE m.cluster_id = c.cluster_id AND m.lat IS NOT NULL AND NOT
                       (m.lat BETWEEN c.min_lat AND c.max_lat AND (CASE WHEN c.min_lon <= c.max_lon
                            THEN m.lon BETWEEN c.min_lon AND c.max_lon ELSE m.lon >= c.min_lon OR m.lon <= c.max_lon
                            END))))""", {"run": run}) == [(0,)]
    assert query(clustered_home, "SELECT assigned_by, count(*) FROM cluster_assignments WHERE run = ? GROUP BY 1 "
                                 "ORDER BY 1", [run]) == [("assign", SECOND), ("fit", FIRST)]
    assert query(clustered_home, "SELECT sum(size) FROM clusters WHERE run = ?", [run]) == [(FIRST + SECOND,)]
    assert query(clustered_home, "SELECT assigned_since_fit FROM cluster_runs WHERE run = ?", [run]) == [(SECOND,)]
    assert main(["cluster", "--method", "default", "--assign", "--no-report"]) == 0  # nothing new: nothing doubles
    assert query(clustered_home, "SELECT count(*) FROM cluster_assignments WHERE run = ?", [run]) == [
        (FIRST + SECOND,)]


def test_nightly_flow_assigns_between_refits_and_refits_when_due(clustered_home: Path) -> None:
    """Nightly flow assigns between refits and refits when due."""
    from flows.clusters import nightly_clusters_flow

    fitted = _latest_run(clustered_home, "default")
    quiet = nightly_clusters_flow(home=str(clustered_home), method="default", refit_days=7, refit_fraction=0.5)
    assert (quiet.run, quiet.refit) == (fitted, False)
    assert Path(quiet.report_path).is_file()
    due = nightly_clusters_flow(home=str(clustered_home), method="default", refit_days=0,
                                settings={"n_clusters": 6})
    assert due.refit and "days old" in due.reason
    assert query(clustered_home, "SELECT posts, assigned_since_fit FROM cluster_runs WHERE run = ?",
                 [due.run]) == [(FIRST + SECOND, 0)]
    clusterer = query(clustered_home, "SELECT clusterer_path FROM cluster_runs WHERE run = ?", [due.run])[0][0]
    (clustered_home / clusterer).unlink()  # lost: the nightly run refits instead of failing every night
    lost = nightly_clusters_flow(home=str(clustered_home), method="default", settings={"n_clusters": 6})
    assert lost.refit and "missing" in lost.reason and (clustered_home / clusterer).is_file()


def test_a_new_model_asks_for_a_refit_and_retraining_replaces_its_embeddings(clustered_home: Path,
                                                                             monkeypatch, capsys) -> None:
    """A new model asks for a refit and retraining replaces its embeddings."""
    monkeypatch.setenv("POSTATLAS_HOME", str(clustered_home))
    fitted_with = query(clustered_home, "SELECT model_id FROM models")[0][0]
    assert main(TRAIN) == 0  # more posts now: a new snapshot, a new model
    newer = query(clustered_home, "SELECT model_id FROM models WHERE model_id <> ?", [fitted_with])[0][0]
    assert main(["embed"]) == 0
    capsys.readouterr()
    assert main(["cluster", "--assign"]) == 2  # the newest embeddings are not the ones the run clustered
    error = capsys.readouterr().err
    assert fitted_with in error and newer in error and "refit" in error

    def embedded(model_id: str) -> list[tuple]:
        return query(clustered_home, "SELECT count(*), count(DISTINCT post_id) FROM embeddings WHERE model_id = ?",
                     [model_id])

    assert embedded(newer) == [(FIRST + SECOND, FIRST + SECOND)]
    assert main([*TRAIN, "--retrain"]) == 0  # same data and settings: same id, new weights
    assert embedded(newer) == [(0, 0)] and embedded(fitted_with) == [(FIRST + SECOND, FIRST + SECOND)]
    assert main(["embed"]) == 0
    assert embedded(newer) == [(FIRST + SECOND, FIRST + SECOND)]


def test_clustering_errors_say_what_to_do(tmp_path: Path, monkeypatch, capsys, clustered_home: Path,
                                         shared_data: Path) -> None:
    """Clustering errors say what to do."""
    monkeypatch.setenv("POSTATLAS_HOME", str(clustered_home))
    assert main(["cluster", "--clusters", "4", "--distance-threshold", "2"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["cluster", "--method", "paper", "--geo-weight", "2"]) == 2
    assert "--geo-weight is for --method default only" in capsys.readouterr().err
    assert main(["cluster", "--label-task", "sentiment"]) == 2
    assert "sentiment" in capsys.readouterr().err
    monkeypatch.setenv("POSTATLAS_HOME", str(tmp_path / "fresh"))
    _ingest(_write_tweets(shared_data, tmp_path, 0, 5))
    assert main(["cluster"]) == 2
    assert "postatlas train autoencoder" in capsys.readouterr().err
