"""A worker takes jobs only while it reaches the store.

A thread in the worker parent pings the store every ``store_check_interval_s``; the consumer's
event loop (through its timer, so kombu is touched from its own thread only) stops consuming
the worker's queues when the store does not answer and starts again once it does. Messages
meanwhile wait in the broker for workers that can run them.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from skipbench.settings import Settings

log = logging.getLogger("skipbench.worker")


class StoreGate:
    def __init__(self, consumer: Any, settings: Settings) -> None:
        self.consumer = consumer
        self.url = settings.db_url
        self.interval_s = max(0.2, settings.store_check_interval_s)
        self.queues = [q.name for q in consumer.task_consumer.queues]
        self.reachable = True
        self.paused = False

    def start(self) -> None:
        threading.Thread(target=self._probe_loop, name="skipbench-store-gate", daemon=True).start()
        self.consumer.timer.call_repeatedly(self.interval_s, self.apply)

    def _probe_loop(self) -> None:
        from db.engine import ping

        stop = threading.Event()
        while True:
            try:
                ping(self.url)
                self.reachable = True
            except Exception as exc:
                if self.reachable:
                    log.warning("store check failed: %s: %s", type(exc).__name__, exc)
                self.reachable = False
            stop.wait(self.interval_s)

    def apply(self) -> None:
        """In the consumer's loop: follow the last probe."""
        if not self.reachable and not self.paused:
            log.warning("store unreachable: not taking jobs from %s", ", ".join(self.queues))
            for queue in self.queues:
                self.consumer.cancel_task_queue(queue)
            self.paused = True
        elif self.reachable and self.paused:
            log.warning("store reachable again: taking jobs from %s", ", ".join(self.queues))
            for queue in self.queues:
                self.consumer.add_task_queue(queue)
            self.paused = False
