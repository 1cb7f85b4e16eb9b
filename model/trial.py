"""Trying a model on a few rows before it is deployed: what a worker would do with it, once,
so a model that cannot score is refused at deploy with its own message instead of failing
on every row of every upload.

`try_model` loads the model directory with `load_model` (whatever format it is), checks that
its schema fits the estimator (`schema_misfit`), reads the example rows (a CSV) through the
job's own path (the upload check, `read_chunks`, `model_frame`: the model gets the dtypes a
job gives it), predicts them and checks the answer (`check_answer`): one prediction per row,
a classifier's probabilities one column per class, its labels among its classes.  It also
says what will run the model (`runtime_of`: the library and its version, the format or
MLflow flavour).  Every problem is a `TrialFailed` whose message is the model's own (first
line, shortened, without paths: model/messages.py).

The registry runs it in a child process (app/core/registry/trial.py), as model/inputs/isolated.py
does for conversions: a model that crashes the interpreter or hangs takes only that child.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.artifact import Model
from model.inputs.reader import model_frame, read_chunks
from model.inputs.scan import inspect_csv
from model.loading import model_file_of
from model.messages import error_text, shorten
from model.schema import MLMODEL_FILE, NUMERIC_TYPES, ModelError

TRIAL_ROWS = 5  # rows of an input example or a sample that are tried
SHOWN_COLUMNS = 10  # columns named in a misfit message; the rest are counted


class TrialFailed(Exception):
    """The model cannot be deployed; the message says why, in the model's own words."""


def _distribution(module: str) -> tuple[str, str | None]:
    """(distribution name, version) of the installed package that provides `module`'s top
    package ("sklearn" -> ("scikit-learn", "1.9.1")); the module's name and None if none does."""
    top = module.split(".")[0]
    names = importlib.metadata.packages_distributions().get(top) or []
    for name in names:
        try:
            return name, importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return top, None


def _predictor(estimator: Any) -> Any:
    """The object that does the predicting: a Pipeline's last step (its library is what
    matters: a LightGBM model behind scikit-learn's preprocessing), the estimator itself
    otherwise."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps and not isinstance(steps[-1][1], str | type(None)):
        return _predictor(steps[-1][1])
    return estimator


def runtime_of(model: Model) -> dict[str, Any]:
    """What runs the model: {"library", "library_version", "estimator", "format", "flavor"
    (MLflow models), "mlflow_version" (MLflow models), "python"}."""
    inner = _predictor(model.estimator)
    mlflow = model.schema.get("mlflow") if model.schema.get("source") == "mlflow" else None
    flavor = None
    if isinstance(mlflow, dict):
        # The flavour load_mlflow_model chose (it records it as runs_with), else the one it prefers.
        flavors = mlflow.get("flavors") or []
        flavor = mlflow.get("runs_with") or ("sklearn" if "sklearn" in flavors and hasattr(model.estimator, "get_params")
                                             else "python_function")
        pyfunc = getattr(model.estimator, "pyfunc_model", None)  # model/mlflow_model.py PyfuncPredictor
        if pyfunc is not None:
            unwrapped = getattr(pyfunc, "unwrap_python_model", None)
            try:
                inner = _predictor(unwrapped() if unwrapped else pyfunc)
            except Exception:  # not a PythonModel: a flavour's own pyfunc wrapper
                inner = pyfunc
    # model/native.py's wrappers name the library that runs them (lightgbm, onnxruntime).
    library, version = _distribution(getattr(inner, "runtime_module", type(inner).__module__))
    model_file = model_file_of(model.path)
    runtime: dict[str, Any] = {
        "library": library,
        "library_version": version,
        "estimator": type(inner).__name__,
        "format": f"MLflow {flavor} flavour" if flavor else (model_file.name if model_file else None),
        "python": ".".join(map(str, sys.version_info[:3])),
    }
    if isinstance(mlflow, dict):
        runtime["flavor"] = flavor
        runtime["mlflow_version"] = _distribution("mlflow")[1]
    return runtime


def runtime_text(runtime: dict[str, Any]) -> str:
    """"scikit-learn 1.9.1 (Pipeline, model.joblib)" for messages."""
    library = runtime.get("library") or "?"
    version = runtime.get("library_version")
    what = ", ".join(str(v) for v in (runtime.get("estimator"), runtime.get("format")) if v)
    return f"{library}{' ' + version if version else ''}" + (f" ({what})" if what else "")


def _names(columns: list[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:SHOWN_COLUMNS])
    return shown + (f" and {len(columns) - SHOWN_COLUMNS:,} more" if len(columns) > SHOWN_COLUMNS else "")


def schema_misfit(model: Model) -> str | None:
    """What is wrong between the schema's features and the columns the estimator was fitted
    on (``feature_names_in_``, or their number ``n_features_in_``), or None."""
    features = model.features
    given = getattr(model.estimator, "feature_names_in_", None)
    if given is not None:
        taken = [str(n) for n in given]
        if type(model.estimator).__module__.split(".")[0] == "lightgbm":
            # LightGBM keeps a feature's name with its whitespace made "_" ("hue band" fitted as
            # "hue_band") and matches a frame's columns by position: compare as it stores them.
            stored = {re.sub(r"\s", "_", n): n for n in features}
            taken = [stored.get(n, n) for n in taken]
        lacking = [n for n in taken if n not in set(features)]
        unknown = [n for n in features if n not in set(taken)]
        problems = []
        if lacking:
            problems.append(f"the model needs {_names(lacking)}, which the schema lacks")
        if unknown:
            problems.append(f"the schema names {_names(unknown)}, which the model does not take")
        return "; ".join(problems) or None
    count = getattr(model.estimator, "n_features_in_", None)
    # 0: a library that does not say (a loaded CatBoost model)
    if isinstance(count, int | np.integer) and int(count) > 0 and int(count) != len(features):
        return f"the schema lists {len(features):,} features; the model was fitted on {int(count):,}"
    return None


def example_frame(model: Model, rows_csv: Path) -> pd.DataFrame:
    """The rows of `rows_csv` as the model gets them in a job: checked like an upload, read
    by the job's reader.  TrialFailed if the upload check refuses them."""
    specs = model.feature_specs
    report = inspect_csv(rows_csv, specs)
    if not report.acceptable(0.0) or not report.rows:
        shown = "; ".join(p.message for p in report.problems[:3]) or "no data rows"
        raise TrialFailed(f"the example rows do not pass the upload check: {shown}")
    present = [s for s in specs if s.name in report.feature_columns]
    features = [s.name for s in present if s.type in NUMERIC_TYPES]
    frames = [model_frame(specs, report, X, features, texts)
              for X, texts, _ in read_chunks(rows_csv, report, features, report.rows, specs)]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def check_answer(model: Model, frame: pd.DataFrame) -> None:
    """Predict `frame` as a job does and check the answer; TrialFailed saying what is wrong."""
    n = len(frame)
    try:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
            labels, _, per_class = model.predict_classes(frame)
    except Exception as exc:  # the model's own failure: its message is the answer
        raise TrialFailed(f"it cannot predict {n} example rows: {error_text(exc)}") from exc
    shape = np.shape(labels)
    if shape != (n,):
        raise TrialFailed(f"it returns predictions of shape {shape} for {n} rows; Beyond needs one prediction per row")
    if not model.is_classifier:
        return
    classes = model.classes
    if per_class is not None and np.shape(per_class) != (n, len(classes)):
        raise TrialFailed(f"predict_proba returns an array of shape {np.shape(per_class)} for {n} rows and "
                          f"{len(classes)} classes; Beyond needs one row per row and one column per class")
    try:  # the model's own labels too: Beyond's rest on the classes, a model may answer others
        own = np.asarray(model.estimator.predict(model.in_training_dtypes(frame)))
    except Exception as exc:
        raise TrialFailed(f"it cannot predict {n} example rows: {error_text(exc)}") from exc
    if own.ndim == 2 and own.shape[1] == 1:  # (n, 1): one label per row all the same
        own = own[:, 0]
    if own.shape != (n,):
        raise TrialFailed(f"predict returns labels of shape {own.shape} for {n} rows; Beyond needs one per row")
    names = model.label_map  # encoded classes (XGBoost's 0/1/2) by the names the schema gives them
    strangers = sorted({names.get(str(v), str(v)) for v in own.tolist()} - set(classes))
    if strangers:
        raise TrialFailed(shorten(f"it predicts labels that are not among its classes ({', '.join(classes)}): "
                                  f"{', '.join(strangers)}", 300))


