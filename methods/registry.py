"""The method registry: built-ins by name, ``@register_method``, and the ``skipbench.methods``
entry-point group for outside packages (entry name = method name, value = a ``Method`` subclass
or a module that registers one on import). See ``skipbench.registry`` for the rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skipbench.errors import InvalidInput
from skipbench.registry import Registry

if TYPE_CHECKING:
    from methods.base import Method

ENTRY_POINT_GROUP = "skipbench.methods"
# name -> the module that registers it; imported only when that method is used or listed
BUILTINS = {
    "angular": "methods.angular",
    "blockpruner": "methods.blockpruner",
    "dense": "methods.dense",
    "llm-drop": "methods.llm_drop",
    "orthorank": "methods.orthorank",
    "random": "methods.baselines",
    "reverse-order": "methods.baselines",
    "shortened-llama": "methods.shortened_llama",
    "shortgpt": "methods.shortgpt",
    "sleb": "methods.sleb",
}


class UnknownMethod(InvalidInput):
    pass


METHODS: Registry[type[Method]] = Registry(
    "method", ENTRY_POINT_GROUP, lambda: BUILTINS, unknown=UnknownMethod
)


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: add ``cls`` under ``cls.name``; a second method with that name is an error."""
    return METHODS.register(cls)


def available_methods() -> dict[str, type[Method]]:
    """All registered methods by name (built-ins and entry points), sorted."""
    return METHODS.load_all()


def method_names() -> list[str]:
    """Known method names without importing any method (for help texts)."""
    return METHODS.names()


def get_method(name: str) -> type[Method]:
    return METHODS.get(name)
