"""Webhook deliveries, sent by the workers (never by the web server): a thread of every
long-lived worker (``process_pending.py --loop``, which is also what the embedded workers
run), and a short pass at the end of each cron run.

A thread of its own, so a receiver that is slow or down (each attempt can take up to
WEBHOOK_TIMEOUT_SECONDS) never holds up a job: the worker's job loop does not wait for it.
Within it several senders (webhooks.SENDERS) each lease and send one delivery at a time, so a
slow receiver holds one sender and the others keep delivering. The leases in
app/core/events/webhooks.py make sure one worker sends each delivery however many run on
however many hosts.
"""

from __future__ import annotations

import logging
import threading

from app.core.db import Database, DatabaseUnavailable
from app.core.events.webhooks import Deliverer
from app.core.logfmt import log_event
from app.core.settings import Settings

log = logging.getLogger("beyond.deliveries")

CRON_PASS_SECONDS = 30.0  # a cron run sends for at most this long; the next run sends the rest


def poll_seconds(settings: Settings) -> float:
    """How often the thread looks for due deliveries: the queue's poll interval, at most 5 s
    (the first retry is due WEBHOOK_BACKOFF_SECONDS after a failure)."""
    return float(min(settings.scheduler_interval, 5, settings.webhook_backoff_seconds))


def deliver_pass(settings: Settings, db: Database, worker_id: str, budget: float | None = CRON_PASS_SECONDS,
                 stop: threading.Event | None = None, idle: float | None = None) -> int:
    """One pass (with ``idle``, one that keeps looking for due deliveries that often until
    ``stop``); never raises (deliveries must not change a worker's exit code)."""
    try:
        return Deliverer(settings, db, worker_id).run_pass(budget_seconds=budget, stop=stop, idle_seconds=idle)
    except DatabaseUnavailable as exc:
        log_event(log, "webhook.pass_database_unavailable", logging.WARNING, worker=worker_id, error=exc)
    except Exception:
        log.exception("webhook delivery pass failed")
    return 0


class DeliveryThread:
    """Runs the delivery senders until stopped; each looks for due deliveries every
    poll_seconds and has its own database connection (the connector keeps one per thread)."""

    def __init__(self, settings: Settings, db: Database, worker_id: str) -> None:
        self.settings, self.db, self.worker_id = settings, db, worker_id
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-deliveries", daemon=True)

    def start(self) -> DeliveryThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        every = poll_seconds(self.settings)
        try:
            while not self.stopping.is_set():
                # Its senders look for due deliveries every `every` seconds each, and do not
                # wait for one another: one held by a slow receiver delays no other delivery.
                deliver_pass(self.settings, self.db, self.worker_id, budget=None, stop=self.stopping, idle=every)
                self.stopping.wait(every)
        finally:
            self.db.close()  # this thread's connection

    def stop(self, timeout: float = 2.0) -> None:
        """Stop; an attempt still in progress after ``timeout`` is abandoned with the process
        (a daemon thread), so a slow receiver never delays a worker's shutdown. Its lease runs
        out and another worker sends it again (the abandoned attempt stays counted): receivers drop
        the repeat by its webhook-id."""
        self.stopping.set()
        self._thread.join(timeout)
