"""Pieces without services: worker launch plan, Celery settings, broker messages, error text."""

from __future__ import annotations

import json

import pytest

from skipbench.errors import InvalidInput
from skipbench.settings import Settings


def test_parse_devices():
    from workers.launcher import parse_devices

    assert parse_devices("0,1, 3", cpu=False) == ["0", "1", "3"]
    assert parse_devices(None, cpu=True) == [None]
    for bad in ("a", "0,0", ",", "1;2"):
        with pytest.raises(InvalidInput):
            parse_devices(bad, cpu=False)
    with pytest.raises(InvalidInput, match="exclude"):
        parse_devices("0", cpu=True)


def test_one_pinned_worker_per_gpu():
    from workers.launcher import worker_processes

    procs = worker_processes(["0", "2"], "gpu-queue", hostname="h")
    assert [p.label for p in procs] == ["gpu0", "gpu2"]
    assert [p.env["CUDA_VISIBLE_DEVICES"] for p in procs] == ["0", "2"]
    for p in procs:
        argv = " ".join(p.argv)
        for flag in (
            "--concurrency=1",
            "--prefetch-multiplier=1",
            "--max-tasks-per-child=1",
            "--queues=gpu-queue",
            "--pool=prefork",
        ):
            assert flag in argv
        assert p.env["SKIPBENCH_QUEUE"] == "gpu-queue"
    hostnames = {a for p in procs for a in p.argv if a.startswith("--hostname=")}
    assert hostnames == {"--hostname=skipbench-gpu0@h", "--hostname=skipbench-gpu2@h"}
    cpu = worker_processes([None], "q", hostname="h")[0]
    assert cpu.env["CUDA_VISIBLE_DEVICES"] == "" and cpu.env["SKIPBENCH_WORKER_GPU"] == "cpu"


def test_celery_config_for_exactly_once():
    from workers.app import celery_config

    settings = Settings(_env_file=None, job_soft_time_limit_s=100, job_hard_time_limit_s=200)
    conf = celery_config(settings)
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1 and conf["worker_concurrency"] == 1
    assert conf["worker_max_tasks_per_child"] == 1
    # no Celery soft limit (it lands anywhere, even in a GC callback): the job's own limit is
    # checked at its progress reports; Celery's hard limit stays as the backstop
    assert (conf["task_soft_time_limit"], conf["task_time_limit"]) == (None, 200)
    assert conf["broker_transport_options"]["visibility_timeout"] > conf["task_time_limit"]
    explicit = Settings(_env_file=None, visibility_timeout_s=999)
    assert celery_config(explicit)["broker_transport_options"]["visibility_timeout"] == 999


def test_message_task_id_reads_queue_and_unacked_entries():
    from workers.broker import message_task_id

    message = {
        "body": "e30=",
        "headers": {"id": "abc", "task": "skipbench.run_job"},
        "properties": {},
    }
    assert message_task_id(json.dumps(message)) == "abc"
    assert message_task_id(json.dumps([message, "", "q"]).encode()) == "abc"
    legacy = {"headers": {}, "properties": {"correlation_id": "def"}}
    assert message_task_id(json.dumps(legacy)) == "def"
    assert message_task_id(b"not json") is None and message_task_id("[]") is None


def test_describe_error_is_one_readable_line_first():
    import torch

    from workers.lifecycle import describe_error

    assert describe_error(InvalidInput("sparsity=1.5 is outside [0, 1)")) == (
        "invalid job: sparsity=1.5 is outside [0, 1)"
    )
    oom = describe_error(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert oom.startswith("out of memory on GPU") and "\n" not in oom
    try:
        raise KeyError("boom")
    except KeyError as exc:
        bug = describe_error(exc)
    first, rest = bug.split("\n", 1)
    assert first == "KeyError: 'boom'"
    assert 'raise KeyError("boom")' in rest  # the traceback's tail follows the summary


def test_broker_ping_fails_fast_with_one_line():
    from workers.broker import BrokerUnavailable, ping

    with pytest.raises(BrokerUnavailable) as info:
        ping("redis://127.0.0.1:1/0", timeout=1)
    assert "no broker reachable at redis://127.0.0.1:1/0" in str(info.value)
    assert "\n" not in str(info.value)


def test_time_limit_is_checked_at_progress_reports_from_the_first_one(monkeypatch):
    from workers import lifecycle

    clock = [100.0]
    monkeypatch.setattr(lifecycle.time, "monotonic", lambda: clock[0])
    beat = lifecycle.Heartbeat("sqlite://", 1, "t", interval_s=1, time_limit_s=5)
    clock[0] = 1000.0  # loading took long: the limit counts from the first report
    beat.progress("perplexity", 0.0)
    clock[0] = 1004.9
    beat.progress("perplexity", 0.5)
    clock[0] = 1005.1
    with pytest.raises(lifecycle.JobTimeLimit):
        beat.progress("perplexity", 0.6)
    with pytest.raises(lifecycle.JobTimeLimit):  # swallowed once, it is raised again
        beat.progress("perplexity", 0.7)
    assert not issubclass(lifecycle.JobTimeLimit, Exception)  # `except Exception` cannot eat it
    error = lifecycle.describe_error(lifecycle.JobTimeLimit(5))
    assert error == "time limit: the job ran past its time limit of 5 s and was stopped"


def test_per_job_time_limits_are_validated():
    from workers.service import time_limits

    settings = Settings(_env_file=None, job_soft_time_limit_s=100, job_hard_time_limit_s=250)
    assert time_limits(settings) == (100, 250)
    assert time_limits(settings, 30) == (30, 180)  # hard: soft + the settings' gap
    assert time_limits(settings, 3, 6) == (3, 6)
    for soft, hard in ((0, None), (-1, None), (10, 5), (10, 10**9)):
        with pytest.raises(InvalidInput, match="time limit"):
            time_limits(settings, soft, hard)


def test_remote_code_jobs_are_refused_unless_the_worker_allows_them():
    from workers.lifecycle import refusal

    spec = {"model": {"source": "org/custom", "trust_remote_code": True}}
    refused = refusal(spec, Settings(_env_file=None))
    assert (
        refused
        and "trust_remote_code" in refused
        and "SKIPBENCH_WORKER_ALLOW_REMOTE_CODE" in refused
    )
    assert refusal(spec, Settings(_env_file=None, worker_allow_remote_code=True)) is None
    assert refusal({"model": {"source": "org/plain"}}, Settings(_env_file=None)) is None


def test_exit_from_a_method_is_described_as_the_jobs_failure():
    from workers.lifecycle import describe_error

    for exc, name in ((SystemExit(3), "SystemExit(3)"), (KeyboardInterrupt(), "KeyboardInterrupt")):
        first = describe_error(exc).splitlines()[0]
        assert name in first and "not retried" in first


def test_store_writes_are_retried_only_while_the_store_is_unreachable(monkeypatch):
    from sqlalchemy.exc import OperationalError

    from workers import store_retry

    monkeypatch.setattr(store_retry.time, "sleep", lambda _s: None)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("INSERT", {}, ConnectionRefusedError("refused"))
        return "written"

    assert store_retry.with_retries(flaky, "test", budget_s=60) == "written" and len(calls) == 3
    with pytest.raises(ValueError):  # not a connection error: no retry
        store_retry.with_retries(lambda: (_ for _ in ()).throw(ValueError("bug")), "t", 60)
    calls.clear()
    with pytest.raises(OperationalError):  # budget spent: the error goes up
        store_retry.with_retries(flaky, "test", budget_s=0)
    assert len(calls) == 1
