"""One registry type for every extension point (methods, suites): names to classes.

A registry knows three sources of entries, and imports each only when asked for it:

- built-ins: a mapping name -> module, imported on first use of that name (the module
  registers its class with the registry's decorator);
- classes registered directly with the decorator (``@register_method``, ``@register_suite``),
  e.g. by a module named in ``SKIPBENCH_PLUGINS`` (see ``load_plugins``);
- the registry's entry-point group (``skipbench.methods``, ``skipbench.suites``): the entry's
  name is the registered name, its value a class (or a module that registers one on import).

``names()`` lists all three without importing anything, so a command's help text can list
them; ``get()`` imports what it needs; an unknown name is an ``InvalidInput`` (exit code 2)
that suggests the closest known name.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar, cast

from skipbench.errors import InvalidInput

T = TypeVar("T")


class UnknownName(InvalidInput):
    """A name no registry entry answers to."""


class Registry(Generic[T]):
    """Named classes of one kind; ``kind`` ("method", "suite") words the error messages."""

    def __init__(
        self,
        kind: str,
        group: str,
        builtins: Callable[[], Mapping[str, str]],
        unknown: type[InvalidInput] = UnknownName,
    ) -> None:
        self.kind = kind
        self.group = group
        self._builtins = builtins
        self._unknown = unknown
        self._entries: dict[str, T] = {}
        self._imported: set[str] = set()

    def register(self, obj: T) -> T:
        """Class decorator: add ``obj`` under ``obj.name``; another class of that name is an error."""
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(
                f"{getattr(obj, '__qualname__', obj)!r} needs a non-empty string 'name'"
            )
        existing = self._entries.get(name)
        if existing is not None and existing is not obj:
            where = f"{existing.__module__}.{getattr(existing, '__qualname__', existing)}"
            raise ValueError(f"{self.kind} name {name!r} is already registered by {where}")
        self._entries[name] = obj
        return obj

    def unregister(self, name: str) -> None:
        """Forget ``name`` (tests that register throw-away classes clean up with this)."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        """Every known name, sorted; imports nothing (built-ins and entry points by name)."""
        known = set(self._entries) | set(self._builtins()) | {ep.name for ep in self._points()}
        return sorted(known)

    def get(self, name: str) -> T:
        if name not in self._entries:
            self._load(name)
        if name not in self._entries:
            self.load_all()  # a module or plug-in may register under a name of its own choosing
        if name in self._entries:
            return self._entries[name]
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise self._unknown(
            f"unknown {self.kind} {name!r}{hint}; known {self.kind}s: {', '.join(known)}"
        )

    def load_all(self) -> dict[str, T]:
        """Import every built-in and entry point; all entries by name, sorted."""
        for name in list(self._builtins()) + [ep.name for ep in self._points()]:
            self._load(name)
        return dict(sorted(self._entries.items()))

    def _load(self, name: str) -> None:
        module = self._builtins().get(name)
        if module is not None and module not in self._imported:
            self._imported.add(module)
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:  # a real import error inside the module must surface
                    raise
        for ep in self._points():
            if ep.name == name and ep.value not in self._imported:
                self._imported.add(ep.value)
                self._load_point(ep)

    def _load_point(self, ep: EntryPoint) -> None:
        obj: Any = ep.load()
        if not isinstance(obj, type):
            return  # a module: it registered its classes on import
        if getattr(obj, "name", None) != ep.name:
            raise InvalidInput(
                f"entry point {ep.name!r} of {self.group} loads {ep.value} named "
                f"{getattr(obj, 'name', None)!r}; the entry's name must be the {self.kind}'s name"
            )
        self.register(cast(T, obj))

    def _points(self) -> Iterable[EntryPoint]:
        return entry_points(group=self.group)


def plugin_modules(setting: str) -> list[str]:
    """``SKIPBENCH_PLUGINS`` ("a.b, c") -> module names."""
    return [n.strip() for n in setting.split(",") if n.strip()]


def load_plugins(setting: str | None = None) -> list[str]:
    """Import the modules named by ``SKIPBENCH_PLUGINS`` (or ``setting``), once; every command
    that resolves methods or suites (run, submit, worker, methods, suites) calls this first.

    Entry-point plug-ins need no call: each registry finds its group itself.
    """
    if setting is None:
        from skipbench.settings import get_settings  # the floor's settings, read only when asked

        setting = get_settings().plugins
    names = plugin_modules(setting)
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            raise InvalidInput(
                f"plugin module {name!r} (SKIPBENCH_PLUGINS) is not importable"
            ) from None
    return names
