"""The OpenAPI 3.1 description of the API, served at /openapi.json.

Written as a plain dict rather than generated from docstrings: Starlette's SchemaGenerator
would need PyYAML and still could not describe response bodies. tests/test_api_openapi.py
checks that every API route is described here and fuzzes the API against these schemas;
tests/test_api_schemathesis.py runs schemathesis against it, following the `links` from a
submitted job to everything that can be done with it.

The parameter schemas state exactly what app/web/api/params.py accepts: whole numbers of at
most 18 ASCII digits (`maximum` MAX_NUMBER), enums matched exactly, and no empty values
(an empty one is a 400 like any other value outside the schema).
"""

from __future__ import annotations

from typing import Any

from app import __version__
from app.core.jobs import Status
from app.core.settings import Settings
from app.core.submissions import human_size
from app.web.api.jobs import DEFAULT_LIMIT, MAX_LIMIT
from app.web.api.params import MAX_NUMBER
from model.artifact import FEATURE_TYPES

STATUSES = [s.value for s in Status]
QUALITY_STATUSES = ["ok", "warning", "alert", "unknown"]


def _nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **more}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


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
    "Job": {
        "type": "object",
        "required": ["id", "owner", "file_name", "file_size", "status", "uploaded_at", "started_at",
                     "finished_at", "duration_seconds", "rows_total", "rows_done", "progress", "attempts",
                     "error", "archived", "model", "model_version", "model_sha256", "has_result", "quality",
                     "links"],
        "properties": {
            "id": {"type": "integer"},
            "owner": _nullable("string", description="User name of the owner."),
            "file_name": {"type": "string", "description": "The uploaded file's name (display only)."},
            "file_size": {"type": "integer", "minimum": 0, "description": "Bytes."},
            "status": {"type": "string", "enum": STATUSES},
            "uploaded_at": _nullable("string", format="date-time"),
            "started_at": _nullable("string", format="date-time", description="Start of the latest run."),
            "finished_at": _nullable("string", format="date-time"),
            "duration_seconds": _nullable("number"),
            "rows_total": _nullable("integer", description="Data rows in the file."),
            "rows_done": {"type": "integer", "minimum": 0},
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "attempts": {"type": "integer", "minimum": 0},
            "error": _nullable("string", description="Why the job ended in ERROR."),
            "archived": {"type": "boolean"},
            "model": _nullable("string", description="The registered model the job was accepted for "
                                                     "(null: a job from before the registry)."),
            "model_version": _nullable("string", description="Its version, fixed at upload: the job runs with it."),
            "model_sha256": _nullable("string", description="SHA-256 of that version's files."),
            "has_result": {"type": "boolean"},
            "quality": {"anyOf": [{"type": "null"}, _ref("QualitySummary")],
                        "description": "The data-quality summary, once the job is PROCESS OK (null before, and "
                                       "for jobs processed before reports existed)."},
            "links": _ref("Links"),
        },
    },
    "QualitySummary": {
        "type": "object",
        "required": ["status", "rows_flagged", "rows_not_scored", "drifted_features", "reason"],
        "properties": {
            "status": {"type": "string", "enum": QUALITY_STATUSES,
                       "description": "unknown: the model has no training profile."},
            "rows_flagged": {"type": "integer", "minimum": 0, "description": "Rows with a row_status."},
            "rows_not_scored": {"type": "integer", "minimum": 0, "description": "Rows without a prediction."},
            "drifted_features": {"type": "array", "items": {"type": "string"},
                                 "description": "Features whose status is warning or alert."},
            "reason": {"type": "string", "description": "Why the status is what it is (empty when ok)."},
        },
    },
    "FeatureQuality": {
        "type": "object",
        "required": ["name", "type", "missing_rate", "out_of_range", "unseen", "psi", "status", "reasons"],
        "properties": {
            "name": {"type": "string"},
            "type": {"type": "string", "enum": list(FEATURE_TYPES)},
            "missing_rate": {"type": "number", "minimum": 0, "maximum": 1},
            "training_missing_rate": {"type": "number", "minimum": 0, "maximum": 1},
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
        "required": ["name", "version", "sha256", "features", "classes", "deployed_at"],
        "properties": {
            "name": {"type": "string", "description": "What POST /api/jobs's `model` field names."},
            "version": {"type": "string", "description": "The active version: new uploads get it."},
            "sha256": {"type": "string", "description": "SHA-256 of the version's files."},
            "features": {"type": "array", "items": _ref("Feature")},
            "classes": {"type": "array", "items": {"type": "string"},
                        "description": "The labels a classifier predicts (empty for a regressor)."},
            "deployed_at": _nullable("string", format="date-time"),
        },
    },
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


RESPONSES: dict[str, Any] = {
    "BadRequest": _error("A parameter is missing, empty or malformed; 'parameter' names it."),
    "Unauthorized": {
        **_error("No credentials, or wrong ones."),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer and Basic."}},
    },
    "Forbidden": _error("The credentials are fine but this needs an administrator."),
    "NotFound": _error("No such job, or it belongs to someone else (the two look the same)."),
    "Conflict": _error("The job is not in a state that allows this; 'job_status' says which it is in."),
    "TooManyRequests": {
        **_error("HTTP Basic only: the server is busy checking other passwords; retry after Retry-After "
                 "seconds (an API token is never throttled like this)."),
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    },
    "ServiceUnavailable": _error("The database or the model is not available right now; try again later."),
}


def _responses(ok: dict[str, Any], *errors: str, ok_status: str = "200") -> dict[str, Any]:
    out = {ok_status: ok}
    codes = {"BadRequest": "400", "Unauthorized": "401", "Forbidden": "403", "NotFound": "404", "Conflict": "409"}
    for name in errors:
        out[codes[name]] = {"$ref": f"#/components/responses/{name}"}
    if "Unauthorized" in errors:  # every authenticated call may meet the password gate (Basic)
        out["429"] = {"$ref": "#/components/responses/TooManyRequests"}
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
    "retry_job": ("RetryJob", "Queue it again if it ended in ERROR."),
    "archive_job": ("ArchiveJob", "Archive it."),
    "unarchive_job": ("UnarchiveJob", "Bring it back from the archive."),
    "delete_job": ("DeleteJob", "Delete it with its files."),
}


