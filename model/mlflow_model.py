"""MLflow model directories (an ``MLmodel`` file with a signature) as Beyond models.

MODEL_PATH may point at what ``mlflow.sklearn.save_model(pipeline, path,
signature=infer_signature(X, y))`` writes.  Only the local directory is read: no tracking
server, no registry, and MLflow's usage telemetry is switched off (`import_mlflow`).

The schema comes from the signature's input columns (a signature is required: MLflow keeps
no training data, so nothing else says what the columns are):

- double, float -> number; long, integer -> integer; boolean -> boolean.
- string -> category, with the categories the model learned when the sklearn flavour shows
  them: those of the fitted encoder (anything with ``categories_``: OneHotEncoder,
  OrdinalEncoder...) that takes the column by name, through Pipelines and
  ColumnTransformers.  A string column that a text vectorizer (TfidfVectorizer...) takes is
  text.  Otherwise category with no categories: the upload check accepts any text, as it does
  for every category, and the report's count of unseen values then counts every value.
  (An input example is too small a sample to tell category from text.)
- datetime -> datetime (in the unit pd.read_csv parses to), with cells in ISO format: the
  format of the input example's values when the model was saved with one
  (``input_example=X[:5]``): "%Y-%m-%d" for dates, "%Y-%m-%d %H:%M:%S", or with ".%f";
  without an example "%Y-%m-%d %H:%M:%S.%f" (whole seconds accepted too, dates alone not).
- binary, arrays, objects, maps: refused (a CSV cell holds none of them).
- ``required: false`` -> an optional feature.

The version is the MLmodel's ``metadata: {version: ...}`` when there is one
(``save_model(..., metadata={"version": "churn-3"})``), else ``mlflow-<model_uuid>``; it must
pass `check_version` either way.

Prediction.  With the sklearn flavour (`mlflow.sklearn.load_model`) the estimator itself
predicts, like one of our own directories: ``predict_proba`` and ``classes_`` give the
label and its probability.  The pyfunc wrapper of such a model would call the same
``predict`` after MLflow's schema enforcement, which refuses an integer column with a
missing cell (pandas makes it float64) although the upload check accepts it and
``pd.read_csv`` gives the pipeline exactly that; a job would fail after validation.
Without the sklearn flavour the pyfunc flavour (`mlflow.pyfunc.load_model`) predicts, with
no probability.

Safety.  A sklearn flavour serialized with skops is checked by `skops_trusted_types` (only
scikit-learn, NumPy, SciPy and builtins classes) before MLflow loads it: MLflow would trust
whatever ``skops_trusted_types`` the MLmodel file lists.  Pickle and cloudpickle flavours
and pyfunc python models run code when loaded, like model.joblib: deploy only models you
trust.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from model.artifact import Model, skops_trusted_types
from model.native import as_estimator, native_categories, require
from model.schema import (
    BOOLEAN,
    CATEGORY,
    DATETIME,
    FRACTION_FORMAT,
    INTEGER,
    MLMODEL_FILE,
    NUMBER,
    SCHEMA_FORMAT,
    TEXT,
    FeatureSpec,
    ModelError,
    check_version,
    datetime_format,
)

# MLflow column type -> (feature type, training dtype). Datetimes: the unit pandas parses them
# to (read_csv's, so the model gets what pd.read_csv would give it: datetime64[us] in pandas 3).
COLUMN_TYPES = {
    "double": (NUMBER, "float64"),
    "float": (NUMBER, "float32"),
    "long": (INTEGER, "int64"),
    "integer": (INTEGER, "int32"),
    "boolean": (BOOLEAN, "bool"),
    "string": (CATEGORY, "object"),
    "datetime": (DATETIME, str(pd.Series(pd.to_datetime(["2024-01-05 10:30:00"])).dtype)),
}
# MLflow flavours predicted with the library's own model (its predict_proba): flavour -> package
NATIVE_FLAVORS = {"lightgbm": "lightgbm", "xgboost": "xgboost-cpu", "catboost": "catboost"}
NO_SIGNATURE = "MLflow model without a signature: save it with signature=infer_signature(X, y)"


def import_mlflow() -> ModuleType:
    """mlflow, with mlflow.models, mlflow.pyfunc and mlflow.sklearn imported.

    Its usage telemetry (a background thread posting to MLflow's servers) is off unless
    MLFLOW_DISABLE_TELEMETRY is set otherwise; and one warning MLflow gives about its own
    type hints at import (and means to hide, but cannot when warnings are errors) is dropped."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*type hint is inferred as AnyType", category=UserWarning)
        import mlflow
        import mlflow.models
        import mlflow.pyfunc
        import mlflow.sklearn
    return mlflow


