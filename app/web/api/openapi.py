"""The OpenAPI 3.1 description of the API, served at /openapi.json.

Written as a plain dict rather than generated from docstrings: Starlette's SchemaGenerator
would need PyYAML and still could not describe response bodies. The schemas of records (a job,
its events, a model version, a webhook and its deliveries, an audit entry...) are derived from
their dataclasses by app/web/api/record_schemas.py, with a description beside each key the
dataclass cannot describe. tests/web/test_api_openapi.py checks that every API route is described
here, that each record's JSON has exactly its schema's keys, and fuzzes the API against these
schemas; tests/web/test_api_schemathesis.py runs schemathesis against it, following the `links`
from a submitted job to everything that can be done with it.

The parameter schemas state exactly what app/web/api/params.py accepts: whole numbers of at
most 18 ASCII digits (`maximum` MAX_NUMBER), enums matched exactly, and no empty values
(an empty one is a 400 like any other value outside the schema).
"""

from __future__ import annotations

from typing import Any

from app import __version__
from app.core.events.audit import ACTIONS as AUDIT_ACTIONS
from app.core.events.audit import Entry
from app.core.events.webhooks import EVENTS as WEBHOOK_EVENTS
from app.core.events.webhooks import MAX_URL, Attempt, Delivery, Webhook
from app.core.jobs.files import human_size
from app.core.jobs.inputs import UploadInput
from app.core.jobs.quality import QualitySummary
from app.core.jobs.records import EVENTS, Job, JobEvent, Status
from app.core.registry.models import ModelRecord
from app.core.settings import Settings
from app.web.api.audit import DEFAULT_LIMIT as AUDIT_DEFAULT_LIMIT
from app.web.api.audit import MAX_LIMIT as AUDIT_MAX_LIMIT
from app.web.api.jobs import DEFAULT_LIMIT, MAX_LIMIT
from app.web.api.models import LISTED
from app.web.api.params import MAX_NUMBER
from app.web.api.record_schemas import record_schema
from model.schema import FEATURE_TYPES

STATUSES = [s.value for s in Status]
QUALITY_STATUSES = ["ok", "warning", "alert", "unknown"]


def _nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **more}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


DEPLOYED_MODEL = record_schema(ModelRecord, hidden=("id", "schema", "feature_specs", "runtime", "runtime_text"), notes={
    "sha256": {"pattern": "^[0-9a-f]{64}$"},
    "features": {"items": _ref("Feature")},
    "active": {"description": "Whether new uploads of this name use it now."},
    "runtime": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {
                    "library": {"type": "string"}, "library_version": {"type": ["string", "null"]},
                    "estimator": {"type": "string"}, "format": {"type": ["string", "null"]},
                    "flavor": {"type": ["string", "null"]}, "rows_from": {"type": "string"},
                    "seconds": {"type": "number"}}}],
                "description": "What runs the model, found when the deploy tried it on a few rows: library, "
                               "library_version, estimator, format (or MLflow flavour), rows_from, seconds; "
                               "null for a version deployed before deploys were tried."},
    "warnings": {"description": "What the deploy found worth knowing: an MLflow model's requirements whose major "
                                "version differs from the service's."},
})

