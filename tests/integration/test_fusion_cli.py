"""`postatlas train fusion` and `predict fusion` on a demo warehouse: registry, tables, predictions, reruns."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main
from models.fusion import VARIANTS
from tests.helpers import query

pytestmark = pytest.mark.integration
TRAIN = ["train", "fusion", "--task", "topic", "--epochs", "3", "--image-epochs", "3", "--image-size", "32"]


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory, prefect_server) -> Path:
    home = tmp_path_factory.mktemp("fusion")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POSTATLAS_HOME", str(home))
        assert main(["demo", "--posts", "600", "--seed", "5", "--no-learn"]) == 0
        assert main(TRAIN) == 0
    return home


def test_training_registers_every_variant_with_its_evaluations(trained_home: Path) -> None:
    models = query(trained_home, "SELECT variant, kind, task, train_posts, checkpoint_path FROM models ORDER BY 1")
    assert sorted(row[0] for row in models) == sorted([*VARIANTS, "ensemble"])
    assert {row[1:3] for row in models} == {("fusion", "topic")}
    for row in models:
        assert (trained_home / row[4]).is_file()
    evaluations = query(trained_home, "SELECT split, condition, count(*) FROM model_evaluations GROUP BY ALL")
    assert sorted(evaluations) == [(s, c, 8) for s in ("test", "val") for c in ("both", "image_only", "text_only")]
    curated_labelled = query(trained_home, "SELECT count(*) FROM curated_posts JOIN post_labels USING (post_id)")
    assert query(trained_home, "SELECT min(train_posts + val_posts + test_posts) FROM models") == curated_labelled
    best = query(trained_home, "SELECT max(accuracy) FROM model_evaluations WHERE split = 'test' "
                               "AND condition = 'both'")[0][0]
    classes = query(trained_home, "SELECT count(DISTINCT label) FROM post_labels")[0][0]
    assert best > 1.5 / classes  # clearly above chance after three epochs


def test_the_summary_prints_the_papers_table(trained_home: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("POSTATLAS_HOME", str(trained_home))
    assert main(TRAIN) == 0  # the same data and settings: every model is reused, nothing is added
    out = capsys.readouterr().out
    assert "acc. image only" in out and all(variant in out for variant in [*VARIANTS, "ensemble"])
    assert query(trained_home, "SELECT count(*) FROM models") == [(8,)]
    assert query(trained_home, "SELECT count(*) FROM model_evaluations") == [(48,)]


def test_the_defaults_read_pretrained_features_encoded_once(trained_home: Path) -> None:
    encoders = query(trained_home, "SELECT DISTINCT json_extract_string(config, '$.text_encoder'), "
                                   "json_extract_string(config, '$.image_encoder') FROM models WHERE variant = 'late'")
    assert encoders == [("e5-small+minilm+bag", "efficientnet-lite0")]
    labelled = query(trained_home, "SELECT count(*) FROM curated_posts JOIN post_labels USING (post_id)")[0][0]
    stored = dict(query(trained_home, "SELECT encoder, count(*) FROM post_features GROUP BY 1"))
    assert stored["e5-small"] >= labelled and stored["minilm"] >= labelled
    assert query(trained_home, "SELECT count(*) - count(DISTINCT (post_id, encoder)) FROM post_features") == [(0,)]
    with_image = query(trained_home, "SELECT count(*) FROM curated_posts JOIN post_labels l USING (post_id) "
                                     "WHERE post_id IN (SELECT post_id FROM media WHERE status = 'stored')")[0][0]
    assert stored["efficientnet-lite0"] >= with_image > 0
    assert query(trained_home, "SELECT DISTINCT dimension FROM post_features WHERE encoder = 'efficientnet-lite0'"
                 ) == [(1280,)]


def test_the_ensemble_averages_the_three_best_variants_by_validation(trained_home: Path) -> None:
    import torch

    [(path,)] = query(trained_home, "SELECT checkpoint_path FROM models WHERE variant = 'ensemble'")
    members = torch.load(trained_home / path, weights_only=False)["members"]
    best_three = query(trained_home, "SELECT model_id FROM model_evaluations WHERE split = 'val' "
                                     "AND condition = 'both' AND variant != 'ensemble' "
                                     "ORDER BY accuracy DESC, model_id LIMIT 3")
    assert sorted(members) == sorted(row[0] for row in best_three)
    spreads = query(trained_home, "SELECT min(accuracy_sd), max(accuracy_sd) FROM model_evaluations")[0]
    assert 0 <= spreads[0] <= spreads[1] < 0.5 and spreads[1] > 0
    # a bootstrap of a split scored all right (or all wrong) has no spread; any other has some
    assert query(trained_home, "SELECT count(*) FROM model_evaluations WHERE accuracy_sd = 0 "
                               "AND accuracy NOT IN (0, 1)") == [(0,)]


def test_predict_labels_every_curated_post_without_gold_once(trained_home: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("POSTATLAS_HOME", str(trained_home))
    assert main(["predict", "fusion", "--task", "topic"]) == 0
    expected = query(trained_home, "SELECT count(*) FROM curated_posts WHERE post_id NOT IN "
                                   "(SELECT post_id FROM post_labels WHERE task = 'topic')")[0][0]
    assert expected > 0
    rows = query(trained_home, "SELECT count(*), count(DISTINCT post_id), min(score), max(score) FROM predictions")
    assert rows[0][0] == rows[0][1] == expected
    assert 0 < rows[0][2] <= rows[0][3] <= 1
    labels = {r[0] for r in query(trained_home, "SELECT DISTINCT label FROM post_labels")}
    assert {r[0] for r in query(trained_home, "SELECT DISTINCT label FROM predictions")} <= labels
    best = query(trained_home, "SELECT m.model_id FROM models m JOIN model_evaluations e USING (model_id) "
                               "WHERE e.split = 'val' AND e.condition = 'both' "
                               "ORDER BY e.accuracy DESC, e.macro_f1 DESC, m.created_at DESC LIMIT 1")[0][0]
    assert query(trained_home, "SELECT DISTINCT model_id FROM predictions") == [(best,)]
    modalities = dict(query(trained_home, "SELECT modalities, count(*) FROM predictions GROUP BY 1"))
    with_image = query(trained_home, "SELECT count(*) FROM predictions WHERE post_id IN "
                                     "(SELECT post_id FROM media WHERE status = 'stored')")[0][0]
    assert modalities.get("text+image", 0) + modalities.get("image", 0) == with_image
    assert modalities.get("text", 0) > 0  # posts without an image still get a prediction
    assert "predicted" in capsys.readouterr().out

    named = query(trained_home, "SELECT model_id FROM models WHERE variant = 'text'")[0][0]
    assert main(["predict", "fusion", "--task", "topic", "--model", named]) == 0  # rerun: rows replaced
    assert query(trained_home, "SELECT count(*), count(DISTINCT post_id) FROM predictions") == [(expected, expected)]
    assert query(trained_home, "SELECT DISTINCT model_id FROM predictions") == [(named,)]
    runs = query(trained_home, "SELECT flow, status FROM runs WHERE flow LIKE '%fusion' ORDER BY started_at")
    assert runs == [("train-fusion", "completed")] * 2 + [("predict-fusion", "completed")] * 2


def test_errors_say_what_to_do(trained_home: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("POSTATLAS_HOME", str(trained_home))
    assert main(["train", "fusion", "--task", "nosuchtask"]) == 2
    assert "label tasks: topic" in capsys.readouterr().err
    assert main(["predict", "fusion", "--task", "nosuchtask"]) == 2
    assert "postatlas train fusion --task nosuchtask" in capsys.readouterr().err
    assert main(["train", "fusion", "--task", "topic", "--variant", "fancy"]) == 2
    assert "unknown variant" in capsys.readouterr().err
    assert main(["predict", "fusion", "--task", "topic", "--model", "nope"]) == 2
    assert "no fusion model 'nope'" in capsys.readouterr().err
    import torch

    if not torch.cuda.is_available():
        assert main([*TRAIN, "--variant", "text", "--device", "cuda"]) == 2
        assert "no CUDA device is visible" in capsys.readouterr().err


def test_a_pretrained_image_network_loads_from_a_local_file_only(trained_home: Path, tmp_path: Path, monkeypatch,
                                                                  capsys) -> None:
    import torch

    monkeypatch.setenv("POSTATLAS_HOME", str(trained_home))
    missing = tmp_path / "resnet.pt"
    assert main([*TRAIN, "--variant", "image", "--image-backbone", str(missing)]) == 2
    assert f"pretrained weights not found at {missing}" in capsys.readouterr().err

    # A stand-in for a pretrained backbone: any TorchScript network from images to vectors.
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                  torch.nn.Flatten())
    torch.jit.save(torch.jit.script(network), str(missing))
    assert main([*TRAIN, "--variant", "image,joint", "--image-backbone", str(missing)]) == 0
    rows = query(trained_home, "SELECT variant, json_extract_string(config, '$.image_backbone') FROM models "
                               "WHERE json_extract_string(config, '$.image_backbone') IS NOT NULL ORDER BY 1")
    assert rows == [("image", str(missing)), ("joint", str(missing))]
    image_model = query(trained_home, "SELECT model_id FROM models WHERE variant = 'image' "
                                      "AND json_extract_string(config, '$.image_backbone') IS NOT NULL")[0][0]
    state = torch.load(trained_home / "models" / image_model / "model.pt", weights_only=False)
    frozen = {k: v for k, v in state["weights"].items() if k.startswith("image_encoder.network.")}
    assert torch.equal(frozen["image_encoder.network.0.weight"], network[0].weight.detach())  # never updated
