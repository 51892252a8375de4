"""Worker signals: warm the parent without CUDA, guard each child, reconcile at start and then
periodically (store and broker disagree after a broker restart or a dead worker)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from celery import signals

from skipbench.settings import get_settings

log = logging.getLogger("skipbench.worker")


@signals.worker_init.connect
def _warm_parent(**_: object) -> None:
    """Import the heavy libraries once in the parent; each forked job child then starts fast.

    Importing torch does not initialise CUDA; nothing here may touch a GPU.
    """
    from workers.plugins import load_plugins

    settings = get_settings()
    load_plugins(settings)
    try:  # once here, so job children do not each run Alembic
        from db.engine import upgrade

        upgrade(settings.db_url)
    except Exception as exc:
        log.warning("database not ready at worker start: %s: %s", type(exc).__name__, exc)
    if not settings.worker_preload:
        return
    import torch  # noqa: F401
    import transformers  # noqa: F401

    import harness.runner  # noqa: F401
    from methods.registry import available_methods

    available_methods()
    if torch.cuda.is_initialized():  # pragma: no cover - would break the forked children
        log.error("CUDA was initialised in the worker parent; jobs may fail in the children")
    else:
        log.info(
            "worker parent %s warmed (torch %s); CUDA not initialised",
            os.getpid(),
            torch.__version__,
        )


@signals.worker_process_init.connect
def _guard_child(**_: object) -> None:
    """A job child dies with its parent, so a killed worker leaves no job running on its GPU."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux
        pass
    from db.engine import get_engine
    from workers.plugins import load_plugins

    # connections opened by the parent belong to the parent: forget them without closing
    get_engine(get_settings().db_url).dispose(close=False)
    load_plugins()


def _reconcile_once() -> None:
    from workers.reconcile import reconcile

    try:
        report = reconcile()
    except Exception as exc:  # the broker or database may be restarting; try again later
        log.warning("reconcile failed: %s: %s", type(exc).__name__, exc)
        return
    if report.changed:
        log.warning("reconcile: %s", report.summary())


def _parent_cuda_state() -> str:
    torch = sys.modules.get("torch")
    if torch is None:
        return "torch not imported"
    return "CUDA initialised" if torch.cuda.is_initialized() else "CUDA not initialised"


@signals.worker_ready.connect
def _reconcile_at_start(**_: object) -> None:
    log.info("worker parent %s ready (%s)", os.getpid(), _parent_cuda_state())
    _reconcile_once()
    interval = get_settings().reconcile_interval_s
    if interval <= 0:
        return

    def loop() -> None:
        stop = threading.Event()
        while not stop.wait(interval):
            _reconcile_once()

    threading.Thread(target=loop, name="skipbench-reconcile", daemon=True).start()
