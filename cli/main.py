"""Entry point: assembles the command groups and turns bad input into one line and exit code 2.

``InvalidInput``, typer's usage errors (a bad option value, an unknown option or command) and
a store that cannot be reached each print one line on stderr and exit 2; SIGTERM stops a
command like Ctrl-C does (a run in progress ends ``failed``), exit 143 (Ctrl-C: 130).

Each command module registers its commands on ``app`` (or adds a sub-typer); keep their
module-level imports light: torch, transformers and lm_eval are imported inside commands.
"""

from __future__ import annotations

import re
import sys

import typer
from typer.exceptions import TyperException

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
from cli import bundle_cmd, db_cmd, models_cmd, run_cmd, runs_cmd, suites_cmd, sweep_cmd  # noqa: E402

for module in (run_cmd, runs_cmd, suites_cmd, models_cmd, db_cmd, sweep_cmd, bundle_cmd):
    module.register(app)

for optional in ("analyze_cmd", "service_cmd", "leaderboard_cmd"):
    try:
        mod = __import__(f"cli.{optional}", fromlist=["register"])
    except ModuleNotFoundError as exc:
        if exc.name != f"cli.{optional}":
            raise
        continue
    mod.register(app)


def usage_message(exc: TyperException) -> str:
    """One line for a usage error typer raised: the option, the bad value, what is allowed."""
    option = getattr(exc, "option_name", None)
    if option and re.fullmatch(r"-\d+", option):  # `status -1`: a negative id reads as an option
        return f"{option} is not a valid id; an id is {common.ID_RANGE}"
    message = " ".join(exc.format_message().split()).rstrip(".")
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):  # pydantic's ValidationError: name the value it refused
        try:
            value = errors()[0].get("input")
        except (IndexError, AttributeError, TypeError):
            value = None
        if value is not None:
            message = f"{message} (got {value!r})"
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and message.startswith("No such command"):
        message += f"; commands: {', '.join(ctx.command.list_commands(ctx))}"
    where = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
    return f"{message}{where}"


def settings_message(exc: Exception) -> str | None:
    """One line for a setting pydantic refused (an environment variable or .env entry): which
    variable, the value, what is allowed; None for any other error."""
    errors = getattr(exc, "errors", None)
    if getattr(exc, "title", None) != "Settings" or not callable(errors):
        return None
    parts = []
    for error in errors():
        field = str(error.get("loc", ("?",))[0])
        text = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        variable = f"SKIPBENCH_{field.upper()}"
        if variable in text:
            parts.append(text)
        else:
            parts.append(f"{variable}={error.get('input')!r}: {text}")
    return "; ".join(parts)


def main() -> None:
    common.handle_sigterm()
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
    except TyperException as exc:  # typer's (vendored click) usage errors
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as typer shows it
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)
        common.err(f"error: {usage_message(exc)}")
        sys.exit(exc.exit_code if exc.exit_code else 2)
    except common.Terminated as exc:
        common.err(f"{exc}")
        sys.exit(128 + 15)
    except KeyboardInterrupt:
        common.err("interrupted")
        sys.exit(128 + 2)
    except Exception as exc:
        setting = settings_message(exc)
        if setting is not None:
            common.err(f"error: {setting}")
            sys.exit(2)
        from skipbench.settings import get_settings

        problem = common.store_error(exc, get_settings().db_url)
        if problem is None:
            raise
        common.err(f"error: {problem}")
        sys.exit(2)


if __name__ == "__main__":
    main()
