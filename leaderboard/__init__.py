"""The Streamlit leaderboard (``skipbench leaderboard``): reads the store, never writes it.

Imports only ``db`` and ``skipbench.settings`` from SkipBench (no torch, no harness).
"""
