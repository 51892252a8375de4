"""Frozen-dataclass configs that can be built from ``key=value`` strings.

Method configs and suite configs both derive from ``FrozenConfig``: subclasses are
``@dataclass(frozen=True)`` and validate in ``__post_init__`` by raising ``InvalidInput``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from skipbench.errors import InvalidInput


@dataclasses.dataclass(frozen=True)
class FrozenConfig:
    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None):  # noqa: ANN206
        """Build from a mapping (values may be strings); unknown keys are rejected."""
        params = dict(params or {})
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - fields)
        if unknown:
            known = ", ".join(sorted(fields)) or "(none)"
            raise InvalidInput(f"unknown parameter(s) {', '.join(unknown)}; allowed: {known}")
        hints = typing.get_type_hints(cls)
        return cls(**{k: coerce(k, v, hints[k]) for k, v in params.items()})

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any]]:
        """(name, type, default) for each parameter."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else None
            out.append((f.name, type_name(hints[f.name]), default))
        return out


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a malformed item is an ``InvalidInput``."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--set {item!r} is malformed; expected key=value")
        out[key.strip()] = value.strip()
    return out


def type_name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Literal:
        return "|".join(map(str, typing.get_args(tp)))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(key: str, value: Any, tp: Any) -> Any:
    """Turn ``--set`` strings into the field's type; already-typed values pass through checks."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (
            isinstance(value, str) and value.strip().lower() in ("none", "null")
        )
        if is_none and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(key, value, arg)
            except InvalidInput:
                continue
        raise InvalidInput(f"{key}={value!r} is not a valid {type_name(tp)}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise InvalidInput(f"{key}={value!r} is not allowed; allowed: {', '.join(map(str, args))}")
    if origin is tuple:
        items = (
            [s for s in value.split(",") if s.strip()] if isinstance(value, str) else list(value)
        )
        return tuple(coerce(key, i.strip() if isinstance(i, str) else i, args[0]) for i in items)
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise InvalidInput(f"{key}={value!r} is not a boolean; allowed: true, false")
    if tp in (int, float):
        if isinstance(value, bool):
            raise InvalidInput(f"{key}={value!r} is not a valid {tp.__name__}")
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise InvalidInput(f"{key}={value!r} is not a valid int")
        try:
            return tp(value.strip()) if isinstance(value, str) else tp(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"{key}={value!r} is not a valid {tp.__name__}") from None
    if tp is str:
        if not isinstance(value, str):
            raise InvalidInput(f"{key}={value!r} is not a string")
        return value
    return value
