"""The CSV result download shared by the API and the panel: the stored twin as it is
(``dialect=rfc4180``) or converted into the upload's convention (``dialect=excel``, the
default; see app/core/jobs/result_csv.py)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from app.core.jobs.inputs import UploadInputs
from app.core.jobs.records import Job
from app.core.jobs.result_csv import DIALECTS, convention_for, converted, media_type, number_features
from app.core.registry.models import Registry


def csv_result(request: Request, job: Job, path: Path, dialect: str, headers: dict[str, str]) -> Response:
    """Runs in a thread (database reads); ``headers`` carry Content-Disposition and the like."""
    assert dialect in DIALECTS
    db = request.app.state.jobs.db
    convention = convention_for(UploadInputs(db).get(job.id), dialect)
    if convention is None:
        return FileResponse(path, media_type="text/csv; charset=utf-8", headers=headers)
    numbers = number_features(Registry(db, request.app.state.settings), job)
    return StreamingResponse(converted(path, convention, numbers), media_type=media_type(convention, path),
                             headers=headers)