class PyfuncPredictor:
    """A pyfunc model as an estimator: predict(X) -> one value per row; no predict_proba,
    unless its signature's output is one number column per class (a custom PythonModel
    returning a DataFrame of probabilities): then predict_proba is that DataFrame, classes_
    its column names and the label the column of highest probability.

    MLflow's schema enforcement refuses a float64 column where the signature says float (or
    int64 for integer), so such columns are cast first; it also refuses missing values in an
    integer column, which are refused here with a message naming the column.  An optional
    column the file lacked (all missing) is left out, as MLflow allows."""

    def __init__(self, pyfunc_model: Any, features: Sequence[FeatureSpec], classes: list[str] | None = None) -> None:
        self.pyfunc_model = pyfunc_model
        self.features = list(features)
        self._last: tuple[pd.DataFrame, np.ndarray] | None = None  # predict then predict_proba: one call
        if classes:
            self.classes_ = np.asarray(classes)
            self.predict_proba = self._predict_proba

    def _call(self, X: pd.DataFrame) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.pyfunc_model.predict(self._as_signature(X))
        except MlflowException as exc:  # its schema enforcement: a message about the input
            raise ValueError(f"The MLflow model refused its input: {exc.message}") from exc

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self._last is not None and self._last[0] is X:
            proba = self._last[1]
        else:
            proba = self._probabilities(self._call(X), len(X))
        self._last = None
        return proba

    def _probabilities(self, out: Any, rows: int) -> np.ndarray:
        if isinstance(out, pd.DataFrame) and [str(c) for c in out.columns] == self.classes_.tolist():
            proba = out.to_numpy(dtype=float)
        else:
            proba = np.asarray(out, dtype=float)
        if proba.shape != (rows, len(self.classes_)):
            raise ValueError(f"The MLflow model returned an array of shape {proba.shape} for {rows} rows; its "
                             f"signature promises one probability per class ({', '.join(self.classes_)}).")
        return proba

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        out = self._call(X)
        if hasattr(self, "classes_"):
            proba = self._probabilities(out, len(X))
            self._last = (X, proba)
            return self.classes_[proba.argmax(axis=1)]
        if isinstance(out, pd.DataFrame):
            if out.shape[1] != 1:
                raise ValueError(f"The MLflow model predicts {out.shape[1]} columns per row; Beyond shows one.")
            out = out.iloc[:, 0]
        values = np.asarray(out)
        if values.ndim != 1 or len(values) != len(X):
            raise ValueError(f"The MLflow model returned an array of shape {values.shape} for {len(X)} rows; "
                             "Beyond needs one prediction per row.")
        return values

    def _as_signature(self, X: pd.DataFrame) -> pd.DataFrame:
        columns = {}
        for spec in self.features:
            column = X[spec.name]
            if not spec.required and column.isna().all():
                continue
            if spec.dtype == "float32":
                column = column.astype(np.float32)
            elif spec.type == INTEGER and column.dtype != spec.dtype:
                if column.isna().any():
                    raise ValueError(f"Column {spec.name!r} has missing cells; this MLflow model takes whole numbers "
                                     "only there (MLflow refuses missing values in integer columns).")
                info = np.iinfo(np.dtype(str(spec.dtype)))
                if ((column < info.min) | (column > info.max)).any():
                    raise ValueError(f"Column {spec.name!r} holds numbers outside {info.min:,} to {info.max:,}, "
                                     f"the range of this MLflow model's {spec.dtype} column.")
                column = column.astype(str(spec.dtype))
            columns[spec.name] = column
        return pd.DataFrame(columns, index=X.index)


