"""Errors shared by every layer of SkipBench.

``InvalidInput`` is the one exception the CLI turns into exit code 2 with a one-line message:
raise it (or a subclass) for anything the user can fix (bad name, bad value, missing path).
"""


class InvalidInput(ValueError):
    """User-fixable bad input; the message is one line naming the bad value and what is allowed."""