SCHEMAS: dict[str, Any] = {
    "Health": {
        "type": "object",
        "required": ["MySAMPLE", "version", "database", "database_engine", "model_version"],
        "properties": {
            "MySAMPLE": {"type": "string", "const": "It works!"},
            "version": {"type": "string", "description": "Beyond's version."},
            "database": {"type": "string", "enum": ["ok", "unavailable"]},
            "database_engine": {"type": "string", "enum": ["sqlite", "mysql"]},
            "model_version": _nullable("string", description="null when the model cannot be loaded."),
        },
    },
    "Links": {
        "type": "object",
        "required": ["self", "result", "result_csv"],
        "properties": {
            "self": {"type": "string", "description": "Path of this job, relative to the server."},
            "result": _nullable("string", description="Path of the .xlsx result; null until PROCESS OK."),
            "result_csv": _nullable("string", description="Path of the CSV twin; null until PROCESS OK."),
        },
    },
    # The schemas of records, derived from their dataclasses (app/web/api/record_schemas.py).
    "Job": record_schema(
        Job,
        hidden=("owner_id", "path_up", "path_result", "path_result_csv", "claimed_by", "claim_token", "heartbeat_at",
                "finished"),
        renamed={"owner_name": "owner", "date_up": "uploaded_at", "date_init": "started_at",
                 "date_result": "finished_at", "error_message": "error", "model_name": "model"},
        notes={
            "owner": {"description": "User name of the owner."},
            "file_name": {"description": "The uploaded file's name (display only)."},
            "file_size": {"minimum": 0, "description": "Bytes."},
            "started_at": {"description": "Start of the latest run."},
            "rows_total": {"description": "Data rows in the file."},
            "rows_done": {"minimum": 0},
            "progress": {"minimum": 0, "maximum": 1},
            "attempts": {"minimum": 0},
            "error": {"description": "Why the job ended in ERROR (or who CANCELLED it)."},
            "failed_by": {"description": "ERROR: whose fault it was: model (it could not be loaded, or scored no "
                                         "row: the file is not to blame), file (it does not fit the model) or "
                                         "service; null otherwise."},
            "model": {"description": "The registered model the job was accepted for (null: a job from before the "
                                     "registry)."},
            "model_version": {"description": "Its version, fixed at upload: the job runs with it."},
            "model_sha256": {"description": "SHA-256 of that version's files."},
            "input_sha256": {"description": "SHA-256 of the uploaded file (null: uploaded before it was recorded)."},
            "queue_position": {"description": "PENDING: its place in the queue (1: next)."},
            "expired": {"description": "RESULT_RETENTION_DAYS removed the job's files: downloads answer 410, the "
                                       "job stays listed."},
            "rows_per_second": {"description": "IN PROCESS: the rate so far; PROCESS OK: over the whole run."},
            "seconds_left": {"description": "IN PROCESS: estimated seconds until done."},
            # Keys the record computes in as_dict, and those app/web/api/jobs.py job_json adds.
            "has_result": {"type": "boolean"},
            "quality": {"anyOf": [{"type": "null"}, _ref("QualitySummary")],
                        "description": "The data-quality summary, once the job is PROCESS OK (null before, and "
                                       "for jobs processed before reports existed)."},
            "links": _ref("Links"),
        },
    ),
    "JobEvent": record_schema(JobEvent, hidden=("job_id",), notes={
        "event": {"enum": list(EVENTS)},
        "status": {"enum": STATUSES, "description": "The job's status after it."},
        "worker": {"description": "The worker (host:pid:id), 'reaper', 'web' or the user."},
        "attempt": {"minimum": 0, "description": "The job's attempts after it."},
    }),
    "JobEvents": {
        "type": "object",
        "required": ["id", "events"],
        "properties": {"id": {"type": "integer"}, "events": {"type": "array", "items": _ref("JobEvent")}},
    },
    "QualitySummary": record_schema(QualitySummary, hidden=("rows",), notes={
        "status": {"enum": QUALITY_STATUSES, "description": "unknown: the model has no training profile."},
        "rows_flagged": {"minimum": 0, "description": "Rows with a row_status."},
        "rows_not_scored": {"minimum": 0, "description": "Rows without a prediction."},
        "drifted_features": {"description": "Features whose status is warning or alert."},
        "reason": {"description": "Why the status is what it is (empty when ok)."},
    }),
    "FeatureQuality": {
        "type": "object",
        "required": ["name", "type", "missing_rate", "out_of_range", "unseen", "psi", "status", "reasons"],
        "properties": {
            "name": {"type": "string"},
            "type": {"type": "string", "enum": list(FEATURE_TYPES)},
            "missing_rate": {"type": "number", "minimum": 0, "maximum": 1},
            "training_missing_rate": {"type": "number", "minimum": 0, "maximum": 1},
            "sent": {"type": "boolean", "description": "false: an optional feature the file has no column "
                                                       "for (reported, never drift); absent otherwise."},
            "out_of_range": {"type": "integer", "minimum": 0,
                             "description": "Values outside the training [min, max]."},
            "unseen": {"type": "integer", "minimum": 0, "description": "Category values not seen in training."},
            "psi": _nullable("number", description="Population stability index against the training bins."),
            "status": {"type": "string", "enum": QUALITY_STATUSES},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "bins": {"type": "object", "description": "Numbers: decile edges, training and upload shares per bin."},
            "categories": {"type": "object", "description": "Categories: labels, training and upload shares."},
        },
    },
    "QualityReport": {
        "type": "object",
        "required": ["job_id", "status", "reason", "profile", "rows", "rows_flagged", "rows_not_scored",
                     "drifted_features", "features", "predictions", "thresholds"],
        "properties": {
            "job_id": {"type": "integer"},
            "model": _nullable("string"),
            "model_version": _nullable("string"),
            "status": {"type": "string", "enum": QUALITY_STATUSES},
            "reason": {"type": "string"},
            "profile": {"type": "boolean", "description": "false: the model has no training profile."},
            "rows": {"type": "integer", "minimum": 0},
            "rows_flagged": {"type": "integer", "minimum": 0},
            "rows_not_scored": {"type": "integer", "minimum": 0},
            "drifted_features": {"type": "array", "items": {"type": "string"}},
            "features": {"type": "array", "items": _ref("FeatureQuality")},
            "predictions": {"type": "object", "required": ["psi", "status"],
                            "description": "The prediction distribution against training's.",
                            "properties": {"psi": _nullable("number"),
                                           "status": {"type": "string", "enum": QUALITY_STATUSES}}},
            "model_failures": {"type": "object", "description": "Errors the model raised, with row counts."},
            "thresholds": {"type": "object", "description": "The limits the statuses are judged by."},
        },
    },
    "ModelQuality": {
        "type": "object",
        "required": ["name", "active_version", "jobs"],
        "properties": {
            "name": {"type": "string"},
            "active_version": _nullable("string"),
            "jobs": {"type": "array", "description": "Recent jobs with a report, oldest first.", "items": {
                "type": "object",
                "required": ["job_id", "file_name", "finished_at", "model_version", "job_status", "status", "reason",
                             "rows", "rows_flagged", "flagged_share", "psi", "predictions"],
                "properties": {
                    "job_id": {"type": "integer"},
                    "file_name": {"type": "string"},
                    "finished_at": _nullable("string", format="date-time"),
                    "model_version": _nullable("string"),
                    "job_status": {"type": "string", "enum": STATUSES},
                    "status": {"type": "string", "enum": QUALITY_STATUSES},
                    "reason": {"type": "string"},
                    "rows": {"type": "integer", "minimum": 0},
                    "rows_flagged": {"type": "integer", "minimum": 0},
                    "flagged_share": {"type": "number", "minimum": 0, "maximum": 1},
                    "psi": {"type": "object", "description": "Feature name -> PSI (null: not computed)."},
                    "predictions": {"type": "object", "description": "PSI and distribution of the predictions."},
                },
            }},
        },
    },
    "JobList": {
        "type": "object",
        "required": ["jobs", "total", "limit", "offset"],
        "properties": {
            "jobs": {"type": "array", "items": _ref("Job")},
            "total": {"type": "integer", "minimum": 0, "description": "Jobs matching the filters, all pages."},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "AuditEntry": record_schema(Entry, notes={
        "actor": {"description": "The user name ('system': the retention sweep; the name tried, for a failed "
                                 "sign-in)."},
        "action": {"enum": list(AUDIT_ACTIONS)},
        "object_type": {"description": "job, user, token, model, queue (or empty)."},
        "address": {"description": "The client's address ('cli': the command line)."},
    }),
    "AuditList": {
        "type": "object",
        "required": ["entries", "total", "limit", "offset"],
        "properties": {
            "entries": {"type": "array", "items": _ref("AuditEntry")},
            "total": {"type": "integer", "minimum": 0, "description": "Entries matching the filters, all pages."},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "Feature": {
        "type": "object",
        "required": ["name", "type", "required"],
        "properties": {
            "name": {"type": "string", "description": "The CSV column."},
            "type": {"type": "string", "enum": list(FEATURE_TYPES)},
            "required": {"type": "boolean", "description": "false: the CSV may leave the column out."},
        },
    },
    "Model": {
        "type": "object",
        "required": list(LISTED),
        "properties": {key: {**DEPLOYED_MODEL["properties"][key], **more} for key, more in {
            "name": {"description": "What POST /api/jobs's `model` field names."},
            "version": {"description": "The active version: new uploads get it."},
            "sha256": {"description": "SHA-256 of the version's files."},
            "features": {},
            "classes": {"description": "The labels a classifier predicts (empty for a regressor)."},
            "deployed_at": {},
        }.items()},
    },
    "DeployedModel": DEPLOYED_MODEL,
    "ModelList": {
        "type": "object",
        "required": ["models", "default"],
        "properties": {
            "models": {"type": "array", "items": _ref("Model")},
            "default": {"type": "string", "description": "The model an upload naming none gets."},
        },
    },
    "UnknownModel": {
        "type": "object",
        "required": ["error", "status", "models"],
        "properties": {
            "error": {"type": "string"},
            "status": {"type": "integer", "const": 422},
            "models": {"type": "array", "items": {"type": "string"}, "description": "The active model names."},
        },
    },
    "Deleted": {
        "type": "object",
        "required": ["id", "deleted"],
        "properties": {"id": {"type": "integer"}, "deleted": {"type": "boolean", "const": True}},
    },
    "ProcessResult": {
        "type": "object",
        "required": ["result", "Start", "End", "id", "status"],
        "properties": {
            "result": {"type": "string", "description": "e.g. 'PROCESS OK: 569 rows' or 'ERROR: <why>'."},
            "Start": {"type": "string", "format": "date-time"},
            "End": {"type": "string", "format": "date-time"},
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": STATUSES},
        },
    },
    "ProcessAllResult": {
        "type": "object",
        "required": ["result", "Start", "End"],
        "properties": {
            "result": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "status", "result"],
                    "properties": {
                        "id": {"type": "integer"},
                        "status": {"type": "string", "enum": STATUSES},
                        "result": {"type": "string"},
                    },
                },
            },
            "Start": {"type": "string", "format": "date-time"},
            "End": {"type": "string", "format": "date-time"},
        },
    },
    "WebhookAttempt": record_schema(Attempt, hidden=("worker",), renamed={"attempted_at": "at"}, notes={
        "status_code": {"description": "The receiver's HTTP status; null: no answer."},
        "duration_ms": {"minimum": 0},
        "error": {"description": "Why the attempt failed (HTTP status, timeout, refused)."},
    }),
    "WebhookDelivery": record_schema(Delivery, hidden=("webhook_id",), refs={Attempt: "WebhookAttempt"}, notes={
        "event": {"enum": list(WEBHOOK_EVENTS)},
        "message_id": {"description": "The webhook-id header (the same on every retry)."},
        "state": {"enum": ["pending", "delivered", "failed"],
                  "description": "failed: given up after the retry window (WEBHOOK_RETRY_HOURS)."},
        "attempts": {"minimum": 0},
    }),
    "Webhook": record_schema(
        Webhook, hidden=("owner_id",), renamed={"is_global": "global", "owner_name": "owner"}, optional=("secret",),
        notes={
            "events": {"items": {"type": "string", "enum": list(WEBHOOK_EVENTS)}},
            "global": {"description": "true: hears every user's jobs (administrators only)."},
            # What app/web/api/webhooks.py adds: the newest deliveries, and the secret in the answer to POST.
            "deliveries": {"type": "array", "items": _ref("WebhookDelivery"), "description": "The newest ten."},
            "secret": {"type": "string", "description": "Only in the answer to POST: the whsec_... signing key."},
        }),
    "WebhookList": {
        "type": "object",
        "required": ["webhooks"],
        "properties": {"webhooks": {"type": "array", "items": _ref("Webhook")}},
    },
    "Error": {
        "type": "object",
        "required": ["error", "status"],
        "description": "Every error. Some carry more fields: 'parameter' (the bad one), 'id' and "
                       "'job_status' (the job concerned and its status), 'limit_bytes'.",
        "properties": {
            "error": {"type": "string", "description": "What went wrong, for a human."},
            "status": {"type": "integer", "description": "The HTTP status again."},
            "parameter": {"type": "string"},
            "id": {"type": "integer", "description": "The job the error is about."},
            "job_status": {"type": "string", "enum": STATUSES},
        },
    },
    "ValidationError": {
        "type": "object",
        "required": ["error", "status", "errors", "total_errors"],
        "properties": {
            "error": {"type": "string"},
            "status": {"type": "integer", "const": 422},
            "errors": {
                "type": "array",
                "description": "The first problems found (at most 20).",
                "items": {
                    "type": "object",
                    "required": ["row", "column", "message"],
                    "properties": {
                        "row": _nullable("integer", description="Line number in the file (1 = header)."),
                        "column": _nullable("string"),
                        "message": {"type": "string"},
                    },
                },
            },
            "total_errors": {"type": "integer", "minimum": 0},
        },
    },
}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


# POST /api/jobs answers the job plus what the upload was and its duplicate (issue 12).
SCHEMAS["UploadInput"] = record_schema(
    UploadInput, hidden=("job_id", "owner_id", "path_original"), renamed={"input_format": "format"}, notes={
        "sha256": {"pattern": "^[0-9a-f]{64}$", "description": "SHA-256 of the uploaded bytes."},
        "format": {"enum": ["csv", "xlsx", "xlsm", "ods", "parquet", "gzip", "zip"],
                   "description": "gzip, zip: a compressed CSV (.csv.gz, or a .zip holding one CSV)."},
        "delimiter": {"enum": [",", ";", "\t"], "description": "The CSV convention the result CSV follows (dialect=excel)."},
        "decimal_mark": {"enum": [".", ","]},
        "encoding": {"enum": ["utf-8-sig", "cp1252", "latin-1"]},
        "sheet": {"description": "The workbook sheet used (the first with the model's columns)."},
        "header_row": {"description": "Row (workbook) or line (CSV) that held the header; rows above it were "
                                      "skipped as a title."},
    })
SCHEMAS["CreatedJob"] = {
    **SCHEMAS["Job"],
    "required": [*SCHEMAS["Job"]["required"], "input", "duplicate_of", "warnings", "total_warnings",
                 "rows_not_scored_expected"],
    "properties": {
        **SCHEMAS["Job"]["properties"],
        "input": _ref("UploadInput"),
        "duplicate_of": _nullable("integer", description="Your newest earlier job whose upload had the same "
                                                         "content (SHA-256); the new job is created anyway."),
        "warnings": {
            "type": "array",
            "description": "Cells that do not fit their column's type, in at most MAX_BAD_ROWS_PERCENT of the "
                           "rows: the file is accepted and those rows will get no prediction (their row_status "
                           "says why). The first ones (at most 20), worded as a 422's errors; empty for a clean file.",
            "items": SCHEMAS["ValidationError"]["properties"]["errors"]["items"],
        },
        "total_warnings": {"type": "integer", "minimum": 0, "description": "How many such cells in all."},
        "rows_not_scored_expected": {"type": "integer", "minimum": 0,
                                     "description": "The rows holding them: the rows the job will not score."},
    },
}

RESPONSES: dict[str, Any] = {
    "BadRequest": _error("A parameter is missing, empty or malformed; 'parameter' names it."),
    "Unauthorized": {
        **_error("No credentials, or wrong ones."),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"},
                                         "description": "Bearer only (no Basic challenge: no browser prompt); "
                                                        "HTTP Basic credentials are accepted all the same."}},
    },
    "Forbidden": _error("The credentials are fine but this needs an administrator; or (HTTP Basic) an administrator "
                        "set this password and its owner has not changed it on the panel yet; or (/process_file, "
                        "/process_all) a browser sent the request from another site."),
    "NotFound": _error("No such job, or it belongs to someone else (the two look the same)."),
    "Conflict": _error("The job is not in a state that allows this; 'job_status' says which it is in."),
    "TooManyRequests": {
        **_error("HTTP Basic only: too many failed sign-ins for this name or address, or the server is busy "
                 "checking other passwords (the password was not checked); retry after Retry-After seconds "
                 "(an API token is never throttled like this)."),
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    },
    "ServiceUnavailable": _error("The database or the model is not available right now; try again later."),
    "Gone": _error("The job's files were deleted after RESULT_RETENTION_DAYS; the job itself remains."),
}


