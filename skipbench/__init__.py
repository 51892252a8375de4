"""SkipBench: benchmark harness and leaderboard for training-free computation skipping in LLMs.

Kept import-light on purpose: the CLI and the leaderboard import this package, and neither may
pull torch or transformers until a command actually needs them.
"""

__version__ = "0.1.0"
