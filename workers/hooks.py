"""Worker signals: warm the parent without CUDA, guard each child, reconcile at start and then
periodically (store and broker disagree after a broker restart or a dead worker)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from celery import signals

from skipbench.settings import Settings, get_settings

log = logging.getLogger("skipbench.worker")


@signals.worker_init.connect
def _warm_parent(**_: object) -> None:
    """Import the heavy libraries once in the parent; each forked job child then starts fast.

    Importing torch does not initialise CUDA; nothing here may touch a GPU.
    """
    from workers.plugins import load_plugins

    settings = get_settings()
    load_plugins(settings)
    _store_or_refuse(settings)  # once here, so job children do not each run Alembic
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


def _store_or_refuse(settings: Settings) -> None:
    """Migrate the store, waiting up to ``worker_store_wait_s`` for it; without it the worker
    refuses to start (exit 1) rather than take jobs it cannot run."""
    from db.engine import upgrade
    from workers.store_retry import is_unreachable, with_retries

    try:
        with_retries(lambda: upgrade(settings.db_url), "worker start", settings.worker_store_wait_s)
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        log.error(
            "store unreachable at %s (%s); the worker does not start without it",
            redact(settings.db_url),
            type(exc).__name__,
        )
        raise SystemExit(1) from None


def redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"


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
def _reconcile_at_start(sender: object = None, **_: object) -> None:
    log.info("worker parent %s ready (%s)", os.getpid(), _parent_cuda_state())
    if sender is not None and getattr(sender, "timer", None) is not None:
        from workers.store_gate import StoreGate

        StoreGate(sender, get_settings()).start()
    _reconcile_once()
    interval = get_settings().reconcile_interval_s
    if interval <= 0:
        return

    def loop() -> None:
        stop = threading.Event()
        while not stop.wait(interval):
            _reconcile_once()

    threading.Thread(target=loop, name="skipbench-reconcile", daemon=True).start()
