import dataclasses

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from cli.spec_options import SpecCommand, SpecOptions, spec_options
from skipbench.errors import InvalidInput

BASE = SpecOptions(model="x", device="cpu")


def test_tasks_are_routed_and_shared_options_applied_where_they_exist():
    spec = dataclasses.replace(
        BASE,
        suites=["zeroshot", "perplexity"],
        tasks=["piqa", "c4"],
        limit=3,
        seq_len=512,
        log_samples=True,
    ).to_spec()
    params = {s.name: s.params for s in spec.suites}
    assert params["zeroshot"] == {"tasks": ["piqa"], "limit": 3, "log_samples": True}
    assert params["perplexity"] == {"tasks": ["c4"], "limit": 3, "seq_len": 512}


def test_suite_set_and_method_params():
    spec = dataclasses.replace(
        BASE,
        method="shortgpt",
        sparsity=0.25,
        sets=["calib_samples=8"],
        suite_sets=["perplexity.batch_size=4"],
    ).to_spec()
    assert spec.method_params == {"calib_samples": "8", "sparsity": 0.25}
    assert spec.suites[0].params == {"batch_size": "4"}
    with pytest.raises(InvalidInput, match="--suite-set 'zeroshot.limit'"):
        dataclasses.replace(BASE, suite_sets=["zeroshot.limit=3"]).to_spec()


def test_model_and_calib_source_are_checked():
    with pytest.raises(InvalidInput, match="--model is required"):
        SpecOptions().to_spec()
    with pytest.raises(InvalidInput, match="--calib-source 'web'; allowed: auto, local, hub"):
        dataclasses.replace(BASE, calib_source="web").to_spec()


def _click_command(name: str):
    from cli.main import app

    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


def _options(command) -> dict[str, tuple]:
    return {p.name: (tuple(p.opts), p.default, p.multiple) for p in command.params}


def test_run_and_submit_take_every_spec_option_the_same_way():
    run, submit = _options(_click_command("run")), _options(_click_command("submit"))
    names = [f.name for f in dataclasses.fields(SpecOptions)]
    assert len(names) == 17
    assert list(run)[: len(names)] == list(submit)[: len(names)] == names
    assert {n: run[n] for n in names} == {n: submit[n] for n in names}
    assert run["suites"] == (("--suite",), None, True) and run["model"][0] == ("--model", "-m")
    assert {"as_json", "resume"} <= set(run) and {"queue", "force", "wait", "check"} <= set(submit)


def test_decorated_command_gets_one_options_object():
    app = typer.Typer()
    seen = {}

    @app.command(cls=SpecCommand)
    @spec_options
    def probe(options: SpecOptions, shout: bool = False) -> None:
        seen.update(options=options, shout=shout)

    @app.command()
    def other() -> None:  # a second command, so typer keeps the command name
        pass

    args = ["probe", "-m", "m1", "--suite", "zeroshot", "--task", "piqa", "--task", "arc_easy"]
    result = CliRunner().invoke(app, [*args, "--seed", "7", "--log-samples", "--shout"])
    assert result.exit_code == 0, result.output
    assert seen["shout"] is True
    assert seen["options"] == dataclasses.replace(
        SpecOptions(),
        model="m1",
        suites=["zeroshot"],
        tasks=["piqa", "arc_easy"],
        seed=7,
        log_samples=True,
    )


@pytest.mark.parametrize("command", ["run", "submit"])
def test_suite_help_lists_the_registered_suites(command):
    from cli.main import app
    from harness.suites.base import suite_names

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "perplexity" in suite_names()
    assert f"{', '.join(suite_names())} (repeatable" in result.output