def load_mlflow_model(directory: Path) -> Model:
    """The MLflow model in `directory` (which holds an MLmodel file); ModelError naming what
    is wrong with it."""
    mlflow = import_mlflow()
    from mlflow.exceptions import MlflowException
    from mlflow.types.schema import ColSpec, DataType

    where = directory / MLMODEL_FILE
    try:
        info = mlflow.models.Model.load(str(directory))
    except Exception as exc:  # a malformed file: MLflow raises YAML, Key, Type errors as they come
        raise ModelError(f"{where} cannot be read: {exc}") from exc
    inputs = info.signature.inputs if info.signature is not None else None
    if inputs is None:
        raise ModelError(f"{where}: {NO_SIGNATURE}.")
    if inputs.is_tensor_spec() or not inputs.has_input_names():
        raise ModelError(f"{where}: the signature describes {'tensors' if inputs.is_tensor_spec() else 'unnamed columns'}, "
                         "not named columns; save the model with signature=infer_signature(X, y) where X is the "
                         "training DataFrame.")
    version = _version(info, where)

    flavors = info.flavors or {}
    add_code_paths(info, directory)
    check_requirements(directory)
    native = next((f for f in NATIVE_FLAVORS if f in flavors), None)
    try:
        if "sklearn" in flavors:
            sklearn_conf = flavors["sklearn"]
            if sklearn_conf.get("serialization_format") == "skops":
                skops_trusted_types(directory / sklearn_conf["pickled_model"])
            estimator = mlflow.sklearn.load_model(str(directory))
        elif native is not None:  # the library's own model, with its predict_proba
            require(native, NATIVE_FLAVORS[native], f"The MLflow {native} flavour")
            flavour = importlib.import_module(f"mlflow.{native}")
            estimator = as_estimator(flavour.load_model(str(directory)))
            if native == "xgboost" and hasattr(estimator, "set_params"):
                estimator.set_params(enable_categorical=True)  # category features reach it as pd.Categorical
        elif "python_function" in flavors:
            estimator = mlflow.pyfunc.load_model(str(directory))
        else:
            raise ModelError(f"{where} has the flavours {', '.join(flavors) or 'none'}; Beyond predicts with "
                             "the python_function flavour or a library's own (sklearn, lightgbm, xgboost, catboost).")
    except (MlflowException, TypeError) as exc:  # skops' UntrustedTypesFoundException is a TypeError
        raise ModelError(f"MLflow cannot load the model in {directory}: {exc}") from exc
    except ImportError as exc:  # a flavour's library, or a module of the model's own code
        raise ModelError(f"MLflow cannot load the model in {directory}: {exc}. Install the package on the service "
                         "and every worker host (README \"Model libraries\"), or ship your own modules with "
                         "save_model(..., code_paths=[...]).") from exc
    if not hasattr(estimator, "predict"):
        raise ModelError(f"The MLflow model in {directory} is a {type(estimator).__name__}, which has no predict()")

    names = [str(spec.name) for spec in inputs.inputs]
    learned = learned_string_columns(estimator, names) if "sklearn" in flavors else {}
    categorical = native_categories(estimator, names) if native is not None and "sklearn" not in flavors else {}
    example: pd.DataFrame | None = None
    features: list[FeatureSpec] = []
    for name, spec in zip(names, inputs.inputs):
        assert isinstance(spec, ColSpec)  # not a tensor spec, checked above
        column_type = spec.type.name if isinstance(spec.type, DataType) else None
        if column_type not in COLUMN_TYPES:
            raise ModelError(f"{where}: column {name!r} has the type {spec.type!r}, which a CSV cell cannot "
                             f"hold; Beyond reads the types {', '.join(COLUMN_TYPES)}.")
        kind, dtype = COLUMN_TYPES[column_type]
        categories: tuple[str, ...] = ()
        fmt = None
        if kind == CATEGORY and name in categorical:  # a pandas category at training: given as one
            categories, dtype = categorical[name], "category"
        elif kind == CATEGORY and name in learned:
            kind, categories = learned[name]
        elif kind == DATETIME:
            if example is None:
                example = _input_example(info, directory)
            fmt = FRACTION_FORMAT
            if name in example.columns:
                values = pd.to_datetime(example[name], errors="coerce").dropna()
                if len(values):
                    fmt = datetime_format(values)
        features.append(FeatureSpec(name, kind, bool(spec.required), categories, fmt, dtype))
    if "sklearn" not in flavors and native is None:
        estimator = PyfuncPredictor(estimator, features, _probability_columns(info))
    classes = [str(c) for c in getattr(estimator, "classes_", [])]
    return Model(estimator, {
        "format": SCHEMA_FORMAT,
        "version": version,
        "created_at": info.utc_time_created,
        "features": [f.as_schema() for f in features],
        "classes": classes,
        "source": "mlflow",
        "mlflow": {"model_uuid": info.model_uuid, "run_id": info.run_id, "flavors": sorted(flavors),
                   "mlflow_version": info.mlflow_version, "runs_with": native or ("sklearn" if "sklearn" in flavors
                                                                                   else "python_function"),
                   "requirement_warnings": requirement_warnings(directory)},
    }, directory)


