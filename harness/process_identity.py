"""Which process is running a run, recorded so that a run whose process died can be found.

A pid alone is not enough: pids are reused. On Linux the process's start time (clock ticks
since boot, field 22 of ``/proc/PID/stat``) and the boot id tell a reused pid, or a reboot,
from the process that started the run. Elsewhere only the pid is checked.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def host_name() -> str:
    return socket.gethostname()


def boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None (no such process, no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 overall; fields[0] is field 3
    except (IndexError, ValueError):
        return None


def this_process() -> dict[str, Any]:
    """The identity a run records: host, pid, start time and boot id (the last two on Linux)."""
    pid = os.getpid()
    return {"host": host_name(), "pid": pid, "start_ticks": start_ticks(pid), "boot_id": boot_id()}


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def is_gone(identity: dict[str, Any]) -> bool | None:
    """True when the recorded process is surely gone, False when it still runs, None when this
    host cannot tell (the process ran on another host, or nothing was recorded)."""
    pid = identity.get("pid")
    if not isinstance(pid, int) or identity.get("host") != host_name():
        return None
    recorded_boot, now_boot = identity.get("boot_id"), boot_id()
    if recorded_boot and now_boot and recorded_boot != now_boot:
        return True  # the machine rebooted since
    if identity.get("start_ticks") is not None and Path("/proc").is_dir():
        return start_ticks(pid) != identity["start_ticks"]  # gone, or the pid was reused
    return not _pid_exists(pid)


def describe(identity: dict[str, Any]) -> str:
    return f"process {identity.get('pid')} on {identity.get('host')}"
