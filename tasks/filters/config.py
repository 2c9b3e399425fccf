"""CurateConfig: which rules run, in which order, and every option they take (paper 001's filters by default)."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.filters.language import DETECTOR_NAMES

ALL_RULES = (
    "empty",
    "min_words",
    "language",
    "per_user",
    "city_spam",
    "require",
    "bbox",
    "duplicate",
    "near_duplicate_image",
)
REQUIRE_COMPONENTS = ("image", "coordinates", "hashtags", "text")
DEFAULT_MIN_CONFIDENCE = 0.1  # fast and langdetect (paper 001's rule); the stack uses its model's own threshold
TOO_SHORT = ("detect", "keep", "drop")


@dataclass(frozen=True)
class CurateConfig:
    """Every option of the curate rules, with paper 001's filters as defaults."""

    rules: tuple[str, ...] = ALL_RULES
    languages: tuple[str, ...] = ("en", "es", "ca")
    detector: str = "stack"
    min_confidence: float | None = None
    language_model: str | None = None
    min_letters: int = 0
    too_short: str = "detect"
    processes: int = 2
    min_words: int = 3
    per_user_mode: str = "drop"
    per_user_max: int = 20
    per_user_cap: int = 10
    home_cities: tuple[str, ...] = ("barcelona",)
    city_min_population: int = 500_000
    require: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    bbox_keep_missing: bool = True
    phash_distance: int = 4

    def __post_init__(self) -> None:
        """Reject unknown rules, modes, components and detectors at construction."""
        _check_subset("rules", self.rules, ALL_RULES)
        _check_subset("require", self.require, REQUIRE_COMPONENTS)
        _check_subset("detector", (self.detector,), DETECTOR_NAMES)
        _check_subset("per_user_mode", (self.per_user_mode,), ("drop", "cap"))
        _check_subset("too_short", (self.too_short,), TOO_SHORT)
        if self.language_model is not None and not self.detector.startswith("stack"):
            raise ValueError(f"language_model is the stack's; detector {self.detector!r} does not use one")
        if self.bbox is not None and not (len(self.bbox) == 4 and self.bbox[1] <= self.bbox[3]):
            raise ValueError(f"bbox must be (min_lon, min_lat, max_lon, max_lat), got {self.bbox!r}")
        if self.phash_distance < 0:
            raise ValueError(f"phash_distance must be >= 0, got {self.phash_distance}")


def _check_subset(field: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """Raise ValueError naming ``field`` if any value is not allowed."""
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise ValueError(f"{field}: unknown {unknown}; choose from {list(allowed)}")