def _responses(ok: dict[str, Any], *errors: str, ok_status: str = "200") -> dict[str, Any]:
    out = {ok_status: ok}
    codes = {"BadRequest": "400", "Unauthorized": "401", "Forbidden": "403", "NotFound": "404", "Conflict": "409",
             "Gone": "410"}
    for name in errors:
        out[codes[name]] = {"$ref": f"#/components/responses/{name}"}
    if "Unauthorized" in errors:  # every authenticated call may meet the password gate (Basic)
        out["429"] = {"$ref": "#/components/responses/TooManyRequests"}
        # ... and, with Basic, a password an administrator set and its owner has not changed yet
        out.setdefault("403", {"$ref": "#/components/responses/Forbidden"})
    out["503"] = {"$ref": "#/components/responses/ServiceUnavailable"}
    return out


def _query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


# Every id and offset: what parse_int lets through (at most 18 digits).
NUMBER = {"type": "integer", "minimum": 0, "maximum": MAX_NUMBER}
JOB_ID = {"name": "id", "in": "path", "required": True, "schema": NUMBER, "description": "The job's id."}
FORCE = _query("force", {"type": "boolean", "default": False},
               "1/true: also re-run a job that is PROCESS OK or ERROR (never one IN PROCESS).")


# What can be done with a job once an answer has named it: OpenAPI links from every answer
# that is a Job (its `id`) to these operations, so clients and schemathesis's stateful runs
# can go from a submitted job to the rest of its life.
NEXT_STEPS = {
    "get_job": ("GetJob", "Poll the job."),
    "get_result": ("GetResult", "Download its result (409 until it is PROCESS OK)."),
    "get_job_quality": ("GetQuality", "Its data-quality report (409 until it is PROCESS OK)."),
    "retry_job": ("RetryJob", "Queue it again if it ended in ERROR or was CANCELLED."),
    "cancel_job": ("CancelJob", "Cancel it while it is PENDING or IN PROCESS."),
    "job_events": ("JobEvents", "Its history: claims, retries, cancel, finish."),
    "archive_job": ("ArchiveJob", "Archive it."),
    "unarchive_job": ("UnarchiveJob", "Bring it back from the archive."),
    "delete_job": ("DeleteJob", "Delete it with its files."),
}


