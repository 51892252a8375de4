"""Standardized evaluation suites. Each suite is one module with a ``Suite`` subclass."""
