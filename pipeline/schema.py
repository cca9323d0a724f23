"""A small declarative schema for params.yaml.

Each spec validates one value and raises ParamsError naming the full key
(e.g. ``train.stock_rnn.epochs``) and what is allowed. Kept torch-free so that
validating params costs milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ParamsError


def _type_name(value: Any) -> str:
    return type(value).__name__


class Spec:
    def validate(self, value: Any, key: str) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Number(Spec):
    """An int (integer=True) or float, optionally bounded (inclusive unless stated)."""

    integer: bool = False
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False

    def validate(self, value: Any, key: str) -> Any:
        # bool is an int subclass in Python; `epochs: true` is still a mistake.
        ok = isinstance(value, int) if self.integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            kind = "an integer" if self.integer else "a number"
            raise ParamsError(key, f"expected {kind}{self._range()}, got {value!r} ({_type_name(value)})")
        too_low = self.min is not None and (value <= self.min if self.min_exclusive else value < self.min)
        too_high = self.max is not None and value > self.max
        if too_low or too_high:
            raise ParamsError(key, f"{value!r} is out of range; allowed{self._range()}")
        return value if self.integer else float(value)

    def _range(self) -> str:
        low = None if self.min is None else f"{'>' if self.min_exclusive else '>='} {self.min:g}"
        high = None if self.max is None else f"<= {self.max:g}"
        parts = [p for p in (low, high) if p]
        return f" {' and '.join(parts)}" if parts else ""


def Int(min: int | None = None, max: int | None = None) -> Number:
    return Number(integer=True, min=min, max=max)


def Float(min: float | None = None, max: float | None = None, min_exclusive: bool = False) -> Number:
    return Number(integer=False, min=min, max=max, min_exclusive=min_exclusive)


@dataclass(frozen=True)
class Bool(Spec):
    def validate(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise ParamsError(key, f"expected true or false, got {value!r} ({_type_name(value)})")
        return value


@dataclass(frozen=True)
class Str(Spec):
    choices: tuple[str, ...] | None = None

    def validate(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise ParamsError(key, f"expected a non-empty string, got {value!r} ({_type_name(value)})")
        if self.choices is not None and value not in self.choices:
            raise ParamsError(key, f"{value!r} is not allowed; choose one of: {', '.join(self.choices)}")
        return value


@dataclass(frozen=True)
class List(Spec):
    item: Spec
    min_len: int = 1
    unique: bool = False

    def validate(self, value: Any, key: str) -> list:
        if not isinstance(value, list):
            raise ParamsError(key, f"expected a list, got {value!r} ({_type_name(value)})")
        if len(value) < self.min_len:
            raise ParamsError(key, f"expected at least {self.min_len} item(s), got {len(value)}")
        items = [self.item.validate(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if self.unique:
            seen = set()
            for i, v in enumerate(items):
                marker = repr(v)
                if marker in seen:
                    raise ParamsError(f"{key}[{i}]", f"duplicate item {v!r}")
                seen.add(marker)
        return items


@dataclass(frozen=True)
class Section(Spec):
    """A mapping with a fixed set of keys; every key is required, unknown keys are errors."""

    fields: dict[str, Spec] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()
    # cross-field rule: callable(validated_dict, key) raising ParamsError
    check: Any = None

    def validate(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            raise ParamsError(key or "<top level>", f"expected a mapping, got {value!r} ({_type_name(value)})")
        prefix = f"{key}." if key else ""
        unknown = sorted(set(value) - set(self.fields), key=str)
        if unknown:
            raise ParamsError(
                f"{prefix}{unknown[0]}", f"unknown key; allowed keys here: {', '.join(self.fields)}"
            )
        missing = [k for k in self.fields if k not in value and k not in self.optional]
        if missing:
            raise ParamsError(f"{prefix}{missing[0]}", "required key is missing")
        result = {k: spec.validate(value[k], f"{prefix}{k}") for k, spec in self.fields.items() if k in value}
        if self.check is not None:
            self.check(result, key)
        return result


@dataclass(frozen=True)
class Tagged(Spec):
    """A mapping whose `tag` key picks which Section validates the rest (e.g. noise kinds)."""

    tag: str
    variants: dict[str, Section]

    def validate(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict) or self.tag not in value:
            raise ParamsError(key, f"expected a mapping with a '{self.tag}' key ({', '.join(self.variants)})")
        kind = Str(tuple(self.variants)).validate(value[self.tag], f"{key}.{self.tag}")
        rest = {k: v for k, v in value.items() if k != self.tag}
        return {self.tag: kind, **self.variants[kind].validate(rest, key)}


@dataclass(frozen=True)
class Mapping(Spec):
    """A mapping whose keys are chosen by the user (e.g. model names) and each value has its own spec."""

    value_for: Any  # callable(name, key) -> Spec, raising ParamsError for an unknown name

    def validate(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict) or not value:
            raise ParamsError(key, f"expected a non-empty mapping, got {value!r}")
        return {name: self.value_for(name, f"{key}.{name}").validate(v, f"{key}.{name}") for name, v in value.items()}
