"""Standardized evaluation suites: one folder per suite (``<name>/declaration.py``, torch-free, and
``<name>/suite.py``), found by name; ``base`` holds the contract and the registry."""
