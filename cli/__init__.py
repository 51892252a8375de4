"""The ``skipbench`` command line (typer + rich). Heavy imports happen inside commands."""
