"""What /metrics reports, in the Prometheus text format (prometheus_client).

Everything comes from the database, never from one process's memory: a scrape of any host
(or of the METRICS_BIND listener) reports the same numbers, and counters survive restarts.
Gauges (jobs by status and model, the oldest PENDING job's age, the webhook backlog) are
queried at scrape time; counters and histograms are rows of ``metric_counters``, added to in
the same transaction as the change they count (a job's final state, a claim, a take-over, a
delivery attempt), so a deleted job never makes a counter go down. Nothing is written in the
claim's transaction, the one every worker races for.

Histograms keep one row per bucket holding the observations that fell into it (not the
cumulative count: one row written per observation) and a ``_sum`` row; the collector adds
them up into Prometheus's cumulative ``le`` buckets (the last one is the count).
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest

from app import __version__
from app.core.db import Database, Row, Transaction, parse_time
from app.core.jobs.records import Status

# Seconds. A job takes from about a second (a few rows) to hours (millions of rows).
DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)
# Seconds a job waited in the queue before a worker took it.
WAIT_BUCKETS = (1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)
NO_MODEL = "unknown"  # jobs from before the model registry name none

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Counter rows (metric_counters.name) -> the exposed metric, its help and its label names.
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "jobs_finished": ("Jobs that reached a final state (PROCESS OK or ERROR), by status and model.",
                      ("status", "model")),
    "rows_scored": ("Rows the model scored in jobs that ended PROCESS OK, by model.", ("model",)),
    "lease_takeovers": ("Running jobs taken back from a worker that stopped heartbeating "
                        "(outcome requeued or failed).", ("outcome",)),
    "webhook_deliveries": ("Webhook delivery attempts by outcome: delivered, failed (will be retried), "
                           "gave_up (the retry window ended).", ("outcome",)),
}
HISTOGRAMS: dict[str, tuple[str, tuple[float, ...]]] = {
    "job_duration_seconds": ("Run time of jobs that reached a final state (claim to final write).",
                             DURATION_BUCKETS),
    "job_queue_wait_seconds": ("Time from upload (or retry) to the claim of the run that finished the job.",
                               WAIT_BUCKETS),
}


def label_text(labels: dict[str, str]) -> str:
    """The labels column: sorted name=value pairs (values never contain ',' or '=' by
    construction: statuses, model names, outcomes)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def parse_labels(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split(",") if pair)


def add(tx: Transaction, name: str, amount: float = 1, **labels: str) -> None:
    """Add to a counter row inside the caller's transaction (one upsert: the row is created
    when new, and two hosts adding at once queue on its lock)."""
    tx.execute("counter_add", {"name": name, "labels": label_text(labels), "amount": amount})


def observe(tx: Transaction, name: str, value: float) -> None:
    """One observation of a histogram of HISTOGRAMS."""
    buckets = HISTOGRAMS[name][1]
    bound = next((b for b in buckets if value <= b), None)
    add(tx, f"{name}_bucket", 1, le="+Inf" if bound is None else repr(bound))
    add(tx, f"{name}_sum", max(0.0, value))


def _seconds(later: Any, earlier: Any) -> float | None:
    end, start = parse_time(later), parse_time(earlier)
    return max(0.0, (end - start).total_seconds()) if end and start else None


def job_finished(tx: Transaction, row: Row) -> None:
    """Count a job that just reached PROCESS OK or ERROR (its row read in the same transaction)."""
    model = row.get("model_name") or NO_MODEL
    add(tx, "jobs_finished", 1, status=row["status_file"], model=model)
    if row["status_file"] == Status.PROCESS_OK.value:
        add(tx, "rows_scored", int(row["rows_done"] or 0), model=model)
    duration = _seconds(row["date_result"], row["date_init"])
    if duration is not None:
        observe(tx, "job_duration_seconds", duration)
    # The queue wait is observed here too, not at the claim: the claim is the one write every
    # worker races for, and a counter row in its transaction would make all claims queue on it.
    waited = _seconds(row["date_init"], row["date_up"])
    if waited is not None:
        observe(tx, "job_queue_wait_seconds", waited)


class BeyondCollector:
    """A custom collector (prometheus_client calls ``collect`` at every scrape): it reads the
    database in one read transaction."""

    def __init__(self, db: Database, close_after: bool = False) -> None:
        # close_after: drop this thread's connection after the scrape (a server that answers
        # each scrape in a new thread would otherwise leave one connection per scrape).
        self.db, self.close_after = db, close_after

    def collect(self) -> Iterator[Metric]:
        try:
            with self.db.transaction(write=False) as tx:
                by_status = tx.all("metrics_jobs_by_status_model")
                oldest = tx.one("metrics_oldest_pending")
                backlog = tx.all("metrics_deliveries_by_state")
                counters = tx.all("counters_all")
        finally:
            if self.close_after:
                self.db.close()

        jobs = GaugeMetricFamily("beyond_jobs", "Jobs in the database by status (as stored) and model.",
                                 labels=["status", "model"])
        seen = set()
        for row in by_status:
            key = (row["status_file"], row["model_name"] or NO_MODEL)
            seen.add(key[0])
            jobs.add_metric(list(key), float(row["n"]))
        for status in Status:  # every status appears, at 0 when no job has it
            if status.value not in seen:
                jobs.add_metric([status.value, NO_MODEL], 0.0)
        yield jobs

        age = _seconds(oldest["now"], oldest["oldest"]) if oldest else None
        yield GaugeMetricFamily("beyond_oldest_pending_job_age_seconds",
                                "Age of the oldest PENDING job (0 when none is waiting).", value=age or 0.0)

        pending = GaugeMetricFamily("beyond_webhook_deliveries", "Webhook deliveries in the outbox by state.",
                                    labels=["state"])
        states = {r["state"]: float(r["n"]) for r in backlog}
        for state in ("pending", "delivered", "failed"):
            pending.add_metric([state], states.get(state, 0.0))
        yield pending

        yield from self._counters(counters)

        info = InfoMetricFamily("beyond_build", "Beyond's version, its Python and its database engine.")
        info.add_metric([], {"version": __version__, "python": platform.python_version(), "engine": self.db.engine})
        yield info

    def _counters(self, rows: Iterable[Row]) -> Iterator[Metric]:
        values: dict[str, list[tuple[dict[str, str], float]]] = {}
        for row in rows:
            values.setdefault(row["name"], []).append((parse_labels(row["labels"]), float(row["value"])))
        for name, (help_text, label_names) in COUNTERS.items():
            family = CounterMetricFamily(f"beyond_{name}", help_text, labels=list(label_names))
            for labels, value in values.get(name, []):
                family.add_metric([labels.get(n, "") for n in label_names], value)
            yield family
        for name, (help_text, buckets) in HISTOGRAMS.items():
            per_bound = {labels.get("le"): value for labels, value in values.get(f"{name}_bucket", [])}
            cumulative, running = [], 0.0
            for bound in (*[repr(b) for b in buckets], "+Inf"):
                running += per_bound.get(bound, 0.0)
                cumulative.append((bound, running))
            total = sum(v for _, v in values.get(f"{name}_sum", []))
            yield HistogramMetricFamily(f"beyond_{name}", help_text, buckets=cumulative, sum_value=total)


def registry_for(db: Database, close_after: bool = False) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BeyondCollector(db, close_after))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The text format of one scrape."""
    return generate_latest(registry)
