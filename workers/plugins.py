"""Extra modules named by the ``plugins`` setting, imported by workers and by ``submit``.

They register methods (``@register_method``) or suites that are installed only where jobs
run; third-party methods can also use the ``skipbench.methods`` entry-point group instead.
"""

from __future__ import annotations

import importlib

from skipbench.errors import InvalidInput
from skipbench.settings import Settings, get_settings


def load_plugins(settings: Settings | None = None) -> list[str]:
    names = [n.strip() for n in (settings or get_settings()).plugins.split(",") if n.strip()]
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
