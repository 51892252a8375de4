"""Entry point: assembles the command groups and turns ``InvalidInput`` into exit code 2.

Each command module registers its commands on ``app`` (or adds a sub-typer); keep their
module-level imports light: torch, transformers and lm_eval are imported inside commands.
"""

from __future__ import annotations

import sys

import typer

from cli import common
from skipbench.errors import InvalidInput

app = typer.Typer(
    name="skipbench",
    help="Benchmark training-free layer/token skipping methods on Hugging Face decoder-only LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# command modules (each registers on `app`)
from cli import bundle_cmd, db_cmd, models_cmd, run_cmd, suites_cmd, sweep_cmd  # noqa: E402

for module in (run_cmd, suites_cmd, models_cmd, db_cmd, sweep_cmd, bundle_cmd):
    module.register(app)

for optional in ("analyze_cmd", "service_cmd", "leaderboard_cmd"):
    try:
        mod = __import__(f"cli.{optional}", fromlist=["register"])
    except ModuleNotFoundError as exc:
        if exc.name != f"cli.{optional}":
            raise
        continue
    mod.register(app)


def main() -> None:
    try:
        # without standalone mode click returns a command's typer.Exit code instead of exiting
        code = app(standalone_mode=False)
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except InvalidInput as exc:
        common.err(f"error: {exc}")
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        common.err("aborted")
        sys.exit(1)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
