"""Jobs' data-quality reports (table ``job_quality``): stored by the worker when a job ends
PROCESS OK, read by the API and the panel, and gathered per model to watch it over time.

The report itself is made by model/quality.py in the prediction's pass over the file; here it
is only stored and read.  `QualitySummary` is what a job's JSON and its badge show.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from app.core.db import Database, Row, parse_time
from app.core.events import webhooks
from app.core.jobs.records import Job, Status
from app.core.logfmt import log_event

log = logging.getLogger("beyond.quality")
MODEL_JOBS_LIMIT = 50  # the recent jobs a model's page shows


@dataclass(frozen=True)
class QualitySummary:
    status: str
    rows: int
    rows_flagged: int
    rows_not_scored: int
    drifted_features: list[str]
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "rows_flagged": self.rows_flagged, "rows_not_scored": self.rows_not_scored,
                "drifted_features": self.drifted_features, "reason": self.reason}


def summary_from_row(row: Row) -> QualitySummary:
    return QualitySummary(
        status=str(row["status"]), rows=int(row["rows_total"]), rows_flagged=int(row["rows_flagged"]),
        rows_not_scored=int(row["rows_not_scored"]), drifted_features=list(json.loads(row["drifted_features"])),
        reason=str(row["reason"]),
    )


class QualityReports:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, job_id: int, model_name: str | None, model_version: str | None, report: dict[str, Any]) -> bool:
        """Store (or replace, after a re-run) the report of a job."""
        params = {
            "job_id": job_id, "model_name": model_name, "model_version": model_version,
            "status": report["status"], "rows_total": int(report["rows"]), "rows_flagged": int(report["rows_flagged"]),
            "rows_not_scored": int(report["rows_not_scored"]),
            "drifted_features": json.dumps(report["drifted_features"]), "reason": str(report["reason"])[:4000],
            "report_json": json.dumps(report, allow_nan=False),
        }
        with self.db.transaction() as tx:
            tx.execute("job_quality_delete", {"job_id": job_id})
            tx.execute("job_quality_insert", params)
            if report["status"] == "alert":
                # The job.quality_alert webhook event, in the same transaction as the report.
                webhooks.enqueue_quality_alert(tx, job_id, {
                    "status": report["status"], "reason": str(report["reason"])[:1000],
                    "rows_flagged": int(report["rows_flagged"]), "drifted_features": report["drifted_features"],
                })
        log_event(log, "job.quality", job=job_id, model=model_name, status=report["status"],
                  rows_flagged=report["rows_flagged"], drifted=",".join(report["drifted_features"]) or "-")
        return True

    def delete(self, job_id: int) -> None:
        self.db.execute("job_quality_delete", {"job_id": job_id})

    def report(self, job: Job) -> dict[str, Any] | None:
        """The whole report of a job that ended PROCESS OK (None: not finished, or run before
        reports existed)."""
        if job.status is not Status.PROCESS_OK:
            return None
        row = self.db.one("job_quality_get", {"job_id": job.id})
        if row is None:
            return None
        report = json.loads(row["report_json"])
        return {"job_id": job.id, "model": row["model_name"], "model_version": row["model_version"], **report}

    def summaries(self, jobs: list[Job]) -> dict[int, QualitySummary]:
        """The summaries of those of `jobs` that ended PROCESS OK with a report (one query)."""
        done = [j.id for j in jobs if j.status is Status.PROCESS_OK]
        if not done:
            return {}
        rows = self.db.all("job_quality_summaries", {"low": min(done), "high": max(done)})
        wanted = set(done)
        return {int(r["job_id"]): summary_from_row(r) for r in rows if int(r["job_id"]) in wanted}

    def summary(self, job: Job) -> QualitySummary | None:
        return self.summaries([job]).get(job.id)

    def for_model(self, name: str, owner_id: int | None, limit: int = MODEL_JOBS_LIMIT) -> list[dict[str, Any]]:
        """A model's recent jobs, oldest first (for charts over time), each with its status,
        flagged share, PSI per feature and prediction distribution."""
        rows = self.db.all("job_quality_for_model", {"name": name, "owner_id": owner_id, "limit": limit})
        out = []
        for row in reversed(rows):
            report = json.loads(row["report_json"])
            finished = parse_time(row["date_result"])
            predictions = report.get("predictions") or {}
            out.append({
                "job_id": int(row["job_id"]),
                "file_name": row["file_name"],
                "finished_at": finished.isoformat() if finished else None,
                "model_version": row["model_version"],
                "job_status": row["status_file"],
                "status": report["status"],
                "reason": report.get("reason", ""),
                "rows": report["rows"],
                "rows_flagged": report["rows_flagged"],
                "flagged_share": round(report["rows_flagged"] / report["rows"], 6) if report["rows"] else 0.0,
                "psi": {f["name"]: f["psi"] for f in report["features"]},
                "predictions": {"psi": predictions.get("psi"), **({"categories": predictions["categories"]}
                                                                  if "categories" in predictions else {}),
                                **({"bins": predictions["bins"]} if "bins" in predictions else {})},
            })
        return out
