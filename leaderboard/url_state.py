"""Widget state in the URL (``st.query_params``), so a filtered view can be shared as a link.

A page declares its widgets as ``Param``s; ``restore`` puts each one's value from the URL (or
its default) into ``st.session_state`` before the widgets are drawn (widgets are then created
without a ``value``/``index``, so there is one source of truth), and ``publish`` writes the
non-default values back after them. Values that are not among a widget's options are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st


@dataclass(frozen=True)
class Param:
    key: str  # the widget's key
    name: str  # the URL parameter
    kind: str  # list, bool, str, range
    default: Any = None

    def __post_init__(self) -> None:
        if self.kind not in ("list", "bool", "str", "range"):
            raise ValueError(f"kind={self.kind!r}; allowed: list, bool, str, range")

    def parse(self, params: Any, options: Sequence[Any] | None) -> Any:
        """The value in ``params`` (``st.query_params``), or the default when absent/invalid."""
        if self.name not in params:
            return self.default
        if self.kind == "list":
            wanted = params.get_all(self.name)
            return [v for v in wanted if options is None or v in options]
        raw = params.get(self.name, "")
        if self.kind == "bool":
            return raw.lower() in ("1", "true", "yes", "on")
        if self.kind == "range":
            low, _, high = raw.partition("-")
            try:
                return (float(low), float(high))
            except ValueError:
                return self.default
        return raw if options is None or raw in options else self.default

    def encode(self, value: Any) -> str | list[str] | None:
        """The URL text of ``value``; None for the default (kept out of the URL)."""
        if value == self.default or (self.kind == "list" and not value):
            return None
        if self.kind == "list":
            return [str(v) for v in value]
        if self.kind == "bool":
            return "1" if value else "0"
        if self.kind == "range":
            return f"{float(value[0]):g}-{float(value[1]):g}"
        return str(value)


def restore(param: Param, options: Sequence[Any] | None = None) -> None:
    """Seed the widget's session state from the URL once (a rerun keeps what the user set)."""
    if param.key not in st.session_state:
        st.session_state[param.key] = param.parse(st.query_params, options)
    elif param.kind == "list" and options is not None:  # options changed since: drop the gone
        current = list(st.session_state[param.key] or [])
        kept = [v for v in current if v in options]
        if kept != current:
            st.session_state[param.key] = kept


def publish(params: Sequence[Param]) -> None:
    """Write each widget's current value to the URL (defaults removed)."""
    for param in params:
        value = st.session_state.get(param.key, param.default)
        text = param.encode(value)
        if text is None:
            if param.name in st.query_params:
                del st.query_params[param.name]
        elif st.query_params.get_all(param.name) != (text if isinstance(text, list) else [text]):
            st.query_params[param.name] = text
