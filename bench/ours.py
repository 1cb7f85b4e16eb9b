"""Our way, as the worker runs it: ``prediction()`` (stream, predict, write the .xlsx and its
CSV twin, with a progress callback) with the arguments scheduler/worker.py passes (the
settings at their defaults) and in the steps it would use, in a process of its own.  The
file is checked first, untimed, as the upload does; the timed part hashes it and runs on that
check's report, as the worker does (scheduler/worker.py `input_report`).

    python -m bench.ours INPUT.csv OUTPUT.xlsx [--no-row-status] [--stages] [--chunk-rows N] [--warm-up]
                         [--recheck] [--model DIR]

--no-row-status: without the row status and the quality report (model/quality.py), for the
"with / without" measurement of `bench.quality_cost`.
--stages: also the seconds per stage (`model.predictions.STAGES`) in the JSON line.
--chunk-rows N: rows per step. Default: what the worker passes for this file,
`scheduler.worker.step_rows(CHUNK_ROWS's default, file size, rows)`, so the bench runs what
the worker runs.
--warm-up: first an untimed prediction() of the file's first 200 rows (first calls, lazy
imports), as the worker's earlier jobs have done by the time it runs this one.
--recheck: the job checks the file again itself (prediction() without a report), as the
worker did before it trusted the upload's check.

Prints one JSON line: rows, seconds inside prediction(), chunk_rows, the sheets written and,
with --stages, ``stages``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def setting_default(name: str) -> str:
    """A setting's default (app/core/settings.py KEYS): the bench runs an untouched installation."""
    from app.core.settings import KEYS

    return next(k.default for k in KEYS if k.name == name) or ""


def data_rows(path: str) -> int:
    """Lines after the header (the upload check's row count for the bench's files)."""
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 22), b"")) - 1


def worker_step_rows(path: str, rows: int | None = None) -> int:
    """The step the worker uses for this file (with CHUNK_ROWS at its default); rows: the
    upload check's row count, as the worker has it (default: counted in the file)."""
    from scheduler.worker import step_rows

    return step_rows(int(setting_default("CHUNK_ROWS")), os.path.getsize(path),
                     data_rows(path) if rows is None else rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.ours", description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("target")
    ap.add_argument("--no-row-status", action="store_true")
    ap.add_argument("--stages", action="store_true", help="seconds per stage in the JSON line")
    ap.add_argument("--chunk-rows", type=int, default=None, help="rows per step (default: the worker's)")
    ap.add_argument("--warm-up", action="store_true", help="an untimed run on the first rows first")
    ap.add_argument("--recheck", action="store_true", help="the job checks the file again (as before)")
    ap.add_argument("--model", default=None, help="the model's directory (default: the default model)")
    args = ap.parse_args(argv)
    from app.core.jobs.inputs import file_sha256
    from bench.data import WARMUP_ROWS, head_csv
    from model.inputs.report import CsvReport
    from model.inputs.scan import inspect_csv
    from model.loading import load_model
    from model.predictions import prediction

    model = load_model(args.model)
    # The upload's check, untimed: the worker runs on its report (unless --recheck) and takes
    # its step size from its row count.
    upload_report = inspect_csv(args.source, model.feature_specs)
    chunk_rows = args.chunk_rows or worker_step_rows(args.source, upload_report.rows)
    if args.warm_up:
        with tempfile.TemporaryDirectory(prefix="beyond-bench-warm-") as tmp:
            head = head_csv(Path(args.source), WARMUP_ROWS, Path(tmp) / "head.csv")
            prediction(head, Path(tmp) / "head.xlsx", model=model, chunk_rows=chunk_rows,
                       row_status=not args.no_row_status)
    progress: list[tuple[int, int]] = []
    stages: dict[str, float] | None = {} if args.stages else None
    quality: dict[str, object] = {}
    model_name, probability_columns = setting_default("DEFAULT_MODEL"), setting_default("PROBABILITY_COLUMNS")
    checked = None if args.recheck else (upload_report.trusted_json(), file_sha256(Path(args.source)))
    started = time.perf_counter()
    report = None
    if checked is not None:  # as the worker: the file still hashes to what was checked
        if file_sha256(Path(args.source)) != checked[1]:
            raise SystemExit("the file changed while the bench ran")
        report = CsvReport.from_trusted_json(checked[0])
    # The arguments scheduler/worker.py's run_claim passes (the settings at their defaults).
    out = prediction(args.source, args.target, model=model, report=report,
                     progress=lambda done, total: progress.append((done, total)),
                     row_status=not args.no_row_status, chunk_rows=chunk_rows, stages=stages,
                     source_name=Path(args.source).name, model_name=model_name,
                     probability_columns=probability_columns, quality=quality.update, max_bad_rows_percent=100.0)
    seconds = time.perf_counter() - started
    result: dict[str, object] = {"rows": progress[-1][0] if progress else 0, "seconds": round(seconds, 3),
                                 "chunk_rows": chunk_rows, "progress_calls": len(progress), "output": str(out)}
    if stages is not None:
        result["stages"] = {name: round(value, 4) for name, value in stages.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