def _probability_columns(info: Any) -> list[str]:
    """The classes, when the signature's output is one number column per class (named)."""
    outputs = info.signature.outputs if info.signature is not None else None
    if outputs is None or outputs.is_tensor_spec() or not outputs.has_input_names() or len(outputs.inputs) < 2:
        return []
    kinds = {getattr(spec.type, "name", None) for spec in outputs.inputs}
    return [str(spec.name) for spec in outputs.inputs] if kinds <= {"double", "float"} else []


def add_code_paths(info: Any, directory: Path) -> None:
    """Put the model's own modules (``save_model(..., code_paths=[...])``, saved under
    ``code/``) on sys.path before it loads, as MLflow's loaders do for pyfunc models; the
    sklearn and native flavours need it for a FunctionTransformer's functions too."""
    for conf in (info.flavors or {}).values():
        code = conf.get("code") if isinstance(conf, dict) else None
        if isinstance(code, str) and (directory / code).is_dir() and str(directory / code) not in sys.path:
            sys.path.insert(0, str(directory / code))


def _requirements(directory: Path) -> list[tuple[str, str | None]]:
    """(package, pinned version or None) per line of the model's requirements.txt."""
    path = directory / "requirements.txt"
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("#")[0].strip()
        match = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(?:==\s*([0-9][^,;\s]*))?", line)
        if match and not line.startswith("-"):
            found.append((match.group(1), match.group(2)))
    return found


def _installed(package: str) -> str | None:
    from importlib import metadata

    for name in (package, package.replace("-", "_"), f"{package}-cpu", package.replace("-skinny", "")):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if package == "mlflow":  # mlflow-skinny serves the same imports
        return _installed("mlflow-skinny")
    return None


def check_requirements(directory: Path) -> None:
    """ModelError naming each package of the model's requirements.txt that this service lacks,
    with the command that installs it."""
    missing = [name for name, _ in _requirements(directory) if _installed(name) is None]
    if missing:
        raise ModelError(
            f"The MLflow model in {directory} needs {', '.join(missing)}, which this service does not have. "
            f"Install on the service and every worker host: `.venv/bin/pip install {' '.join(missing)}` "
            "(README \"Model libraries\")."
        )


def requirement_warnings(directory: Path) -> list[str]:
    """A warning per package of requirements.txt whose installed major version differs from the
    model's: it may load and predict otherwise than where it was trained."""
    warnings_found = []
    for name, pinned in _requirements(directory):
        have = _installed(name)
        if pinned and have and pinned.split(".")[0] != have.split(".")[0]:
            warnings_found.append(f"{name} {pinned} trained the model; this service has {name} {have}")
    return warnings_found