def _job_links(this: str) -> dict[str, Any]:
    return {name: {"operationId": operation_id, "parameters": {"id": "$response.body#/id"}, "description": text}
            for operation_id, (name, text) in NEXT_STEPS.items() if operation_id != this}


def _job_answer(description: str, this: str) -> dict[str, Any]:
    return {**_json(_ref("Job"), description), "links": _job_links(this)}


def _job_action(summary: str, description: str, operation_id: str) -> dict[str, Any]:
    return {"post": {
        "operationId": operation_id, "summary": summary, "description": description, "tags": ["jobs"],
        "parameters": [JOB_ID],
        "responses": _responses(_job_answer("The job after the change.", operation_id),
                                "BadRequest", "Unauthorized", "NotFound", "Conflict"),
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
                                "BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict"),
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
                 {"name": "models", "description": "The models jobs can use."}],
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
                    ],
                    "responses": _responses(_json(_ref("JobList"), "A page of jobs."), "BadRequest", "Unauthorized"),
                },
                "post": {
                    "operationId": "create_job", "tags": ["jobs"], "summary": "Submit a CSV",
                    "description": (
                        "The file is checked against the model's columns before it is accepted; an accepted "
                        f"file becomes a PENDING job. Largest upload: {limit}. Any bytes fit the schema below, "
                        "but only a CSV whose header has the model's feature columns and whose cells are numbers "
                        "is accepted: anything else is a 422 that lists the problems by row and column."
                    ),
                    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                        "type": "object", "required": ["file"], "additionalProperties": False,
                        "properties": {
                            "file": {"type": "string", "format": "binary", "contentMediaType": "text/csv",
                                     "description": "The CSV (header row, one row per case)."},
                            "model": {"type": "string", "maxLength": 64,
                                      "description": "The model to use (GET /api/models); left out or empty: "
                                                     "the default model. The job keeps the version active now."},
                        },
                    }}}},
                    "responses": {
                        **_responses(
                            {**_job_answer("Accepted: a PENDING job.", "create_job"),
                             "headers": {"Location": {"schema": {"type": "string"}, "description": "The job's path."}}},
                            "BadRequest", "Unauthorized", ok_status="201"),
                        "413": _error(f"The file is larger than the upload limit ({limit})."),
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
                    "description": "Not while it is IN PROCESS (409).",
                    "parameters": [JOB_ID],
                    "responses": _responses(_json(_ref("Deleted"), "Deleted."),
                                            "BadRequest", "Unauthorized", "NotFound", "Conflict"),
                },
            },
            "/api/jobs/{id}/result": {"get": {
                "operationId": "get_result", "tags": ["jobs"], "summary": "Download the result",
                "description": "The .xlsx (default) or its CSV twin. 409 until the job is PROCESS OK.",
                "parameters": [JOB_ID, _query("format", {"type": "string", "enum": ["xlsx", "csv"], "default": "xlsx"},
                                              "xlsx or csv.")],
                "responses": _responses(
                    {"description": "The file, as an attachment.", "content": {
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                            {"schema": {"type": "string", "format": "binary"}},
                        "text/csv": {"schema": {"type": "string"}},
                    }},
                    "BadRequest", "Unauthorized", "NotFound", "Conflict"),
            }},
            "/api/jobs/{id}/retry": _job_action(
                "Queue a job in ERROR again", "ERROR -> PENDING (attempts reset); any other status is 409.",
                "retry_job"),
            "/api/jobs/{id}/archive": _job_action(
                "Archive a job", "Archived jobs leave the default list (`archived=true` lists them).", "archive_job"),
            "/api/jobs/{id}/unarchive": _job_action("Bring an archived job back", "The opposite of archive.",
                                                    "unarchive_job"),
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
