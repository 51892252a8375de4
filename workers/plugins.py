"""Extra modules named by the ``plugins`` setting, imported by workers and by ``submit``.

They register methods (``@register_method``) or suites that are installed only where jobs
run; outside packages can also use the ``skipbench.methods`` or ``skipbench.suites`` entry-point group.
"""

from __future__ import annotations

from skipbench import registry
from skipbench.settings import Settings, get_settings


def load_plugins(settings: Settings | None = None) -> list[str]:
    """The one plug-in loader (``skipbench.registry.load_plugins``) with these settings."""
    return registry.load_plugins((settings or get_settings()).plugins)
