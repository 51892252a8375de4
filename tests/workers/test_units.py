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
    assert (conf["task_soft_time_limit"], conf["task_time_limit"]) == (100, 200)
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
