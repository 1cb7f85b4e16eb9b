"""The deploy trial: before a version is registered, a child process loads the model and
predicts a few rows, as a worker would (model/trial.py), so that a model that cannot score is
refused at deploy with its own message.

The child (`python -m app.core.registry.trial`) limits its own address space
(MODEL_TRIAL_MEMORY_MB, RLIMIT_AS) before it loads anything, and the parent stops it after
MODEL_TRIAL_SECONDS: loading a model runs its code (a pickle), so a model that crashes the
interpreter (os.abort in native code), eats the memory or hangs takes the child down, never
the web server.  The request goes in as JSON on stdin, the answer comes back as JSON on stdout,
as model/inputs/isolated.py does for conversions.

The rows: the MLflow input example when the model has one, else the first rows of the
deploy's sample (``--sample``, the profile sample), else the two template rows made from the
schema (app/core/registry/template.py, the rows the Models page offers as a template).
"""

from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.core.errors import InvalidRequest
from app.core.registry.template import schema_rows
from app.core.settings import Settings
from model.loading import load_model
from model.messages import shorten, without_paths
from model.schema import MLMODEL_FILE, SCHEMA_FILE
from model.trial import TRIAL_ROWS, model_error_text, runtime_text, try_model

ROOT = Path(__file__).resolve().parents[3]
MESSAGE_CHARS = 400
# Trials passed in this process, by what was tried (the directory's files by name, size and
# mtime, the sample's): deploying the same files again (another name, the next version of
# unchanged files) does not start a child again.  Only passes are kept: a refusal is tried anew.
_passed: dict[tuple[Any, ...], dict[str, Any]] = {}


def _signature(source: Path, sample: Path | None) -> tuple[Any, ...]:
    def stats(path: Path) -> tuple[str, int, int]:
        info = path.stat()
        return path.relative_to(source).as_posix() if path != sample else str(path), info.st_size, info.st_mtime_ns

    files = tuple(sorted(stats(p) for p in source.rglob("*") if p.is_file()))
    return str(source.resolve()), files, stats(sample) if sample is not None else None


def _rows_csv(source: Path, sample: Path | None, into: Path) -> Path | None:
    """The rows to try, as a CSV in `into`: the sample's first rows, or the template rows of
    our schema.json (read as JSON: nothing of the model runs here); None for an MLflow model
    without a sample (the child uses its input example, or loads it to make template rows)."""
    path = into / "rows.csv"
    if sample is not None:
        with open(sample, encoding="utf-8-sig", newline="") as fh, open(path, "w", encoding="utf-8", newline="") as out:
            for k, line in enumerate(fh):
                if k > TRIAL_ROWS:
                    break
                out.write(line)
        return path
    schema_file = source / SCHEMA_FILE
    if (source / MLMODEL_FILE).is_file() or not schema_file.is_file():
        return None
    try:
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
        rows = schema_rows(schema)
    except Exception:  # a broken schema.json: loading the model says what is wrong with it
        return None
    with open(path, "w", encoding="utf-8", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows(rows)
    return path


def try_isolated(settings: Settings, source: Path, shown: str, sample: Path | None = None) -> dict[str, Any]:
    """Try the model in `source` in a child process; its runtime description (model/trial.py
    `runtime_of`, plus "rows_from" and "seconds"), or InvalidRequest with the model's message."""
    started = time.monotonic()
    key = _signature(source, sample)
    if key in _passed:
        return dict(_passed[key])
    with tempfile.TemporaryDirectory(prefix="beyond-trial-") as work:
        request = {"directory": os.fspath(source), "rows_csv": None, "memory_mb": settings.model_trial_memory_mb,
                   "work": work}
        rows = _rows_csv(source, sample, Path(work))
        request["rows_csv"] = os.fspath(rows) if rows else None
        request["rows_from"] = "sample" if sample is not None else "template"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        try:
            done = subprocess.run([sys.executable, "-m", "app.core.registry.trial"], input=json.dumps(request),
                                  capture_output=True, text=True, timeout=settings.model_trial_seconds, env=env,
                                  cwd=ROOT)
        except subprocess.TimeoutExpired:
            raise InvalidRequest(f"{shown} was refused: loading the model and predicting {TRIAL_ROWS} rows took "
                                 f"more than {settings.model_trial_seconds:,} seconds (MODEL_TRIAL_SECONDS).") from None
    try:
        answer = json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        last = shorten(without_paths(lines[-1]), 200) if lines else "no message"
        memory = (f" more than the memory of {settings.model_trial_memory_mb:,} MB (MODEL_TRIAL_MEMORY_MB), or"
                  if settings.model_trial_memory_mb else "")
        raise InvalidRequest(f"{shown} was refused: trying the model stopped the process that loaded it ({how}: "
                             f"{last}); it needed{memory} crashed the interpreter.")
    if not answer["ok"]:
        if not answer["loaded"]:
            raise InvalidRequest(f"{shown} is not a usable model: {answer['message']}")
        raise InvalidRequest(f"{shown} was refused: {answer['message']}")
    runtime: dict[str, Any] = answer["runtime"]
    runtime["rows_from"] = answer["rows_from"]
    runtime["seconds"] = round(time.monotonic() - started, 2)
    _passed[key] = dict(runtime)
    return runtime


def main() -> None:
    request = json.loads(sys.stdin.read())
    if request["memory_mb"]:
        limit = request["memory_mb"] * 1024**2
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    directory = Path(request["directory"])
    rows = Path(request["rows_csv"]) if request["rows_csv"] else None
    try:
        model = load_model(directory)
    except Exception as exc:  # a corrupt joblib raises anything (EOFError, UnpicklingError...)
        sys.stdout.write(json.dumps({"ok": False, "loaded": False, "message": model_error_text(exc, MESSAGE_CHARS)}))
        return
    try:
        answer = try_model(model, rows, Path(request["work"]), schema_rows, request["rows_from"])
        answer.update(ok=True, text=runtime_text(answer["runtime"]))
    except Exception as exc:  # the model's failure, whatever it raises, is the answer
        answer = {"ok": False, "loaded": True, "message": model_error_text(exc, MESSAGE_CHARS)}
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
