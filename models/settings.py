"""The one settings mechanism of every model: frozen dataclasses that round-trip through plain dicts.

A model's settings subclass ``Settings`` (``@dataclass(frozen=True)``); a part of them may itself be ``Settings``
(the training loop's ``train``, the autoencoder's network). ``from_dict`` builds them from JSON-shaped dicts
(deployment parameters, the registry, saved models): missing keys keep their defaults, a nested part may be given
partly (the rest keeps that field's default), lists become tuples where the field is a tuple, and an unknown key is
an error that lists the known ones. ``as_dict`` is the inverse; ``with_overrides`` applies flat options (the
command line's) to whichever part has a field of that name.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, Self


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every ``...Settings`` dataclass: ``from_dict``, ``as_dict`` and ``with_overrides``."""

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """Settings from a plain dict; missing keys keep their defaults, unknown keys are a ValueError."""
        return cls(**_arguments(cls, values, None))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-shaped dict (nested parts as dicts, tuples as lists) that ``from_dict`` turns back into self."""
        return _plain(dataclasses.asdict(self))

    def with_overrides(self, overrides: Mapping[str, Any]) -> Self:
        """Flat options applied to the field of that name, here or in any nested part (the command line's way)."""
        unknown = sorted(set(overrides) - _flat_names(type(self)))
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)} for {type(self).__name__}; "
                             f"settings: {', '.join(sorted(_flat_names(type(self))))}")
        changes: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Settings):
                own = {k: v for k, v in overrides.items() if k in _flat_names(type(value))}
                changes[field.name] = value.with_overrides(own)
            elif field.name in overrides:
                changes[field.name] = overrides[field.name]
        return dataclasses.replace(self, **changes)


def _arguments(cls: type[Settings], values: Mapping[str, Any], base: Settings | None) -> dict[str, Any]:
    """Constructor arguments for `cls` from `values`: nested parts merged into their defaults, lists to tuples."""
    fields = {field.name: field for field in dataclasses.fields(cls) if field.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} for {cls.__name__}; "
                         f"settings: {', '.join(fields)}")
    hints = _hints(cls)
    arguments = {}
    for name, value in values.items():
        part = _settings_type(hints[name])
        if part is not None and isinstance(value, Mapping):
            default = getattr(base, name) if base is not None else _default(fields[name])
            if isinstance(default, Settings):
                value = dataclasses.replace(default, **_arguments(type(default), value, default))
            else:
                value = part.from_dict(value)
        elif _is_tuple(hints[name]) and isinstance(value, list):
            value = tuple(value)
        arguments[name] = value
    return arguments


@cache
def _hints(cls: type[Settings]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@cache
def _flat_names(cls: type[Settings]) -> frozenset[str]:
    """Every field name a flat override may use: own plain fields and those of nested parts."""
    names: set[str] = set()
    for field in dataclasses.fields(cls):
        part = _settings_type(_hints(cls)[field.name])
        names |= _flat_names(part) if part is not None else {field.name}
    return frozenset(names)


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _options(hint: Any) -> tuple[Any, ...]:
    """The types a hint allows (the members of a union, else the hint itself)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _settings_type(hint: Any) -> type[Settings] | None:
    for option in _options(hint):
        if isinstance(option, type) and issubclass(option, Settings):
            return option
    return None


def _is_tuple(hint: Any) -> bool:
    return any(option is tuple or typing.get_origin(option) is tuple for option in _options(hint))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
