"""Data-quality pages: a job's report (/jobs/{id}/quality, its body in
templates/_quality_report.html so the job's own page can include it) and a model watched over
time (/models/{name}/quality).  Charts are SVG drawn here (app/web/charts.py)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.accounts.users import User
from app.core.db import parse_time
from app.core.errors import NotFound
from app.core.jobs.quality import QualityReports
from app.core.registry.models import NAME_PATTERN, Registry
from app.web import charts
from app.web.panel.common import page, render
from app.web.panel.jobs import visible_job
from app.web.quality_report import report_context
from model.quality import PSI_ALERT, PSI_WARNING, THRESHOLDS


@page
def job_quality(request: Request, user: User, form: FormData | None) -> Response:
    job = visible_job(request, user)
    report = QualityReports(request.app.state.db).report(job)
    if report is None:
        raise NotFound("This file has no data-quality report (it has not finished, ended in ERROR, "
                       "or was processed before reports existed).")
    return render(request, "quality.html", {"job": job, **report_context(report)})


@page
def model_quality(request: Request, user: User, form: FormData | None) -> Response:
    name = request.path_params["name"]
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise NotFound("There is no such model.")
    registry = Registry(request.app.state.db, request.app.state.settings)
    versions = [m for m in registry.list() if m.name == name]
    if not versions:
        raise NotFound(f"There is no model named “{name}”.")
    jobs = QualityReports(request.app.state.db).for_model(name, None if user.is_admin else user.id)
    labels = [f"#{j['job_id']} {j['file_name']}" for j in jobs]
    statuses = [j["status"] for j in jobs]
    names = list(jobs[-1]["psi"]) if jobs else []
    limits = [(PSI_WARNING, "chart-warning"), (PSI_ALERT, "chart-alert")]
    psi_charts = {n: charts.series([j["psi"].get(n) for j in jobs], labels, f"PSI of {n} per job", limits=limits,
                                   statuses=statuses) for n in names}
    flagged_chart = charts.series([j["flagged_share"] for j in jobs], labels, "Share of flagged rows per job",
                                  statuses=statuses, percent=True)
    shares = []
    for j in jobs:
        cats = j["predictions"].get("categories")
        shares.append(dict(zip(cats["labels"], cats["upload"])) if cats else {})
    prediction_chart = charts.stacked(shares, labels, "Predicted classes per job") if any(shares) else None
    # The table shows when each file finished in local time, as every page does (|localtime).
    rows = [{**j, "finished": parse_time(j["finished_at"])} for j in reversed(jobs)]
    return render(request, "model_quality.html", {
        "name": name, "jobs": jobs, "rows": rows, "psi_charts": psi_charts, "flagged_chart": flagged_chart,
        "prediction_chart": prediction_chart, "active": next((m.version for m in versions if m.active), None),
        "thresholds": THRESHOLDS,
    })
