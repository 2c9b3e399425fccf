"""`postatlas cluster --embedding features:...` on real MVSA-Single posts: the frozen encoders' vectors (computed
when missing) clustered into a real DuckDB warehouse, with the embedding's name recorded in cluster_runs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from flows.cli import main
from tests.helpers import query

pytestmark = pytest.mark.integration
POSTS, WITH_IMAGE = 30, 24
EMBEDDING = "features:e5-small+efficientnet-lite0"


def _mvsa_subset(shared_data: Path, folder: Path) -> Path:
    """The first labelled MVSA-Single posts; the last few without their image. Returns the labels file."""
    mvsa = shared_data / "mvsa-single"
    with (mvsa / "label" / "labels.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1 : POSTS + 1]
    folder.mkdir()
    for number, (guid, _) in enumerate(rows):
        shutil.copy(mvsa / "data" / f"{guid}.txt", folder / f"{guid}.txt")
        if number < WITH_IMAGE:
            shutil.copy(mvsa / "data" / f"{guid}.jpg", folder / f"{guid}.jpg")
    labels = folder.parent / "labels.csv"
    with labels.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("guid", "tag"), *rows])
    return labels


def test_cluster_on_pretrained_features_assigns_every_post_and_records_the_embedding(
        home: Path, tmp_path: Path, shared_data: Path, prefect_server, capsys) -> None:
    """Cluster on pretrained features assigns every post and records the embedding."""
    labels = _mvsa_subset(shared_data, tmp_path / "mvsa")
    assert main(["ingest", "mvsa", str(tmp_path / "mvsa"), "--labels", str(labels), "--task", "sentiment"]) == 0
    command = ["cluster", "--embedding", EMBEDDING, "--clusters", "3", "--micro-clusters", "12",
               "--label-task", "sentiment", "--no-report"]
    assert main(command) == 0
    assert EMBEDDING in capsys.readouterr().out
    # the features were computed on the way: text for every post, the image for those that have one
    assert query(home, "SELECT encoder, count(vector) FROM post_features GROUP BY 1 ORDER BY 1") == [
        ("e5-small", POSTS), ("efficientnet-lite0", WITH_IMAGE)]
    [(run, model_id, posts, clusters, labelled, nmi, ari, parameters)] = query(
        home, "SELECT run, model_id, posts, n_clusters, labelled_posts, nmi, ari, parameters FROM cluster_runs")
    assert (model_id, posts, clusters, labelled) == (EMBEDDING, POSTS, 3, POSTS)
    assert 0 <= nmi <= 1 and -1 <= ari <= 1
    assert json.loads(parameters)["settings"]["standardise"] is False  # the blocks keep their balance
    assert query(home, "SELECT count(DISTINCT post_id), count(DISTINCT cluster_id), count(*) FILTER "
                       "(WHERE post_id IN (SELECT post_id FROM posts)) FROM cluster_assignments WHERE run = ?",
                 [run]) == [(POSTS, 3, POSTS)]
    parts = sorted(p.name for p in (home / "features").rglob("*.parquet"))

    # unchanged rerun: the same run replaced, nothing encoded again
    assert main(command) == 0
    assert query(home, "SELECT run, posts FROM cluster_runs") == [(run, POSTS)]
    assert sorted(p.name for p in (home / "features").rglob("*.parquet")) == parts

    # text only: a different embedding, a second run beside the first
    assert main(["cluster", "--embedding", "features:e5-small", "--clusters", "3", "--micro-clusters", "12",
                 "--no-report"]) == 0
    assert query(home, "SELECT model_id, posts FROM cluster_runs ORDER BY model_id") == [
        ("features:e5-small", POSTS), (EMBEDDING, POSTS)]

    capsys.readouterr()
    assert main(["cluster", "--embedding", "features:gru"]) != 0
    assert "not a frozen pretrained encoder" in capsys.readouterr().err
    assert main(["cluster", "--assign"]) != 0  # runs on features are refitted, not assigned to
    assert "refit with `postatlas cluster --embedding" in capsys.readouterr().err
