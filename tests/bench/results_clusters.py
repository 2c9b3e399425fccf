"""Reproduce docs/RESULTS.md (Learning II): paper 000's clustering vs the default on real data.

Run: ``.venv/bin/python tests/bench/results_clusters.py [--only mvsa|geotagged] [--image-size 64] [--epochs 20]
[--work DIR]``. Everything goes through the real CLI (`postatlas ingest`, `train autoencoder`, `embed`,
`cluster`) into scratch POSTATLAS_HOMEs; the scores are read back from the warehouse's cluster_runs table.

MVSA-Single: 4,869 image + text posts (no coordinates), the sentiment labels as the check (ARI / NMI), 42 clusters
(the paper's number) and 3 (the number of labels). Geotagged tweets: 13,189 texts with coordinates (no images, no
labels): silhouette and how compact the clusters are on the map (median distance of a post to its cluster's
geographic centroid), 42 clusters, the default with and without geography.
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path

import duckdb
from results_learning import DATA
from results_learning import run as run_cli

run = partial(run_cli, quiet=True)


def latest(home: Path) -> tuple:
    """The newest clustering run's scores and its geographic compactness (km)."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            """
            WITH r AS (SELECT * FROM cluster_runs ORDER BY updated_at DESC LIMIT 1),
            d AS (
                SELECT 2 * 6371 * asin(sqrt(pow(sin(radians(p.lat - c.centroid_lat) / 2), 2) + cos(radians(p.lat))
                       * cos(radians(c.centroid_lat)) * pow(sin(radians(p.lon - c.centroid_lon) / 2), 2))) AS km
                FROM r JOIN cluster_assignments a USING (run) JOIN clusters c USING (run, cluster_id)
                JOIN posts p USING (post_id) WHERE p.lat IS NOT NULL)
            SELECT method, n_clusters, posts, silhouette, ari, nmi, label_task, seconds,
                   (SELECT median(km) FROM d), json_extract(parameters, '$.geography.used')::BOOLEAN FROM r
            """).fetchall()[0]
    finally:
        con.close()


def row(label: str, scores: tuple) -> str:
    method, clusters, posts, silhouette, ari, nmi, task, seconds, km, geo = scores

    def fmt(value: float | None, digits: int = 3) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    return (f"| {label} | {method} | {clusters} | {posts:,} | {fmt(silhouette)} | {fmt(ari)} | {fmt(nmi)} | "
            f"{fmt(km, 0)} | {'yes' if geo else 'no'} | {seconds:.1f} |")


HEADER = ("| data | method | clusters | posts | silhouette | ARI | NMI | median km to geo centroid | geography used | "
          "seconds |\n|---|---|---|---|---|---|---|---|---|---|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("mvsa", "geotagged"))
    parser.add_argument("--image-size", default="64")
    parser.add_argument("--epochs", default="20")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (kept; default: a temp folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="postatlas-results-"))
    train = ["train", "autoencoder", "--all-posts", "--epochs", args.epochs, "--image-size", args.image_size]
    lines = [HEADER]
    if args.only in (None, "mvsa"):
        home = work / "mvsa"
        if not (home / "warehouse.duckdb").exists():
            mvsa = DATA / "mvsa-single"
            run(home, "ingest", "mvsa", str(mvsa / "data"), "--labels", str(mvsa / "label" / "labels.csv"),
                "--task", "sentiment")
        run(home, *train)
        run(home, "embed")
        for method in ("paper", "default"):
            for clusters in ("42", "3"):
                run(home, "cluster", "--method", method, "--clusters", clusters, "--label-task", "sentiment")
                lines.append(row("MVSA-Single", latest(home)))
    if args.only in (None, "geotagged"):
        home = work / "geotagged"
        if not (home / "warehouse.duckdb").exists():
            run(home, "ingest", "table", str(DATA / "geotagged-tweets" / "tweets.tsv"), "--platform", "geotext",
                "--columns", "id,text,kind,lat,lon", "--map", "id=id", "--map", "text=text", "--map", "lat=lat",
                "--map", "lon=lon")
        run(home, *train)
        run(home, "embed")
        for method, extra in (("paper", []), ("default", []), ("default", ["--geo-weight", "0"])):
            run(home, "cluster", "--method", method, "--clusters", "42", *extra)
            lines.append(row("geotagged tweets" + (" (geo weight 0)" if extra else ""), latest(home)))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
