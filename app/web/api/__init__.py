"""The API for other software, and here every URL it answers, in one table:

    process  the article's /process_file and /process_all (administrators)
    jobs     the JSON jobs API: submit, list, poll, result, events, retry, cancel, archive, delete
    models   the models an upload may name, with their columns; deploying one (administrators)
    webhooks signed deliveries of job events: register, list with their attempts, delete
    metrics  /metrics for Prometheus (administrators)
    audit    the audit log (administrators)
    quality  a job's data-quality report; a model's reports over time
    openapi  /openapi.json, the description of all of it (record_schemas: the schemas
             of records, derived from their dataclasses)
    params   the query parameters, parsed with errors that name them

The health answer at / lives in app/web/app.py. Walk-through with curl: docs/api.md.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.web.api import audit, jobs, metrics, models, process, quality, webhooks
from app.web.api.openapi import openapi_document


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(request.app.state.settings))


routes: list[BaseRoute] = [
    Route("/process_file", process.process_file, methods=["GET", "POST"]),
    Route("/process_all", process.process_all, methods=["GET", "POST"]),
    # One Route per path (an HTTPEndpoint per method), so a wrong method gets a 405 whose Allow
    # header lists all.
    Route("/api/jobs", jobs.JobCollection, methods=["GET", "POST"]),
    Route("/api/jobs/{id}", jobs.JobItem, methods=["GET", "DELETE"]),
    Route("/api/jobs/{id}/result", jobs.job_result, methods=["GET"]),
    Route("/api/jobs/{id}/retry", jobs.retry_job, methods=["POST"]),
    Route("/api/jobs/{id}/cancel", jobs.cancel_job, methods=["POST"]),
    Route("/api/jobs/{id}/events", jobs.job_events, methods=["GET"]),
    Route("/api/jobs/{id}/archive", jobs.archive_job, methods=["POST"]),
    Route("/api/jobs/{id}/unarchive", jobs.unarchive_job, methods=["POST"]),
    Route("/api/jobs/{id}/quality", quality.job_quality, methods=["GET"]),
    Route("/api/models", models.ModelCollection, methods=["GET", "POST"]),
    Route("/api/models/{name}/quality", quality.model_quality, methods=["GET"]),
    Route("/api/webhooks", webhooks.WebhookCollection, methods=["GET", "POST"]),
    Route("/api/webhooks/{webhook_id}", webhooks.delete_webhook, methods=["DELETE"]),
    Route("/api/audit", audit.list_audit, methods=["GET"]),
    Route("/metrics", metrics.metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