def try_model(model: Model, rows_csv: Path | None, work: Path,
              template: Callable[[dict[str, Any]], list[list[str]]], rows_from: str = "sample") -> dict[str, Any]:
    """Try a loaded model (`load_model`) on rows and describe what runs it: {"runtime",
    "rows_from"}.  The rows: its MLflow input example when it has one, else `rows_csv` (a
    sample, or our schema's template rows: `rows_from` says which), else ``template(model.schema)`` (header and rows
    of text cells), written as CSVs in `work`.  TrialFailed if the model fails."""
    directory = model.path
    misfit = schema_misfit(model)
    if misfit:
        raise TrialFailed(f"schema.json does not fit the model: {misfit}")
    runtime = runtime_of(model)
    source, csv = rows_from, rows_csv
    example = _mlflow_example(directory) if (directory / MLMODEL_FILE).is_file() else None
    if example is not None and len(example):
        source, csv = "input example", work / "example.csv"
        example.head(TRIAL_ROWS).to_csv(csv, index=False)
    elif csv is None:
        source, csv = "template", work / "template.csv"
        _write_template(template(model.schema), csv)
    try:
        frame = example_frame(model, csv)
    except TrialFailed:
        if source == "template":
            raise
        # A sample or example that does not fit the columns is not the model's failure (the
        # deploy says what is wrong with a sample): the template rows are tried instead.
        source, csv = "template", work / "template.csv"
        _write_template(template(model.schema), csv)
        frame = example_frame(model, csv)
    check_answer(model, frame)
    return {"runtime": runtime, "rows_from": source}


def _write_template(rows: list[list[str]], path: Path) -> None:
    pd.DataFrame(rows[1:], columns=rows[0]).to_csv(path, index=False)


def _mlflow_example(directory: Path) -> pd.DataFrame | None:
    from model.mlflow_model import import_mlflow

    mlflow = import_mlflow()
    try:
        example = mlflow.models.Model.load(str(directory)).load_input_example(str(directory))
    except Exception:  # no example, or one MLflow cannot read: the other rows are tried
        return None
    return example if isinstance(example, pd.DataFrame) else None


def model_error_text(exc: BaseException, limit: int) -> str:
    """A failure as the deploy answer shows it: ours (ModelError, TrialFailed) without their
    class name, the model's own with it ("ValueError: ...")."""
    if isinstance(exc, ModelError | TrialFailed):
        return error_text(exc, limit + 40).split(": ", 1)[-1][:limit]
    return error_text(exc, limit)
