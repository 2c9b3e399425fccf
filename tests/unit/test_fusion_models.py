"""Paper 003's six classifiers, the encoders and the shared training loop, on tiny synthetic posts (CPU)."""

import numpy as np
import pytest
import torch

from models.encoders import (
    EmbeddingBagEncoder,
    FeatureEncoder,
    FrozenBackbone,
    RecurrentEncoder,
    ResNetImageEncoder,
)
from models.fusion import VARIANTS, FusionClassifier, FusionClassifierSettings, ranking_loss
from models.fusion_training import FusionSettings, build_model, evaluate, subset, train_classifier
from models.training import TrainSettings, fit, predict
from storage import model_store
from storage.home import Home

CLASSES, VOCABULARY, SIZE = 3, 12, 16


def tiny_posts(n: int = 240, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Class k: words 2+3k and 3+3k, and images whose colour channel k is bright. Some posts miss a modality."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    text = np.zeros((n, 6), dtype=np.int64)
    text[:, 0] = 2 + 3 * labels
    text[:, 1] = 3 + 3 * labels
    text[:, 2] = rng.integers(2, VOCABULARY, n)
    image = rng.integers(0, 60, (n, 3, SIZE, SIZE)).astype(np.uint8)
    image[np.arange(n), labels] += 150
    has_text, has_image = rng.random(n) > 0.1, rng.random(n) > 0.1
    has_text[~(has_text | has_image)] = True
    split = np.where(np.arange(n) % 5 == 0, "val", "train").astype(object)
    return {"text": text, "image": image, "has_text": has_text, "has_image": has_image, "label": labels}, split


def small_model(variant: str) -> FusionClassifier:
    """A variant's network with small sizes."""
    settings = FusionSettings(text_encoder="bag-max", image_encoder="scratch-cnn", embedding_dim=16, hidden=16,
                              image_size=SIZE, image_widths=(8, 16), dropout=0.1)
    return build_model(variant, settings, CLASSES, VOCABULARY, 0, None)


FAST = TrainSettings(epochs=6, batch_size=32, learning_rate=0.01, patience=10, progress=False, threads=1)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_learns_and_its_loss_falls(variant):
    """Every variant learns and its loss falls."""
    arrays, split = tiny_posts()
    model = small_model(variant)
    result = train_classifier(model, arrays, split, FAST)
    losses = [epoch.train_loss for epoch in result.history]
    assert losses[-1] < 0.7 * losses[0]
    assert result.best_score > 0.8  # validation macro-F1; chance is about 1/3


@pytest.mark.parametrize("variant", ["late", "joint", "common"])
def test_variants_built_for_missing_modalities_predict_from_either_one(variant):
    """Variants built for missing modalities predict from either one."""
    arrays, split = tiny_posts()
    model = small_model(variant)
    train_classifier(model, arrays, split, FAST)
    rows = np.flatnonzero(split == "val")
    features = subset({k: v for k, v in arrays.items() if k != "label"}, rows)
    scores = {row["condition"]: row["accuracy"] for row in evaluate(model, features, arrays["label"][rows],
                                                                  CLASSES, "val", "cpu")}
    assert scores["image_only"] > 0.6 and scores["text_only"] > 0.6
    no_text = {**{k: np.asarray(v[np.arange(len(rows))]) for k, v in features.items()},
               "has_text": np.zeros(len(rows), dtype=bool)}
    probabilities = np.exp(predict(model, no_text, device="cpu"))
    assert np.isfinite(probabilities).all() and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_saved_and_loaded_model_predicts_identically(tmp_path):
    """Saved and loaded model predicts identically."""
    arrays, split = tiny_posts()
    model = small_model("common")
    train_classifier(model, arrays, split, TrainSettings(epochs=2, progress=False, threads=1))
    model_store.save_model(Home(tmp_path), "m1", {"weights": model.state_dict()})
    loaded = small_model("common")
    loaded.load_state_dict(model_store.load_model(Home(tmp_path), "models/m1/model.pt")["weights"])
    inputs = {k: v for k, v in arrays.items() if k != "label"}
    assert np.array_equal(predict(model, inputs, device="cpu"), predict(loaded.eval(), inputs, device="cpu"))


def test_resuming_from_a_checkpoint_gives_the_same_model_as_an_uninterrupted_run():
    """Resuming from a checkpoint gives the same model as an uninterrupted run."""
    arrays, split = tiny_posts()
    config = TrainSettings(epochs=4, batch_size=32, patience=10, progress=False, threads=1)
    torch.manual_seed(1)
    straight = small_model("common")
    train_classifier(straight, arrays, split, config)

    saved: list[dict] = []
    torch.manual_seed(1)
    interrupted = small_model("common")
    train_classifier(interrupted, arrays, split, TrainSettings(**{**config.__dict__, "epochs": 2}),
                     save_checkpoint=lambda state: saved.append(state))
    resumed = small_model("common")
    result = train_classifier(resumed, arrays, split, config, resume_from=saved[-1])
    assert [epoch.epoch for epoch in result.history] == [1, 2, 3, 4]
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_early_stopping_keeps_the_best_epoch():
    """Early stopping keeps the best epoch."""
    arrays, split = tiny_posts()
    scores = iter([0.5, 0.9, 0.6, 0.6, 0.6, 0.6])
    model = small_model("text")
    snapshots = []
    result = fit(model, subset(arrays, np.flatnonzero(split == "train")), lambda m, b: m.loss(b),
                 lambda m: (snapshots.append({k: v.clone() for k, v in m.state_dict().items()}), next(scores))[1],
                 TrainSettings(epochs=6, patience=2, progress=False, threads=1))
    assert result.best_epoch == 2 and result.stopped_early and len(result.history) == 4
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, snapshots[1][name])


