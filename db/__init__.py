"""The SQL store: SQLAlchemy models, Alembic migrations and a small query/write API.

Imports nothing from the other SkipBench packages (only ``skipbench.settings``/``errors``).
"""
