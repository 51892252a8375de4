"""Close runs left ``running`` by a process that is gone (killed, ``os._exit``, a reboot).

Each run records its process (``provenance.process``). On the host that ran it, a run whose
process no longer exists (or whose pid now belongs to another process) is ended ``failed``
with "process N on HOST is gone"; it stays resumable (``skipbench run --resume``, or the job's
next attempt). Runs of other hosts are left to a reconcile there. Used by
``skipbench runs reconcile`` and the workers' periodic reconcile (``reconcile_runs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness import process_identity

if TYPE_CHECKING:
    from db.store import Store


@dataclass
class RunsReconcileReport:
    closed: dict[int, str] = field(default_factory=dict)  # run id -> the reason stored
    alive: list[int] = field(default_factory=list)  # running here, process alive
    elsewhere: list[int] = field(default_factory=list)  # another host's, or no process recorded

    def summary(self) -> str:
        closed = ", ".join(f"{rid} ({why})" for rid, why in self.closed.items()) or "none"
        return (
            f"runs closed as failed: {closed}; still running here: {self.alive or 'none'}; "
            f"not judged here (other hosts, or no process recorded): {self.elsewhere or 'none'}"
        )


def gone_reason(identity: dict) -> str:
    return f"{process_identity.describe(identity)} is gone"


def reconcile_runs(store: Store) -> RunsReconcileReport:
    """End ``failed`` each ``running`` run whose process on this host is gone."""
    report = RunsReconcileReport()
    for run in store.runs(status="running"):
        identity = (run.provenance or {}).get("process") or {}
        verdict = process_identity.is_gone(identity)
        if verdict is None:
            report.elsewhere.append(run.id)
        elif not verdict:
            report.alive.append(run.id)
        else:
            reason = gone_reason(identity)
            if store.close_run_failed(run.id, reason, process=identity):
                report.closed[run.id] = reason
    return report