def test_ranking_loss_prefers_matching_pairs():
    """Ranking loss prefers matching pairs."""
    torch.manual_seed(0)
    text = torch.randn(8, 4)
    labels = torch.arange(8) % 2
    present = torch.ones(8, dtype=torch.bool)
    matched = ranking_loss(text.clone(), text, labels, present, present, negatives=3)
    shuffled = ranking_loss(text.roll(1, 0), text, labels, present, present, negatives=3)
    assert matched < shuffled
    assert ranking_loss(text, text, torch.zeros(8, dtype=torch.long), present, present, 3) == 0


def test_encoders_ignore_padding_and_give_zero_for_empty_posts():
    """Encoders ignore padding and give zero for empty posts."""
    ids = torch.tensor([[4, 5, 0, 0], [4, 5, 0, 0], [0, 0, 0, 0]])
    ids_longer = torch.tensor([[4, 5, 0, 0, 0, 0]])
    for encoder in (EmbeddingBagEncoder(10, 8, "max", 0.0), EmbeddingBagEncoder(10, 8, "mean", 0.0),
                    RecurrentEncoder(10, 8, 4, "gru", 0.0), RecurrentEncoder(10, 8, 4, "lstm", 0.0)):
        encoder.eval()
        out = encoder(ids)
        assert out.shape == (3, encoder.output_dim)
        assert torch.allclose(out[0], encoder(ids_longer)[0], atol=1e-6)
        assert torch.count_nonzero(out[2]) == 0
    image = ResNetImageEncoder(channels=1, widths=(4, 8), image_size=32).eval()
    assert image(torch.zeros(2, 1, 32, 32, dtype=torch.uint8)).shape == (2, 8)
    assert FeatureEncoder(5)(torch.ones(2, 5)).shape == (2, 5)


def test_configuration_errors_name_the_choices():
    """Configuration errors name the choices."""
    with pytest.raises(ValueError, match="choose one of image, text, late"):
        FusionClassifierSettings("fancy", 3)
    with pytest.raises(ValueError, match="needs an image encoder"):
        FusionClassifier(FusionClassifierSettings("joint", 3), EmbeddingBagEncoder(5), None)
    with pytest.raises(FileNotFoundError, match="never downloads"):
        model_store.load_pretrained_network("/nonexistent/resnet.pt")


@pytest.mark.parametrize("encoder", ["bag-mean", "gru", "lstm", "minilm", "minilm+bag"])
def test_every_text_encoder_learns_the_text_classifier(encoder):
    """Every text encoder learns the text classifier."""
    arrays, split = tiny_posts()
    feature_dim = 0
    if encoder.startswith("minilm"):  # stand-in sentence vectors carrying the class, as MiniLM's would
        feature_dim = 24
        rng = np.random.default_rng(1)
        centres = rng.normal(size=(CLASSES, feature_dim)).astype(np.float32)
        sentences = centres[arrays["label"]] + rng.normal(scale=0.5, size=(len(split), feature_dim))
        sentences = sentences.astype(np.float32)
        arrays = {**arrays, "text": sentences if encoder == "minilm" else
                  np.concatenate([arrays["text"].astype(np.float32), sentences], 1)}
    settings = FusionSettings(text_encoder=encoder, embedding_dim=16, hidden=16, dropout=0.1, max_tokens=6)
    model = build_model("text", settings, CLASSES, VOCABULARY, feature_dim, None)
    result = train_classifier(model, arrays, split, FAST)
    assert result.history[-1].train_loss < 0.7 * result.history[0].train_loss
    assert result.best_score > 0.8


