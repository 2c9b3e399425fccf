"""The one settings mechanism: plain-dict round trips, partial nested parts, unknown keys, flat overrides."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from models.corrnet import AutoencoderSettings
from models.fusion_training import FusionSettings
from models.settings import Settings
from models.training import TrainSettings


@dataclass(frozen=True)
class Part(Settings):
    """A nested part with a tuple field."""

    widths: tuple[int, ...] = (1, 2)
    rate: float = 0.5


@dataclass(frozen=True)
class Whole(Settings):
    """Settings with a nested part whose default differs from the part's own defaults."""

    size: int = 3
    name: str | None = None
    part: Part = field(default_factory=lambda: Part(rate=0.9))


def test_as_dict_is_plain_and_from_dict_turns_it_back() -> None:
    """as_dict gives JSON-shaped dicts (tuples as lists) and from_dict rebuilds equal settings."""
    whole = Whole(size=4, part=Part(widths=(8, 16)))
    assert whole.as_dict() == {"size": 4, "name": None, "part": {"widths": [8, 16], "rate": 0.5}}
    assert Whole.from_dict(whole.as_dict()) == whole
    for settings in (FusionSettings(), AutoencoderSettings(), TrainSettings()):
        assert type(settings).from_dict(settings.as_dict()) == settings


def test_a_partial_nested_part_keeps_the_rest_of_that_field_s_default() -> None:
    """Missing keys keep the field's default, also inside a nested part given partly."""
    assert Whole.from_dict({"part": {"widths": [5]}}) == Whole(part=Part(widths=(5,), rate=0.9))
    fusion = FusionSettings.from_dict({"train": {"epochs": 8}})
    assert (fusion.train.epochs, fusion.train.learning_rate, fusion.train.patience) == (8, 0.003, 10)


def test_unknown_keys_are_an_error_naming_the_known_ones() -> None:
    """An unknown key, at the top or in a nested part, is a ValueError listing the settings."""
    with pytest.raises(ValueError, match=r"unknown setting\(s\) colour for Whole; settings: size, name, part"):
        Whole.from_dict({"colour": 1})
    with pytest.raises(ValueError, match=r"unknown setting\(s\) speed for Part"):
        Whole.from_dict({"part": {"speed": 2}})


def test_flat_overrides_reach_the_part_that_has_the_field() -> None:
    """with_overrides applies command-line options to whichever part has them; unknown ones are an error."""
    settings = AutoencoderSettings().with_overrides({"image_size": 64, "epochs": 3, "word_dimensions": 32})
    assert (settings.model.image_size, settings.train.epochs, settings.word_dimensions) == (64, 3, 32)
    assert settings.train.optimizer == "rmsprop"  # the rest keeps the field's default
    with pytest.raises(ValueError, match="unknown setting"):
        AutoencoderSettings().with_overrides({"nope": 1})
