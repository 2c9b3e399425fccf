"""Paper 002's joint model through the command line on the demo warehouse (which carries all five parts):
`train joint` (parts from the data, masking, registry, retrieval scores) and `embed --model <joint id>`."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from flows.cli import main
from models.joint import PARTS
from models.location import gazetteer_cities
from tests.helpers import query

pytestmark = pytest.mark.integration
TRAIN = ["train", "joint", "--epochs", "2", "--dimension", "32", "--text-hidden", "32", "--word-dimension", "16",
         "--user-dimension", "8", "--batch-size", "64"]


@pytest.fixture(scope="module")
def joint_home(tmp_path_factory: pytest.TempPathFactory, prefect_server) -> Path:
    home = tmp_path_factory.mktemp("joint")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POSTATLAS_HOME", str(home))
        assert main(["demo", "--posts", "600", "--seed", "5", "--no-learn"]) == 0
        assert main(TRAIN) == 0
    return home


def _model(home: Path) -> tuple[str, dict, dict]:
    model_id, config, metrics = query(home, "SELECT model_id, config, metrics FROM models WHERE kind = 'joint'")[0]
    return model_id, json.loads(config), json.loads(metrics)


def test_training_takes_every_part_the_posts_have_and_counts_them(joint_home: Path) -> None:
    model_id, config, metrics = _model(joint_home)
    assert tuple(config["parts"]) == PARTS and config["objective"] == "others"
    curated = query(joint_home, "SELECT count(*) FROM curated_posts")[0][0]
    with_image = query(joint_home, "SELECT count(DISTINCT c.post_id) FROM curated_posts c JOIN media m USING (post_id) "
                                   "WHERE m.status = 'stored'")[0][0]
    with_place = query(joint_home, "SELECT count(*) FROM curated_posts WHERE place_name IS NOT NULL OR lat IS NOT NULL")
    counts = metrics["part_posts"]
    assert metrics["posts"] == curated and counts["text"] <= curated
    assert counts["image"] == with_image  # every stored image was featurized and is the image part
    assert 0 < counts["location"] <= with_place[0][0] and 0 < counts["user"] < curated
    assert 0 < counts["hashtags"] < curated  # most posts lack some part: masked, not dropped


def test_the_location_encoder_reads_only_posts_with_a_place_or_coordinates(joint_home: Path) -> None:
    encoded = query(joint_home, "SELECT count(*) FROM post_features WHERE encoder = 'e5-small'")[0][0]
    located = query(joint_home, "SELECT count(*) FROM curated_posts WHERE place_name IS NOT NULL "
                                "OR (lat IS NOT NULL AND lon IS NOT NULL)")[0][0]
    curated = query(joint_home, "SELECT count(*) FROM curated_posts")[0][0]
    assert 0 < encoded == located < curated  # the location part averages located posts' texts; no other post needs it


def test_retrieval_scores_are_in_the_warehouse(joint_home: Path) -> None:
    model_id, _, metrics = _model(joint_home)
    rows = query(joint_home, "SELECT split, query_part, target_part, r1, r5, r10, median_rank, queries "
                             "FROM retrieval_evaluations WHERE model_id = ?", [model_id])
    pairs = {(split, q, t) for split, q, t, *_ in rows}
    assert {("test", "text", "image"), ("test", "image", "text")} <= pairs
    assert {("test", part, "others") for part in PARTS} <= pairs
    for _, _, _, r1, r5, r10, median, queries in rows:
        assert 0 <= r1 <= r5 <= r10 <= 100 and 1 <= median <= queries
    assert metrics["val_recall_sum"] == max(e["validation_score"] for e in metrics["fit"]["history"])


def test_embed_writes_a_vector_per_post_and_present_part_incrementally(joint_home: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("POSTATLAS_HOME", str(joint_home))
    model_id, _, metrics = _model(joint_home)
    assert main(["embed", "--model", model_id]) == 0
    per_part = dict(query(joint_home, "SELECT part, count(*) FROM embedding_parts WHERE model_id = ? GROUP BY 1",
                          [model_id]))
    assert per_part == {part: count for part, count in metrics["part_posts"].items() if count}
    assert query(joint_home, "SELECT count(*) - count(DISTINCT (post_id, part)) FROM embedding_parts") == [(0,)]
    posts = query(joint_home, "SELECT count(*), count(DISTINCT post_id), min(len(vector)) FROM embeddings "
                              "WHERE model_id = ?", [model_id])
    assert posts == [(metrics["posts"], metrics["posts"], 32)]
    norms = np.linalg.norm(np.array([v for (v,) in query(joint_home, "SELECT vector FROM embedding_parts")]), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-4)
    capsys.readouterr()
    assert main(["embed", "--model", model_id]) == 0
    assert re.search(r"embedded now\s*│\s*0\s*│", capsys.readouterr().out)
    assert query(joint_home, "SELECT count(*) FROM embedding_parts") == [(sum(per_part.values()),)]


def test_the_same_data_and_settings_reuse_the_model(joint_home: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("POSTATLAS_HOME", str(joint_home))
    capsys.readouterr()
    assert main(TRAIN) == 0
    assert "reused" in capsys.readouterr().out
    assert query(joint_home, "SELECT count(*) FROM models WHERE kind = 'joint'") == [(1,)]


def test_a_part_named_that_no_post_has_is_a_clear_error(home: Path, shared_data: Path, prefect_server,
                                                        capsys) -> None:
    pages = shared_data / "api-payloads" / "twitter-v2"
    assert main(["ingest", "twitter-v2", *(str(pages / name) for name in ("flat.jsonl", "geo_tweets.jsonl"))]) == 0
    capsys.readouterr()
    assert main([*TRAIN, "--parts", "text,image"]) != 0
    error = capsys.readouterr().err
    assert "no post has the image part" in error and "--parts" in error
    assert main([*TRAIN, "--parts", "text"]) != 0
    assert "at least two" in capsys.readouterr().err


def _listed_posts(out: str) -> list[str]:
    return re.findall(r"│\s*\d+\s*│\s*(\S+)\s*│", out)


def test_retrieve_ranks_exactly_like_sql_and_finds_a_post_by_its_own_image(joint_home: Path, monkeypatch,
                                                                          capsys) -> None:
    monkeypatch.setenv("POSTATLAS_HOME", str(joint_home))
    model_id, _, _ = _model(joint_home)
    if not query(joint_home, "SELECT count(*) FROM embedding_parts")[0][0]:
        assert main(["embed", "--model", model_id]) == 0
    post_id, image = query(joint_home, "SELECT e.post_id, m.path FROM embedding_parts e JOIN media m USING (post_id) "
                                       "WHERE e.part = 'image' AND m.position = 0 ORDER BY e.post_id LIMIT 1")[0]
    capsys.readouterr()
    assert main(["retrieve", "--post", post_id, "--query-part", "image", "--target", "text", "--top", "5"]) == 0
    expected = query(joint_home, "SELECT t.post_id FROM embedding_parts q JOIN embedding_parts t USING (model_id) "
                                 "WHERE q.post_id = ? AND q.part = 'image' AND t.part = 'text' AND t.post_id <> ? "
                                 "ORDER BY list_dot_product(q.vector, t.vector) DESC LIMIT 5", [post_id, post_id])
    assert _listed_posts(capsys.readouterr().out) == [row[0] for row in expected]
    # the stored image file as a query goes through the frozen encoder and the image head: its own post comes first
    assert main(["retrieve", "--image", str(joint_home / image), "--target", "image", "--top", "3"]) == 0
    out = capsys.readouterr().out
    same = [pid for pid, score in re.findall(r"│\s*\d+\s*│\s*(\S+)\s*│\s*([\d.]+)\s*│", out) if float(score) > 0.999]
    assert post_id in same  # (the demo plants exact duplicate images: they tie)
    assert main(["retrieve", "--text", "zzzqqq xxyyzz"]) != 0
    assert "vocabulary" in capsys.readouterr().err
    assert main(["retrieve", "beer", "--text", "beer"]) != 0


def test_evaluate_retrieval_trains_the_vse_baselines_once(joint_home: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("POSTATLAS_HOME", str(joint_home))
    capsys.readouterr()
    assert main(["evaluate", "retrieval"]) == 0
    out = capsys.readouterr().out
    assert "VSE++ (text, image)" in out and "VSE++ with hashtags as text" in out
    baselines = query(joint_home, "SELECT config->>'objective', config->>'hashtags_in_text', config->>'parts' "
                                  "FROM models WHERE kind = 'joint' AND variant LIKE '%pairwise' ORDER BY 2")
    assert baselines == [("pairwise", "false", '["text","image"]'), ("pairwise", "true", '["text","image"]')]
    rows = query(joint_home, "SELECT count(*) FROM retrieval_evaluations e JOIN models m USING (model_id) "
                             "WHERE m.variant LIKE '%pairwise' AND e.split = 'test'")
    assert rows == [(4,)]  # image -> text and text -> image for each baseline
    compared = query(joint_home, "SELECT method, count(*), count(DISTINCT posts), min(posts) FROM "
                                 "application_evaluations WHERE application = 'retrieval' GROUP BY 1 ORDER BY 1")
    assert [row[:3] for row in compared] == [("VSE++ (text, image)", 8, 1), ("VSE++ with hashtags as text", 8, 1),
                                             ("joint (paper 002)", 8, 1)]
    assert len({row[3] for row in compared}) == 1  # all three ranked on the same test posts
    assert main(["evaluate", "retrieval"]) == 0
    assert query(joint_home, "SELECT count(*) FROM models WHERE kind = 'joint'") == [(3,)]


def test_predict_hashtags_writes_k_ranked_rows_per_post_without_hashtags(joint_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("POSTATLAS_HOME", str(joint_home))
    for _ in range(2):  # a rerun replaces its rows
        assert main(["predict", "hashtags", "--k", "3"]) == 0
    without = query(joint_home, "SELECT count(*) FROM curated_posts WHERE coalesce(len(hashtags), 0) = 0 "
                                "AND ((text IS NOT NULL AND trim(text) <> '') OR post_id IN "
                                "(SELECT post_id FROM media WHERE status = 'stored'))")[0][0]
    rows = query(joint_home, "SELECT post_id, list(rank ORDER BY rank), list(score ORDER BY rank), "
                             "count(DISTINCT label) FROM predictions WHERE task = 'hashtags' GROUP BY 1")
    assert 0 < len(rows) <= without
    for _, ranks, scores, labels in rows:
        assert ranks == [1, 2, 3] and scores == sorted(scores, reverse=True) and labels == 3
    tagged = query(joint_home, "SELECT count(*) FROM predictions p JOIN posts USING (post_id) "
                               "WHERE p.task = 'hashtags' AND len(posts.hashtags) > 0")
    assert tagged == [(0,)]
    assert query(joint_home, "SELECT count(*) FROM predictions WHERE task = 'topic'") == [(0,)]  # other tasks untouched


def test_evaluate_hashtags_scores_the_model_and_both_baselines(joint_home: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("POSTATLAS_HOME", str(joint_home))
    assert main(["evaluate", "hashtags"]) == 0
    model_id, config, _ = _model(joint_home)
    rows = query(joint_home, "SELECT method, metric, value, posts FROM application_evaluations "
                             "WHERE model_id = ? AND application = 'hashtags'", [model_id])
    assert {r[0] for r in rows} == {"joint", "most frequent", "text classifier"}
    assert len(rows) == 3 * 15 and all(0 <= r[2] <= 1 for r in rows)
    snapshot = pq.read_table(joint_home / "datasets" / config["dataset"] / "posts.parquet").to_pylist()
    counts = Counter(t for p in snapshot if p["split"] == "train" for t in p["hashtags"] or ())
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0]
    test = [set(p["hashtags"]) for p in snapshot if p["split"] == "test" and p["hashtags"]]
    value = {(r[0], r[1]): r[2] for r in rows}
    assert value[("most frequent", "p@1")] == pytest.approx(sum(top in tags for tags in test) / len(test))
    assert {r[3] for r in rows} == {len(test)}


def test_predict_location_gives_every_post_without_coordinates_a_gazetteer_city(joint_home: Path, monkeypatch,
                                                                               capsys) -> None:
    monkeypatch.setenv("POSTATLAS_HOME", str(joint_home))
    assert main(["evaluate", "location"]) == 0
    model_id, _, _ = _model(joint_home)
    rows = query(joint_home, "SELECT method, metric, value FROM application_evaluations "
                             "WHERE model_id = ? AND application = 'location'", [model_id])
    assert {(r[0], r[1]) for r in rows} == {(m, s) for m in ("joint + words", "joint", "text only")
                                            for s in ("accuracy", "acc@161", "median_km")}
    for _ in range(2):
        assert main(["predict", "location"]) == 0
    without = query(joint_home, "SELECT count(*) FROM curated_posts WHERE (lat IS NULL OR lon IS NULL) AND "
                                "((text IS NOT NULL AND trim(text) <> '') OR post_id IN "
                                "(SELECT post_id FROM media WHERE status = 'stored'))")[0][0]
    predicted = query(joint_home, "SELECT p.label, p.lat, p.lon, p.rank, posts.lat FROM predictions p "
                                  "JOIN posts USING (post_id) WHERE p.task = 'location'")
    assert len(predicted) == without > 0
    cities = gazetteer_cities()
    by_name = dict(zip(cities.names, zip(cities.lat, cities.lon, strict=True), strict=True))
    for label, lat, lon, rank, own_lat in predicted:
        assert by_name[label] == (lat, lon) and rank == 1 and own_lat is None


def test_a_later_embed_reads_only_new_posts_and_gives_what_one_embed_of_all_gave(joint_home: Path,
                                                                                  monkeypatch) -> None:
    """Embedding a chunk's posts again (their vectors removed) reads those posts only, and the posts sharing their
    locations, and writes the vectors the embed of every post wrote (the location means over the same posts)."""
    import tasks.learn.joint as joint_tasks
    from storage.home import Home

    monkeypatch.setenv("POSTATLAS_HOME", str(joint_home))
    model_id, config, _ = _model(joint_home)
    assert "location" in config["parts"]
    home = Home(joint_home)
    shutil.rmtree(home.embeddings / model_id)
    shutil.rmtree(home.embedding_parts / model_id)
    monkeypatch.setattr(joint_tasks, "EMBED_CHUNK", 150)  # several parts, one per chunk
    assert main(["embed", "--model", model_id]) == 0
    everything = dict(query(joint_home, "SELECT post_id || '/' || part, vector FROM embedding_parts "
                                        "WHERE model_id = ?", [model_id]))
    last = sorted((home.embeddings / model_id).glob("*.parquet"))[-1]
    forgotten = set(pq.read_table(last, columns=["post_id"]).column("post_id").to_pylist())
    last.unlink()
    for part in (home.embedding_parts / model_id).glob("*.parquet"):
        if set(pq.read_table(part, columns=["post_id"]).column("post_id").to_pylist()) <= forgotten:
            part.unlink()
    assert main(["embed", "--model", model_id]) == 0
    [(read,)] = query(joint_home, "SELECT read FROM runs WHERE flow = 'embed-joint' ORDER BY started_at DESC LIMIT 1")
    assert read == len(forgotten) < len({key.split("/")[0] for key in everything})
    again = dict(query(joint_home, "SELECT post_id || '/' || part, vector FROM embedding_parts WHERE model_id = ?",
                       [model_id]))
    assert again.keys() == everything.keys()
    assert any(key.endswith("/location") and key.split("/")[0] in forgotten for key in again)
    for key, vector in again.items():
        np.testing.assert_allclose(vector, everything[key], rtol=1e-5, atol=1e-6)
