"""Queue routing by GPU need on real Redis + PostgreSQL: a job that needs 2 GPUs goes to
``<queue>.gpus2``, a one-GPU worker never takes it, and ``status`` says why it waits."""

from __future__ import annotations

import dataclasses
import math

import pytest

from tests.workers.conftest import tiny_spec


@pytest.fixture(autouse=True)
def _clean_registry(service):
    yield
    import redis

    from workers.worker_registry import registry_key

    client = redis.Redis.from_url(service.broker_url, socket_connect_timeout=2)
    client.delete(registry_key(service.queue), *(f"{service.queue}.gpus{n}" for n in (2, 3)))


def test_two_gpu_job_waits_for_a_two_gpu_worker(service, tiny_dir, shared_data_dir):
    # the small job's perplexity reads WikiText-2 from the shared data
    from workers import broker
    from workers.service import waiting_reasons
    from workers.worker_registry import WorkerEntry, register, seen_workers

    q = service.queue
    big = service.submit(tiny_spec(tiny_dir, seed=1), gpus_per_job=2).job
    assert big.queue == f"{q}.gpus2"
    in_sized = broker.task_ids(service.broker_url, [f"{q}.gpus2"])
    assert big.celery_task_id in in_sized
    assert big.celery_task_id not in broker.task_ids(service.broker_url, [q])

    service.start_worker()  # a CPU worker: serves the plain queue only, like one GPU
    small = service.submit(tiny_spec(tiny_dir, seed=2)).job
    assert small.queue == q
    assert service.wait_for(small.id).status == "succeeded"  # the worker is alive and serving
    assert service.job(big.id).status == "queued"  # ...and never took the 2-GPU job
    assert big.celery_task_id in broker.task_ids(service.broker_url, [f"{q}.gpus2"])

    register(service.broker_url, [WorkerEntry(f"one@{q}", 1, (q,), 80 * 2**30)])
    assert waiting_reasons([service.job(big.id)], service.broker_url) == {
        big.id: "waiting: needs 2 GPUs; no worker with 2 GPUs has been seen"
    }
    out = service.cli("status", "--json")
    assert out.returncode == 0, out.stderr
    assert '"waiting": "waiting: needs 2 GPUs; no worker with 2 GPUs has been seen"' in out.stdout
    register(service.broker_url, [WorkerEntry(f"two@{q}", 2, (f"{q}.gpus2", q), 80 * 2**30)])
    assert waiting_reasons([service.job(big.id)], service.broker_url) == {}
    seen = {w.name: w for w in seen_workers(service.broker_url, q)}
    launched = [w for name, w in seen.items() if name.startswith("skipbench-cpu@")]
    assert [(w.gpus, w.queues) for w in launched] == [(0, (q,))]  # the launcher registered it
    assert set(seen) == {f"one@{q}", f"two@{q}", launched[0].name}


def test_estimated_need_routes_against_the_smallest_registered_gpu(service, tiny_dir):
    from harness.models import ModelSpec, load_model
    from workers.job_sizing import OVERHEAD
    from workers.worker_registry import WorkerEntry, register

    spec = tiny_spec(tiny_dir, seed=3)
    spec = dataclasses.replace(spec, model=ModelSpec(source=str(tiny_dir)))  # device auto
    params = sum(p.numel() for p in load_model(ModelSpec(source=str(tiny_dir))).model.parameters())
    smallest = params  # bytes: so that the bf16 weights need 2 x 1.2 of them
    register(
        service.broker_url,
        [
            WorkerEntry(f"a@{service.queue}", 1, (service.queue,), 10 * params),
            WorkerEntry(f"b@{service.queue}", 1, (service.queue,), smallest),
        ],
    )
    expected = math.ceil(params * 2 * OVERHEAD / smallest)
    result = service.submit(spec)
    assert expected == 3 and result.job.queue == f"{service.queue}.gpus{expected}"
    assert "estimated" in (result.sizing or "")
