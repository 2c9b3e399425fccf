"""`postatlas train bots` / `predict bots` on real PAN 2019 accounts: registry, user_predictions, reruns."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.cli import main
from tests.helpers import query

pytestmark = pytest.mark.integration
LABELLED, UNLABELLED = 40, 6


@pytest.fixture
def pan_home(home: Path, tmp_path: Path, shared_data: Path, prefect_server) -> Path:
    source = shared_data / "pan19-bots" / "en"
    truth = dict(line.split(":::", 1) for line in (source / "truth.txt").read_text().splitlines())
    files = sorted(source.glob("*.xml"))
    labelled, unlabelled = tmp_path / "labelled", tmp_path / "unlabelled"
    labelled.mkdir()
    unlabelled.mkdir()
    for file in files[:LABELLED]:
        shutil.copy(file, labelled)
    for file in files[LABELLED : LABELLED + UNLABELLED]:
        shutil.copy(file, unlabelled)
    (labelled / "truth.txt").write_text("".join(f"{f.stem}:::{truth[f.stem]}\n" for f in files[:LABELLED]))
    assert main(["ingest", "pan-authors", str(labelled), str(unlabelled)]) == 0
    return home


def test_train_registers_each_method_and_predict_labels_the_unlabelled_once(
        pan_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = pan_home
    assert main(["train", "bots", "--folds", "4"]) == 0
    printed = capsys.readouterr().out
    assert "stratified cross-validation" in printed and "predict bots` uses" in printed
    models = query(home, "SELECT variant, kind, task, train_posts FROM models ORDER BY 1")
    assert models == [("char", "bots", "bots", LABELLED), ("char+word", "bots", "bots", LABELLED)]
    scores = query(home, "SELECT accuracy, posts FROM model_evaluations WHERE split = 'val' AND condition = 'both'")
    assert len(scores) == 2 and all(0.5 <= accuracy <= 1 and posts == LABELLED for accuracy, posts in scores)
    best = query(home, "SELECT m.model_id FROM models m JOIN model_evaluations e USING (model_id) "
                       "ORDER BY e.accuracy DESC, e.macro_f1 DESC, m.created_at DESC LIMIT 1")[0][0]
    assert f"predict bots` uses {best} " in printed and "need a joint model" in printed  # none trained here

    assert main(["predict", "bots"]) == 0
    rows = query(home, "SELECT u.native_id, p.task, p.label, p.score, p.model_id FROM user_predictions p "
                       "JOIN users u USING (user_id) ORDER BY 1")
    assert len(rows) == UNLABELLED and {row[1] for row in rows} == {"bots"}
    assert all(row[2] in ("bot", "human") and 0.5 <= row[3] <= 1 and row[4] == best for row in rows)
    labelled = query(home, "SELECT count(*) FROM user_predictions WHERE user_id IN (SELECT user_id FROM user_labels)")
    assert labelled == [(0,)]
    assert main(["predict", "bots"]) == 0  # a rerun replaces, never adds
    assert query(home, "SELECT count(*), count(DISTINCT user_id) FROM user_predictions") == [(UNLABELLED,) * 2]


def test_training_without_labels_says_what_to_do(home: Path, tmp_path: Path, shared_data: Path, prefect_server,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    for file in sorted((shared_data / "pan19-bots" / "en").glob("*.xml"))[:3]:
        shutil.copy(file, folder)
    assert main(["ingest", "pan-authors", str(folder)]) == 0
    assert main(["train", "bots"]) == 2
    assert "ingest pan-authors FOLDER" in capsys.readouterr().err
    assert main(["predict", "bots"]) == 2
    assert "run `postatlas train bots` first" in capsys.readouterr().err


def test_the_joint_embedding_methods_join_once_a_joint_model_exists(
        pan_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = pan_home
    assert main(["train", "joint", "--all-posts", "--epochs", "1", "--dimension", "16", "--text-hidden", "16",
                 "--word-dimension", "8", "--batch-size", "256"]) == 0
    joint = query(home, "SELECT model_id FROM models WHERE kind = 'joint'")[0][0]
    assert main(["train", "bots", "--folds", "4"]) == 0
    assert f"joint model {joint}" in capsys.readouterr().out
    models = query(home, "SELECT variant, model_id, config->>'joint_model', config->>'account_posts' FROM models "
                         "WHERE kind = 'bots' ORDER BY 1")
    assert [row[0] for row in models] == ["char", "char+word", "joint-cnn", "joint-knn"]
    assert [row[2] for row in models] == [None, None, joint, joint] and models[2][3] == "100"
    scores = query(home, "SELECT m.variant, e.accuracy, e.posts FROM model_evaluations e JOIN models m "
                         "USING (model_id) WHERE m.variant LIKE 'joint-%'")
    assert len(scores) == 2 and all(0 <= accuracy <= 1 and posts == LABELLED for _, accuracy, posts in scores)

    knn = models[3][1]
    assert main(["predict", "bots", "--model", knn]) == 0
    rows = query(home, "SELECT label, score, model_id FROM user_predictions")
    assert len(rows) == UNLABELLED and all(label in ("bot", "human") and 0.5 <= score <= 1 and model == knn
                                           for label, score, model in rows)
    capsys.readouterr()
    assert main(["train", "bots", "--methods", "char", "--folds", "4"]) == 0
    assert "need a joint model" not in capsys.readouterr().out  # one exists; only the text method was asked for
