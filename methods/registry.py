"""One small registry: a dict, a decorator, and entry points for third-party methods.

Built-in methods live in this package (one module each, listed in ``_BUILTIN_MODULES``);
outside packages register through the ``skipbench.methods`` entry-point group, whose
entries point at a ``Method`` subclass (or a module that registers one on import).
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from skipbench.errors import InvalidInput

if TYPE_CHECKING:
    from methods.base import Method

ENTRY_POINT_GROUP = "skipbench.methods"
_BUILTIN_MODULES = ("methods.dense", "methods.shortgpt", "methods.sleb", "methods.orthorank")

_REGISTRY: dict[str, type[Method]] = {}
_loaded = False


class UnknownMethod(InvalidInput):
    pass


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: add ``cls`` under ``cls.name``; a second method with that name is an error."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__qualname__} needs a non-empty string 'name'")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(
            f"method name {name!r} is already registered by {existing.__module__}.{existing.__qualname__}"
        )
    _REGISTRY[name] = cls
    return cls


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real import error inside the module must surface
                raise
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if isinstance(obj, type):
            register_method(obj)


def available_methods() -> dict[str, type[Method]]:
    """All registered methods by name (built-ins and entry points), sorted."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def get_method(name: str) -> type[Method]:
    methods = available_methods()
    if name in methods:
        return methods[name]
    close = difflib.get_close_matches(name, list(methods), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownMethod(f"unknown method {name!r}{hint}; known methods: {', '.join(methods)}")
