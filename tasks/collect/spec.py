"""Collector spec files (YAML or TOML), validated up front with errors that name the bad field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tasks.collect.base import CollectorError

SpecT = TypeVar("SpecT", bound=BaseModel)


class LimitsSpec(BaseModel):
    """Bounds of each run; the read budget is checked before every request."""

    model_config = ConfigDict(extra="forbid")

    max_posts: int | None = Field(default=None, gt=0, description="stop after this many posts read")
    max_seconds: float | None = Field(default=None, gt=0, description="stop after this long")
    budget_per_run: int | None = Field(default=None, gt=0, description="posts a run may read (billed reads)")
    budget_per_month: int | None = Field(default=None, gt=0, description="posts all runs of a month may read")


class CollectSpec(BaseModel):
    """Fields every platform's spec has."""

    model_config = ConfigDict(extra="forbid")

    platform: str
    name: str = Field(default="default", description="names this collection: its cursor is kept under it")
    endpoint: str | None = Field(default=None, description="base URL override (proxy, gateway, replay server)")
    media_endpoint: str | None = Field(default=None, description="base URL override for image downloads")
    download_images: bool = True
    limits: LimitsSpec = Field(default_factory=LimitsSpec)


def load_spec(path: Path, model: type[SpecT]) -> SpecT:
    """Parse a YAML / TOML spec and validate it against ``model``; CollectorError names every bad field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CollectorError(f"cannot read spec {path}: {error.strerror}") from error
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise CollectorError(f"spec {path} is not valid {path.suffix.lstrip('.').upper() or 'YAML'}: {error}") from error
    if not isinstance(data, dict):
        raise CollectorError(f"spec {path} must be a mapping of fields, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(spec)'}: {issue['msg']}" for issue in error.errors()
        )
        raise CollectorError(f"spec {path} is invalid: {problems}") from error


def spec_platform(path: str) -> str:
    """The ``platform`` a spec file declares (read before choosing the platform's full model)."""
    spec = load_spec(Path(path), _PlatformOnly)
    return spec.platform


class _PlatformOnly(BaseModel):
    model_config = ConfigDict(extra="ignore")

    platform: str