def _version(info: Any, where: Path) -> str:
    metadata = info.metadata if isinstance(info.metadata, dict) else {}
    version = metadata.get("version")
    if version is None:
        if not info.model_uuid:
            raise ModelError(f"{where} has neither a model_uuid nor a metadata version; save the model with "
                             "metadata={'version': '...'}.")
        version = f"mlflow-{info.model_uuid}"
    elif isinstance(version, int) and not isinstance(version, bool):
        version = str(version)  # metadata={"version": 3}
    try:
        return check_version(version)
    except ModelError as exc:
        raise ModelError(f"{where}: metadata version: {exc}") from None


def _input_example(info: Any, directory: Path) -> pd.DataFrame:
    """The saved input example as a DataFrame, or an empty one."""
    try:
        example = info.load_input_example(str(directory))
    except (OSError, ValueError):
        example = None
    return example if isinstance(example, pd.DataFrame) else pd.DataFrame()


def learned_string_columns(estimator: Any, names: list[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """{column: (CATEGORY, its categories) or (TEXT, ())} for the columns a fitted
    scikit-learn estimator, given the columns `names`, shows it took as categories (an
    encoder with ``categories_``) or as text (a vectorizer with ``build_analyzer``), found by
    column name through Pipelines and ColumnTransformers.  Columns it does not show are left
    out."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for est, columns in _parts(estimator, names):
        if hasattr(est, "categories_"):
            given = getattr(est, "feature_names_in_", None)
            inputs = [str(n) for n in given] if given is not None else columns if isinstance(columns, list) else None
            if inputs is not None and len(inputs) == len(est.categories_):
                for name, values in zip(inputs, est.categories_):
                    found[name] = (CATEGORY, tuple(sorted({str(v) for v in values if not pd.isna(v)})))
        elif hasattr(est, "build_analyzer") and isinstance(columns, str):
            found[columns] = (TEXT, ())
    return found


def _parts(est: Any, columns: list[str] | str | None) -> Iterator[tuple[Any, list[str] | str | None]]:
    """(estimator, the input columns it was given when known) for `est` and what it holds.
    A list of names: a 2-D selection; one name (str): a 1-D column, as text vectorizers take."""
    if hasattr(est, "steps"):  # Pipeline: step k gets what steps 0..k-1 put out
        for k, (_, step) in enumerate(est.steps):
            if step is None or isinstance(step, str):
                continue
            # one column (1-D) stays that column until a vectorizer takes it
            given = columns if k == 0 or isinstance(columns, str) else _names_out(est[:k], columns)
            yield from _parts(step, given)
    elif hasattr(est, "transformers_"):  # ColumnTransformer
        given = getattr(est, "feature_names_in_", None)
        names = [str(n) for n in given] if given is not None else columns if isinstance(columns, list) else []
        for _, transformer, selection in est.transformers_:
            if not isinstance(transformer, str):  # "drop", "passthrough"
                yield from _parts(transformer, _selected(selection, names))
    else:
        yield est, columns


def _names_out(head: Any, columns: list[str] | str | None) -> list[str] | None:
    if not isinstance(columns, list):
        return None
    try:
        return [str(n) for n in head.get_feature_names_out(columns)]
    except Exception:  # a step without get_feature_names_out, or one that refuses the names
        return None


def _selected(selection: Any, names: list[str]) -> list[str] | str | None:
    """The column names a ColumnTransformer entry selects (names, positions, a mask, a slice)."""
    if isinstance(selection, str):
        return selection
    if isinstance(selection, slice):
        return names[selection]
    values = list(selection) if isinstance(selection, (list, tuple, np.ndarray, pd.Index)) else None
    if values is None:
        return None
    if all(isinstance(v, str) for v in values):
        return values
    if names and all(isinstance(v, (bool, np.bool_)) for v in values) and len(values) == len(names):
        return [n for n, keep in zip(names, values) if keep]
    if names and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return [names[int(v)] for v in values if -len(names) <= int(v) < len(names)]
    return None