def test_pretrained_networks_load_from_export_and_torchscript_files(tmp_path):
    """Pretrained networks load from export and torchscript files."""
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    images = torch.rand(2, 3, 16, 16)
    batch = {0: torch.export.Dim("batch")}  # exported with a free batch size, as docs/LEARNING.md says
    torch.export.save(torch.export.export(network, (images,), dynamic_shapes=(batch,)), str(tmp_path / "net.pt2"))
    loaded = model_store.load_pretrained_network(tmp_path / "net.pt2")
    assert torch.allclose(loaded(images), network(images))
    frozen = FrozenBackbone(loaded, channels=3, image_size=16)
    assert frozen.output_dim == 4 and not any(p.requires_grad for p in frozen.parameters())


def test_a_checkpoint_of_another_architecture_is_ignored_not_fatal():
    """A checkpoint of another architecture is ignored not fatal."""
    arrays, split = tiny_posts()
    saved: list[dict] = []
    train_classifier(small_model("text"), arrays, split, TrainSettings(epochs=1, progress=False, threads=1),
                     save_checkpoint=saved.append)
    result = train_classifier(small_model("joint"), arrays, split, FAST, resume_from=saved[-1])
    assert [epoch.epoch for epoch in result.history] == list(range(1, FAST.epochs + 1))


def test_an_empty_split_is_scored_as_missing_not_a_crash():
    """An empty split is scored as missing not a crash."""
    arrays, split = tiny_posts()
    model = small_model("joint")
    rows = evaluate(model, subset({k: v for k, v in arrays.items() if k != "label"}, np.array([], dtype=int)),
                    np.array([], dtype=np.int64), CLASSES, "test", "cpu")
    assert [row["condition"] for row in rows] == ["both", "image_only", "text_only"]
    assert all(row["n"] == 0 and np.isnan(row["accuracy"]) for row in rows)


def frozen_feature_posts(n: int = 300, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Frozen-feature stand-ins on very different scales: 'image' vectors (large, offset) carry the class in a few
    dimensions, 'text' vectors (small, like L2-normalised sentence vectors) carry it too, with noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    image = rng.normal(50.0, 20.0, (n, 40)).astype(np.float32)
    image[np.arange(n), labels] += 60.0
    text = rng.normal(0.0, 0.05, (n, 24)).astype(np.float32)
    text[np.arange(n), labels] += 0.08
    split = np.where(np.arange(n) % 4 == 0, "val", "train").astype(object)
    return {"text": text, "image": image, "has_text": np.ones(n, bool), "has_image": np.ones(n, bool),
            "label": labels}, split


@pytest.mark.parametrize("variant", ["probe", "early", "late", "common"])
def test_frozen_features_of_any_scale_are_learnt_after_standardisation(variant):
    arrays, split = frozen_feature_posts()
    settings = FusionSettings(text_encoder="e5-small", image_encoder="efficientnet-lite0", embedding_dim=16,
                              hidden=16, dropout=0.1)
    model = build_model(variant, settings, CLASSES, 0, 24, 40)
    result = train_classifier(model, arrays, split, TrainSettings(epochs=20, batch_size=32, learning_rate=0.01,
                                                                  patience=20, progress=False, threads=1))
    assert result.best_score > 0.9
    image_encoder = model.image_encoder
    assert image_encoder.mean.mean() > 40  # the training rows' statistics, saved with the weights
    assert "image_encoder.scale" in model.state_dict()


def test_the_probe_is_one_linear_layer_over_the_features():
    settings = FusionSettings(text_encoder="e5-small", image_encoder="efficientnet-lite0")
    model = build_model("probe", settings, CLASSES, 0, 24, 40)
    assert isinstance(model.head, torch.nn.Linear) and model.head.in_features == 64
    text_only = build_model("probe", settings, CLASSES, 0, 24, None)  # data without images: the text alone
    assert text_only.image_encoder is None and text_only.head.in_features == 24


def test_frozen_text_vectors_sit_beside_a_trained_rnn():
    settings = FusionSettings(text_encoder="e5-small+gru", embedding_dim=16, max_tokens=6)
    model = build_model("text", settings, CLASSES, VOCABULARY, 24, None)
    packed = torch.cat([torch.randint(2, VOCABULARY, (5, 6)).float(), torch.randn(5, 24)], 1)
    assert isinstance(model.text_encoder.tokens, RecurrentEncoder)
    assert model.text_encoder(packed).shape == (5, 16 + 16)
