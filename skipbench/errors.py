"""Errors shared by every layer of SkipBench.

``InvalidInput`` is the one exception the CLI turns into exit code 2 with a one-line message:
raise it (or a subclass) for anything the user can fix (bad name, bad value, missing path).
"""


class InvalidInput(ValueError):
    """User-fixable bad input; the message is one line naming the bad value and what is allowed."""


class RunTakenOver(RuntimeError):
    """A stored run now records another process (it was resumed elsewhere after this one was
    taken for lost): this process must not write its results or its end into it."""
