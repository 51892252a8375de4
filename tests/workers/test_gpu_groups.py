"""GPU groups without services: parsing, the launch plan, sized queues, sizing, placement."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from skipbench.errors import InvalidInput
from tests.workers.conftest import REPO


def test_parse_groups_and_their_errors():
    from workers.gpu_groups import parse_groups

    assert parse_groups("0+1,2+3") == [("0", "1"), ("2", "3")]
    assert parse_groups(" 4 + 5 ,6") == [("4", "5"), ("6",)]
    for bad, says in (
        ("0+1,1+2", "must not overlap"),
        ("0+0", "names a GPU twice"),
        ("0+a", "not GPU indices"),
        ("0+1,", "expected groups"),
        ("", "expected groups"),
        ("0-1", "not GPU indices"),
    ):
        with pytest.raises(InvalidInput, match=says):
            parse_groups(bad)


def test_plan_groups_and_singles_and_refusals():
    from workers.launcher import plan

    procs = plan("4", "0+1,2+3", False, "q", hostname="h", max_memory_per_gpu="70GiB")
    assert [p.label for p in procs] == ["gpus0+1", "gpus2+3", "gpu4"]
    group = procs[0]
    assert group.env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert group.env["SKIPBENCH_WORKER_GPU"] == "0+1"
    assert group.env["SKIPBENCH_WORKER_GPU_COUNT"] == "2"
    assert group.env["SKIPBENCH_MAX_MEMORY_PER_GPU"] == "70GiB"
    assert "--queues=q.gpus2,q" in group.argv and group.hostname == "skipbench-gpus0+1@h"
    single = procs[2]
    assert "--queues=q" in single.argv and single.env["CUDA_VISIBLE_DEVICES"] == "4"
    assert "SKIPBENCH_WORKER_GPU_COUNT" not in single.env
    with pytest.raises(InvalidInput, match="in both --gpus and --gpu-groups"):
        plan("1", "0+1", False, "q")
    with pytest.raises(InvalidInput, match="exclude"):
        plan(None, "0+1", True, "q")
    with pytest.raises(InvalidInput, match="applies to --gpu-groups"):
        plan("0", None, False, "q", max_memory_per_gpu="70GiB")
    with pytest.raises(InvalidInput, match="memory per GPU '70 bytes'"):
        plan(None, "0+1", False, "q", max_memory_per_gpu="70 bytes")


@pytest.mark.parametrize(
    "args",
    [
        ["--gpus", "0,1", "--gpu-groups", "1+2"],
        ["--gpu-groups", "0+1,1+2"],
        ["--gpu-groups", "0+x"],
    ],
)
def test_worker_command_refuses_bad_groups_with_one_line_exit_2(args):
    out = subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", "worker", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--gpu" in lines[0], out.stderr


def test_sized_queues():
    from workers.gpu_groups import base_queue, queue_gpus, served_queues, sized_queue

    assert sized_queue("default", 1) == "default" and sized_queue("default", 2) == "default.gpus2"
    assert queue_gpus("default.gpus4") == 4 and queue_gpus("default") == 1
    assert base_queue("a.b.gpus2") == "a.b" and base_queue("plain") == "plain"
    assert served_queues("q", 3) == ["q.gpus3", "q.gpus2", "q"]


def test_registry_entries_take_the_smallest_gpu_and_the_cap():
    from workers.launcher import plan, registry_entries

    procs = plan("4", "0+1", False, "q", hostname="h")
    memory = {"0": 80 * 2**30, "1": 40 * 2**30, "4": 24 * 2**30}
    group, single = registry_entries(procs, memory, max_memory_per_gpu_bytes=30 * 2**30)
    assert (group.gpus, group.queues, group.gpu_memory_bytes) == (2, ("q.gpus2", "q"), 30 * 2**30)
    assert (single.gpus, single.gpu_memory_bytes) == (1, 24 * 2**30)  # the cap is the group's


def test_waiting_reason_names_the_missing_group_size():
    from workers.worker_registry import WorkerEntry, waiting_reason

    one = WorkerEntry("skipbench-gpu0@h", 1, ("q",), 80 * 2**30)
    assert (
        waiting_reason("q.gpus2", [one])
        == "waiting: needs 2 GPUs; no worker with 2 GPUs has been seen"
    )
    two = WorkerEntry("skipbench-gpus0+1@h", 2, ("q.gpus2", "q"), 80 * 2**30)
    assert waiting_reason("q.gpus2", [one, two]) is None
    assert waiting_reason("q", [one]) is None


def test_size_job_given_cpu_unknown_and_estimated():
    from tests.harness.test_random_models import PUBLISHED_PARAMS
    from workers.job_sizing import OVERHEAD, size_job

    assert size_job("config:llama-2-70b", "auto", "auto", 3, None).gpus == 3
    with pytest.raises(InvalidInput, match="--gpus-per-job 0"):
        size_job("config:llama-2-70b", "auto", "auto", 0, None)
    assert size_job("config:llama-2-70b", "auto", "cpu", None, 2**30).gpus == 1
    assert "no GPU worker" in size_job("config:llama-2-70b", "auto", "auto", None, None).reason
    assert "not readable" in size_job("org/unknown", "auto", "auto", None, 2**34).reason
    h200 = 143771 * 2**20  # nvidia-smi memory.total of an H200, MiB
    for name, dtype, per in (("llama-2-70b", "auto", 2), ("llama-2-70b", "float32", 4)):
        expected = math.ceil(PUBLISHED_PARAMS[name] * per * OVERHEAD / h200)
        assert size_job(f"config:{name}", dtype, "auto", None, h200).gpus == expected
    assert size_job("config:llama-2-70b", "bfloat16", "auto", None, h200).gpus == 2
    assert size_job("config:llama-2-7b", "bfloat16", "auto", None, h200).gpus == 1


def test_placement_follows_the_worker_and_the_queue(monkeypatch):
    from harness.placement import Placement
    from workers.job_placement import placement_for

    monkeypatch.delenv("SKIPBENCH_WORKER_GPU_COUNT", raising=False)
    assert placement_for("q") is None
    with pytest.raises(InvalidInput, match="needs 2 GPUs"):
        placement_for("q.gpus2")
    monkeypatch.setenv("SKIPBENCH_WORKER_GPU_COUNT", "4")
    monkeypatch.setenv("SKIPBENCH_MAX_MEMORY_PER_GPU", "70GiB")
    assert placement_for("q.gpus2") == Placement(2, "70GiB")
    assert placement_for("q") == Placement(1, "70GiB")  # one GPU of the group, not spread
