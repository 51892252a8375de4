"""``skipbench worker``: one Celery worker process per GPU or per GPU group, pinned by
CUDA_VISIBLE_DEVICES.

``--gpus 0,1``: one worker per GPU, serving the plain queue. ``--gpu-groups 0+1,2+3``: one
worker per group (CUDA_VISIBLE_DEVICES = the group), serving the queues of jobs that need up
to that many GPUs (``workers.gpu_groups``); its jobs' models are spread over the group by
accelerate (``workers.placement``). The launcher never imports torch or touches CUDA; it
finds GPUs and their memory with ``nvidia-smi`` and records each worker it starts in the
broker's worker registry. One worker: the launcher becomes it (exec). Several: it starts
them, forwards SIGINT/SIGTERM to them, and exits when any of them exits (so a supervisor such
as systemd or Docker restarts the set).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass

from skipbench.errors import InvalidInput
from workers.gpu_groups import check_disjoint, group_label, parse_groups, served_queues

GROUP_GPUS_ENV = "SKIPBENCH_WORKER_GPU_COUNT"  # how many GPUs the worker owns
MAX_MEMORY_ENV = "SKIPBENCH_MAX_MEMORY_PER_GPU"  # the group's per-GPU cap, e.g. 70GiB


@dataclass(frozen=True)
class WorkerProcess:
    label: str  # gpu0, gpu1, ..., gpus0+1 (a group) or cpu
    argv: tuple[str, ...]
    env: dict[str, str]
    gpus: tuple[str, ...] = ()  # the physical GPU indices it owns
    queues: tuple[str, ...] = ()

    @property
    def hostname(self) -> str:
        return next(a for a in self.argv if a.startswith("--hostname=")).split("=", 1)[1]


def parse_devices(gpus: str | None, cpu: bool) -> list[str | None]:
    """``--gpus 0,1`` -> ["0", "1"]; ``--cpu`` -> [None]; neither -> every GPU nvidia-smi lists."""
    if gpus and cpu:
        raise InvalidInput("--gpus and --cpu exclude each other; give one")
    if cpu:
        return [None]
    if gpus:
        items = [g.strip() for g in gpus.split(",") if g.strip()]
        bad = [g for g in items if not g.isdigit()]
        if bad or not items:
            raise InvalidInput(f"--gpus {gpus!r}: expected comma-separated GPU indices like 0,1")
        if len(set(items)) != len(items):
            raise InvalidInput(f"--gpus {gpus!r} names a GPU twice")
        return list(items)
    found = detect_gpus()
    if not found:
        raise InvalidInput("no GPU found (nvidia-smi lists none); pass --gpus 0,1,... or --cpu")
    return list(found)


def plan(
    gpus: str | None,
    gpu_groups: str | None,
    cpu: bool,
    queue: str,
    loglevel: str = "info",
    max_memory_per_gpu: str | None = None,
    hostname: str | None = None,
) -> list[WorkerProcess]:
    """The workers ``skipbench worker`` starts: groups (``--gpu-groups``), then single GPUs
    (``--gpus``, or every GPU when neither is given), or one CPU worker."""
    from harness.placement import memory_bytes

    if max_memory_per_gpu is not None:
        if not gpu_groups:
            raise InvalidInput("--max-memory-per-gpu applies to --gpu-groups workers; add groups")
        memory_bytes(max_memory_per_gpu)
    if not gpu_groups:
        return worker_processes(parse_devices(gpus, cpu), queue, loglevel, hostname)
    if cpu:
        raise InvalidInput("--gpu-groups and --cpu exclude each other; give one")
    groups = parse_groups(gpu_groups)
    singles = parse_devices(gpus, False) if gpus else []
    check_disjoint([g for g in singles if g is not None], groups)
    return [
        *group_processes(groups, queue, loglevel, hostname, max_memory_per_gpu),
        *worker_processes(singles, queue, loglevel, hostname),
    ]


def announce(procs: list[WorkerProcess], broker_url: str, max_memory_per_gpu: str | None) -> str:
    """Record ``procs`` in the worker registry; what happened, as one line for the log."""
    from harness.placement import memory_bytes
    from workers.worker_registry import register

    cap = memory_bytes(max_memory_per_gpu) if max_memory_per_gpu else None
    try:
        register(broker_url, registry_entries(procs, max_memory_per_gpu_bytes=cap))
    except Exception as exc:  # the workers retry the broker themselves; sizing falls back
        return f"worker registry not updated ({type(exc).__name__}); jobs are still served"
    return f"registered {len(procs)} worker(s) in the broker's worker registry"


def query_gpus(fields: str, csv_format: str = "csv,noheader") -> str | None:
    """``nvidia-smi --query-gpu=<fields>`` output; None without nvidia-smi or when it fails."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        return subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", f"--format={csv_format}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def detect_gpus() -> list[str]:
    out = query_gpus("index")
    if out is None:
        return []
    return [line.strip() for line in out.splitlines() if line.strip().isdigit()]