def _job_links(this: str) -> dict[str, Any]:
    return {name: {"operationId": operation_id, "parameters": {"id": "$response.body#/id"}, "description": text}
            for operation_id, (name, text) in NEXT_STEPS.items() if operation_id != this}


def _job_answer(description: str, this: str) -> dict[str, Any]:
    return {**_json(_ref("Job"), description), "links": _job_links(this)}


def _job_action(summary: str, description: str, operation_id: str, *more: str) -> dict[str, Any]:
    return {"post": {
        "operationId": operation_id, "summary": summary, "description": description, "tags": ["jobs"],
        "parameters": [JOB_ID],
        "responses": _responses(_job_answer("The job after the change.", operation_id),
                                "BadRequest", "Unauthorized", "NotFound", "Conflict", *more),
    }}


def openapi_document(settings: Settings) -> dict[str, Any]:
    limit = human_size(settings.upload_limit)
    process_file = {
        "operationId": "process_file", "tags": ["article"],
        "summary": "Process one job now (administrators)",
        "description": (
            "Claims job `id` and runs the model on it before answering (the call lasts as long as the "
            "job). PENDING runs; IN PROCESS is 409; PROCESS OK and ERROR are 409 unless force=1. "
            "The HTTP status is 200 whenever the run took place: the job's outcome is `status`."
        ),
        "parameters": [_query("id", NUMBER, "The job's id.", required=True), FORCE],
        "responses": _responses(_json(_ref("ProcessResult"), "The run took place; see `status`."),
                                "BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict", "Gone"),
    }
    process_all = {
        "operationId": "process_all", "tags": ["article"],
        "summary": "Process every PENDING job (administrators)",
        "description": "Runs, oldest first, every job that is PENDING when the call arrives, then answers.",
        "responses": _responses(_json(_ref("ProcessAllResult"), "One entry per job that was run."),
                                "Unauthorized", "Forbidden"),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Beyond",
            "version": __version__,
            "description": (
                "Upload a CSV, the model predicts every row, fetch the result as .xlsx or CSV. "
                "Authenticate with `Authorization: Bearer <token>` (a token from the panel's Tokens page "
                "or `python -m app create-token NAME --user USER`) or HTTP Basic with a user's password. "
                "Errors are JSON: {\"error\": \"...\", \"status\": N}. Leave a parameter out to get its "
                "default: an empty value (`?status=`) is a 400 like any other value outside its schema. "
                "Walk-through: docs/api.md."
            ),
        },
        "tags": [{"name": "article", "description": "The article's three endpoints."},
                 {"name": "jobs", "description": "Jobs for programs: submit, poll, fetch."},
                 {"name": "models", "description": "The models jobs can use."},
                 {"name": "webhooks", "description": "Signed deliveries of job events (Standard Webhooks)."},
                 {"name": "operations", "description": "Prometheus metrics."}],
        "security": [{"bearerAuth": []}, {"basicAuth": []}],
        "paths": {
            "/": {"get": {
                "operationId": "health", "tags": ["article"], "security": [],
                "summary": "Health: is the service up?",
                "description": "No credentials needed. 503 (same body) while the database is unreachable.",
                "responses": {"200": _json(_ref("Health"), "Up."),
                              "503": _json(_ref("Health"), "The database is unreachable.")},
            }},
            "/process_file": {"get": process_file, "post": {**process_file, "operationId": "process_file_post"}},
            "/process_all": {"get": process_all, "post": {**process_all, "operationId": "process_all_post"}},
            "/api/jobs": {
                "get": {
                    "operationId": "list_jobs", "tags": ["jobs"], "summary": "List your jobs, newest first",
                    "description": "Administrators see every user's jobs.",
                    "parameters": [
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                         "default": DEFAULT_LIMIT}, "Page size."),
                        _query("offset", {**NUMBER, "default": 0}, "Jobs to skip."),
                        _query("status", {"type": "string", "enum": STATUSES}, "Only jobs in this status."),
                        _query("archived", {"type": "boolean", "default": False},
                               "false: active jobs (the default); true: archived ones."),
                        _query("search", {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"},
                               "Only jobs whose file name contains this text, ignoring case and accents."),
                        _query("model", {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"},
                               "Only jobs scored by this model (its name)."),
                    ],
                    "responses": _responses(_json(_ref("JobList"), "A page of jobs."), "BadRequest", "Unauthorized"),
                },
                "post": {
                    "operationId": "create_job", "tags": ["jobs"],
                    "summary": "Submit a CSV, an Excel or OpenDocument workbook, or a Parquet file",
                    "description": (
                        "The file is checked against the model's columns before it is accepted; an accepted "
                        f"file becomes a PENDING job. Largest upload: {limit}. Any bytes fit the schema below, "
                        "but only a file whose header has the model's feature columns and whose cells fit their "
                        "types is accepted: anything else is a 422 that lists the problems by row and column "
                        "(cells that do not fit in at most MAX_BAD_ROWS_PERCENT of the rows, default 1%, are "
                        "accepted instead, listed in `warnings`: those rows get no prediction) "
                        "(and sheet, for a workbook). The file name's extension says the format: .xlsx, .xlsm "
                        "and .ods are read as workbooks (the first sheet with the model's columns; cached "
                        "formula values, never macros), .parquet by its own schema, anything else as CSV text "
                        "(title lines above the header are skipped). `duplicate_of` names your earlier job "
                        "with the same content."
                    ),
                    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                        "type": "object", "required": ["file"], "additionalProperties": False,
                        "properties": {
                            "file": {"type": "string", "format": "binary",
                                     "description": "The CSV, workbook or Parquet file (header row, one row "
                                                    "per case)."},
                            "model": {"type": "string", "maxLength": 64,
                                      "description": "The model to use (GET /api/models); left out or empty: "
                                                     "the default model. The job keeps the version active now."},
                        },
                    }}}},
                    "responses": {
                        **_responses(
                            {**_json(_ref("CreatedJob"), "Accepted: a PENDING job."), "links": _job_links("create_job"),
                             "headers": {"Location": {"schema": {"type": "string"}, "description": "The job's path."}}},
                            "BadRequest", "Unauthorized", ok_status="201"),
                        "413": _error(f"The file is larger than the upload limit ({limit}), or would take your "
                                      "stored files past MAX_STORAGE_MB_PER_USER (`limit` names it)."),
                        "429": _error("You have MAX_PENDING_JOBS_PER_USER jobs waiting or running (`limit` names "
                                      "it), or (HTTP Basic) the server is busy checking passwords."),
                        "422": _json({"anyOf": [_ref("ValidationError"), _ref("UnknownModel")]},
                                     "The file does not fit the model (`errors` says where), or `model` names "
                                     "no active model (`models` lists those there are)."),
                    },
                },
            },
            "/api/jobs/{id}": {
                "get": {
                    "operationId": "get_job", "tags": ["jobs"], "summary": "One job: status, progress, times, error",
                    "parameters": [JOB_ID],
                    "responses": _responses(_job_answer("The job.", "get_job"), "BadRequest", "Unauthorized",
                                            "NotFound"),
                },
                "delete": {
                    "operationId": "delete_job", "tags": ["jobs"],
                    "summary": "Delete a job with its uploaded file and results",
                    "description": "Not while it is IN PROCESS (409; cancel it first).",
                    "parameters": [JOB_ID],
                    "responses": _responses(_json(_ref("Deleted"), "Deleted."),
                                            "BadRequest", "Unauthorized", "NotFound", "Conflict"),
                },
            },
            "/api/jobs/{id}/result": {"get": {
                "operationId": "get_result", "tags": ["jobs"], "summary": "Download the result",
                "description": "The .xlsx (default) or its CSV twin. 409 until the job is PROCESS OK.",
                "parameters": [JOB_ID, _query("format", {"type": "string", "enum": ["xlsx", "csv"], "default": "xlsx"},
                                              "xlsx or csv."),
                               _query("dialect", {"type": "string", "enum": ["excel", "rfc4180"], "default": "excel"},
                                      "CSV only. excel: the upload's delimiter, decimal mark and encoding "
                                      "(UTF-8 or Windows-1252), as its Excel opens it; rfc4180: comma, point, "
                                      "UTF-8.")],
                "responses": _responses(
                    {"description": "The file, as an attachment.", "content": {
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                            {"schema": {"type": "string", "format": "binary"}},
                        "text/csv": {"schema": {"type": "string"}},
                    }},
                    "BadRequest", "Unauthorized", "NotFound", "Conflict", "Gone"),
            }},
            "/api/jobs/{id}/retry": _job_action(
                "Queue a job in ERROR or CANCELLED again",
                "ERROR or CANCELLED -> PENDING (attempts reset); any other status is 409; an expired job (its "
                "files deleted) is 410.", "retry_job", "Gone"),
            "/api/jobs/{id}/cancel": _job_action(
                "Cancel a PENDING or IN PROCESS job",
                "-> CANCELLED. A running job stops at its next progress check (about a second) and leaves no "
                "result; a job that has ended (PROCESS OK, ERROR, CANCELLED) is 409. If it finishes at the same "
                "moment, exactly one of the two wins: the answer is 200 CANCELLED or 409 PROCESS OK.",
                "cancel_job"),
            "/api/jobs/{id}/events": {"get": {
                "operationId": "job_events", "tags": ["jobs"], "summary": "A job's history, oldest first",
                "description": "One entry per state change: queued, claimed (by which worker), released, "
                               "reaped (heartbeat lost), cancelled, retried, finished_ok, finished_error.",
                "parameters": [JOB_ID],
                "responses": _responses(_json(_ref("JobEvents"), "The job's events."),
                                        "BadRequest", "Unauthorized", "NotFound"),
            }},
            "/api/jobs/{id}/archive": _job_action(
                "Archive a job", "Archived jobs leave the default list (`archived=true` lists them).", "archive_job"),
            "/api/jobs/{id}/unarchive": _job_action("Bring an archived job back", "The opposite of archive.",
                                                    "unarchive_job"),
            "/api/audit": {"get": {
                "operationId": "list_audit", "tags": ["audit"], "summary": "The audit log (administrators)",
                "description": "Who did what, to which object, from which address, newest first. Entries are "
                               "only ever added. 403 for a non-administrator.",
                "parameters": [
                    _query("actor", {"type": "string", "minLength": 1, "maxLength": 128},
                           "Only this user's entries (ignoring case)."),
                    _query("action", {"type": "string", "enum": list(AUDIT_ACTIONS)}, "Only this action."),
                    _query("object_type", {"type": "string", "minLength": 1, "maxLength": 128},
                           "Only entries about this kind of object (job, user, token, model)."),
                    _query("object_id", {"type": "string", "minLength": 1, "maxLength": 128},
                           "Only entries about this object (a job id, a user name...)."),
                    _query("since", {"type": "string"}, "From this UTC date (2026-12-01) or date-time, inclusive."),
                    _query("until", {"type": "string"},
                           "Up to this date (inclusive: the whole day) or date-time (exclusive)."),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": AUDIT_MAX_LIMIT,
                                     "default": AUDIT_DEFAULT_LIMIT}, "Page size."),
                    _query("offset", {**NUMBER, "default": 0}, "Entries to skip."),
                ],
                "responses": _responses(_json(_ref("AuditList"), "A page of entries."), "BadRequest",
                                        "Unauthorized", "Forbidden"),
            }},
            "/api/jobs/{id}/quality": {"get": {
                "operationId": "get_job_quality", "tags": ["jobs"], "summary": "The job's data-quality report",
                "description": "Per feature: missing rate, values outside the training range, unseen categories, "
                               "PSI against the training bins, status; the prediction distribution. 409 until the "
                               "job is PROCESS OK.",
                "parameters": [JOB_ID],
                "responses": _responses(_json(_ref("QualityReport"), "The report."),
                                        "BadRequest", "Unauthorized", "NotFound", "Conflict"),
            }},
            "/api/models/{name}/quality": {"get": {
                "operationId": "get_model_quality", "tags": ["models"], "summary": "A model watched over time",
                "description": "Its recent jobs (yours; an administrator sees everyone's) with their data-quality "
                               "status, each feature's PSI, the flagged share and the prediction distribution.",
                "parameters": [{"name": "name", "in": "path", "required": True,
                                "schema": {"type": "string", "maxLength": 64},
                                "description": "The model's name: letters, digits, '-', '_', '.'."}],
                "responses": _responses(_json(_ref("ModelQuality"), "The model's recent jobs."),
                                        "Unauthorized", "NotFound"),
            }},
            "/api/models": {"get": {
                "operationId": "list_models", "tags": ["models"], "summary": "The models an upload may name",
                "description": "Each model's active version, with the CSV columns it needs.",
                "responses": _responses(_json(_ref("ModelList"), "The active models."), "Unauthorized"),
            }, "post": {
                "operationId": "deploy_model", "tags": ["models"],
                "summary": "Deploy a model version from a .zip (administrators)",
                "description": (
                    "The archive holds a model directory: schema.json with model.skops or model.joblib, or "
                    "an MLflow model (MLmodel with a signature). It is unpacked with every entry checked "
                    "(no paths outside it, no links, no encrypted entries, at most "
                    f"{human_size(settings.model_unpacked_limit)} unpacked), loaded and registered. Only "
                    "administrators may: loading a joblib model runs code on the server."
                ),
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["archive", "name"], "additionalProperties": False,
                    "properties": {
                        "archive": {"type": "string", "format": "binary", "contentMediaType": "application/zip"},
                        "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
                        "version": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                                    "description": "Left out: the version its schema names."},
                        "activate": {"type": "boolean", "default": False,
                                     "description": "Make it the version new uploads of the name use."},
                        "id_column": {"type": "string", "maxLength": 255,
                                      "description": "The column that identifies a row: every upload must carry "
                                                     "it, non-empty and unique in the file. Left out: the one its "
                                                     "schema names, if any."},
                    },
                }}}},
                "responses": {
                    **_responses(_json(_ref("DeployedModel"), "Deployed."), "BadRequest", "Unauthorized",
                                 "Forbidden", "Conflict", ok_status="201"),
                    "413": _error(f"The archive is larger than MODEL_UPLOAD_LIMIT "
                                  f"({human_size(settings.model_upload_limit)})."),
                    "422": _error("The archive is not a usable model: the message says why."),
                },
            }},
            "/api/webhooks": {
                "get": {
                    "operationId": "list_webhooks", "tags": ["webhooks"], "summary": "Your webhooks",
                    "description": "With each one's ten newest deliveries and their attempts. Administrators "
                                   "also see the global webhooks.",
                    "responses": _responses(_json(_ref("WebhookList"), "The webhooks."), "Unauthorized"),
                },
                "post": {
                    "operationId": "create_webhook", "tags": ["webhooks"], "summary": "Register a webhook",
                    "description": (
                        "Deliveries are POSTs signed as Standard Webhooks specifies (webhook-id, webhook-timestamp, "
                        "webhook-signature with the returned `secret`, shown only here), retried with backoff "
                        "for at least 24 hours. A URL whose host resolves to a loopback, private or link-local "
                        "address is a 400 unless the server allows it (WEBHOOK_ALLOW_PRIVATE)."),
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["url", "events"],
                        "properties": {
                            "url": {"type": "string", "format": "uri", "maxLength": MAX_URL,
                                    "description": "http:// or https:// address of the receiver."},
                            "events": {"type": "array", "minItems": 1,
                                       "items": {"type": "string", "enum": list(WEBHOOK_EVENTS)}},
                            "global": {"type": "boolean", "default": False,
                                       "description": "Administrators: hear every user's jobs."},
                        },
                    }}}},
                    "responses": {
                        **_responses(
                            {**_json(_ref("Webhook"), "Registered; `secret` is shown this once."),
                             "headers": {"Location": {"schema": {"type": "string"}}}},
                            "BadRequest", "Unauthorized", "Forbidden", ok_status="201"),
                        "413": _error("The body is larger than 16 KiB."),
                    },
                },
            },
            "/api/webhooks/{webhook_id}": {"delete": {
                "operationId": "delete_webhook", "tags": ["webhooks"],
                "summary": "Delete a webhook with its pending deliveries",
                "parameters": [{"name": "webhook_id", "in": "path", "required": True, "schema": NUMBER,
                                "description": "The webhook's id."}],
                "responses": _responses(_json(_ref("Deleted"), "Deleted."), "BadRequest", "Unauthorized", "NotFound"),
            }},
            "/metrics": {"get": {
                "operationId": "metrics", "tags": ["operations"],
                "summary": "Prometheus metrics (administrators)",
                "description": "The Prometheus text format; every number comes from the database, so every "
                               "host answers the same. docs/operations.md has a scrape config.",
                "responses": _responses(
                    {"description": "The metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "Unauthorized", "Forbidden"),
            }},
            "/openapi.json": {"get": {
                "operationId": "openapi", "tags": ["article"], "security": [],
                "summary": "This description",
                "responses": {"200": {"description": "OpenAPI 3.1 document.",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
        },
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "An API token (byd_...), from the Tokens page or create-token."},
                "basicAuth": {"type": "http", "scheme": "basic", "description": "A user name and password."},
            },
        },
    }
