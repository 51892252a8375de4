"""``skipbench worker``: one Celery worker process per GPU, each pinned by CUDA_VISIBLE_DEVICES.

The launcher never imports torch or touches CUDA; it finds GPUs with ``nvidia-smi``. One
device: the launcher becomes the worker (exec). Several: it starts one worker per device,
forwards SIGINT/SIGTERM to them, and exits when any of them exits (so a supervisor such as
systemd or Docker restarts the set).
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


@dataclass(frozen=True)
class WorkerProcess:
    label: str  # gpu0, gpu1, ... or cpu
    argv: tuple[str, ...]
    env: dict[str, str]


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


def detect_gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip().isdigit()]


def worker_processes(
    devices: list[str | None], queue: str, loglevel: str = "info", hostname: str | None = None
) -> list[WorkerProcess]:
    host = hostname or socket.gethostname()
    procs = []
    for device in devices:
        label = "cpu" if device is None else f"gpu{device}"
        argv = (
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app:app",
            "worker",
            f"--queues={queue}",
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
        env = dict(os.environ)
        env.update(
            CUDA_VISIBLE_DEVICES="" if device is None else device,
            SKIPBENCH_WORKER_GPU="cpu" if device is None else device,
            SKIPBENCH_QUEUE=queue,
            PYTORCH_NVML_BASED_CUDA_CHECK="1",  # availability checks without initialising CUDA
        )
        procs.append(WorkerProcess(label, argv, env))
    return procs


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