def gpu_memory_bytes() -> dict[str, int]:
    """Total memory of each GPU nvidia-smi lists, by index; empty without nvidia-smi."""
    out = query_gpus("index,memory.total", "csv,noheader,nounits")
    if out is None:
        return {}
    found = {}
    for line in out.splitlines():
        index, _, mib = (x.strip() for x in line.partition(","))
        if index.isdigit() and mib.isdigit():
            found[index] = int(mib) * 2**20
    return found


def _celery_argv(queues: list[str], label: str, host: str, loglevel: str) -> tuple[str, ...]:
    return (
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app:app",
        "worker",
        f"--queues={','.join(queues)}",
        "--pool=prefork",
        "--concurrency=1",
        "--prefetch-multiplier=1",
        "--max-tasks-per-child=1",
        f"--hostname=skipbench-{label}@{host}",
        "--without-mingle",
        "--without-gossip",
        "--task-events",
        f"--loglevel={loglevel}",
    )


def group_processes(
    groups: list[tuple[str, ...]],
    queue: str,
    loglevel: str = "info",
    hostname: str | None = None,
    max_memory_per_gpu: str | None = None,
) -> list[WorkerProcess]:
    """One worker per GPU group; it serves ``queue``'s sized queues up to its group's size."""
    host = hostname or socket.gethostname()
    procs = []
    for group in groups:
        label = f"gpus{group_label(group)}"
        queues = served_queues(queue, len(group))
        env = dict(os.environ)
        env.update(
            CUDA_VISIBLE_DEVICES=",".join(group),
            SKIPBENCH_WORKER_GPU=group_label(group),
            SKIPBENCH_QUEUE=queues[0],  # its periodic reconcile covers its own size's queue
            PYTORCH_NVML_BASED_CUDA_CHECK="1",
        )
        env[GROUP_GPUS_ENV] = str(len(group))
        if max_memory_per_gpu:
            env[MAX_MEMORY_ENV] = max_memory_per_gpu
        else:
            env.pop(MAX_MEMORY_ENV, None)
        argv = _celery_argv(queues, label, host, loglevel)
        procs.append(WorkerProcess(label, argv, env, tuple(group), tuple(queues)))
    return procs


def worker_processes(
    devices: list[str | None], queue: str, loglevel: str = "info", hostname: str | None = None
) -> list[WorkerProcess]:
    host = hostname or socket.gethostname()
    procs = []
    for device in devices:
        label = "cpu" if device is None else f"gpu{device}"
        argv = _celery_argv([queue], label, host, loglevel)
        env = dict(os.environ)
        env.update(
            CUDA_VISIBLE_DEVICES="" if device is None else device,
            SKIPBENCH_WORKER_GPU="cpu" if device is None else device,
            SKIPBENCH_QUEUE=queue,
            PYTORCH_NVML_BASED_CUDA_CHECK="1",  # availability checks without initialising CUDA
        )
        env.pop(GROUP_GPUS_ENV, None)
        env.pop(MAX_MEMORY_ENV, None)
        gpus = () if device is None else (device,)
        procs.append(WorkerProcess(label, argv, env, gpus, (queue,)))
    return procs


def registry_entries(
    procs: list[WorkerProcess],
    memory: dict[str, int] | None = None,
    max_memory_per_gpu_bytes: int | None = None,
) -> list:  # list[WorkerEntry]
    """What the worker registry records for ``procs``: GPUs, queues, the smallest GPU's
    memory (lowered to the group's cap where one is given)."""
    from workers.worker_registry import WorkerEntry

    memory = gpu_memory_bytes() if memory is None else memory
    entries = []
    for p in procs:
        sizes = [memory[g] for g in p.gpus if g in memory]
        smallest = min(sizes) if sizes and len(sizes) == len(p.gpus) else None
        if smallest is not None and max_memory_per_gpu_bytes and len(p.gpus) > 1:
            smallest = min(smallest, max_memory_per_gpu_bytes)
        entries.append(WorkerEntry(p.hostname, len(p.gpus), p.queues, smallest))
    return entries


def run(procs: list[WorkerProcess]) -> int:
    """Run the workers until one exits; returns its exit code."""
    if len(procs) == 1:
        os.execvpe(procs[0].argv[0], list(procs[0].argv), procs[0].env)
    children = [subprocess.Popen(list(p.argv), env=p.env) for p in procs]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    try:
        _pid, status = os.wait()
        code = os.waitstatus_to_exitcode(status)
    finally:
        forward(signal.SIGTERM, None)
        for child in children:
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
    return code
