"""Computation-skipping methods: the contract (``base``), the registry and one file per method."""

from methods.base import ApplyContext, CalibrationSpec, Method, MethodConfig, MethodOutcome
from methods.registry import available_methods, get_method, register_method

__all__ = [
    "ApplyContext",
    "CalibrationSpec",
    "Method",
    "MethodConfig",
    "MethodOutcome",
    "available_methods",
    "get_method",
    "register_method",
]
