"""A deployed model (`Model`: the fitted estimator plus a description of its input), and our
own model directories: building their schema, saving and loading them.

A model directory is one of (model/loading.py tells which and loads it):

- Ours: the estimator, as ``model.joblib`` (joblib, the default) or ``model.skops`` (skops,
  ``save_model(..., format="skops")``; loaded only if it holds nothing but classes from
  scikit-learn, NumPy, SciPy and Python's builtins, see `skops_trusted_types`), plus
  ``schema.json``: the feature columns the CSV must carry, each with its type (see
  `FeatureSpec`) and training statistics, the class labels and a version string (at most
  `MAX_VERSION_CHARS` characters: every result records it in the jobs table).  The estimator
  is any fitted scikit-learn estimator or Pipeline with ``predict`` (and, for classifiers,
  ``predict_proba`` and ``classes_``).  When both files are there, ``model.skops`` is loaded.
- An MLflow model: a directory with an ``MLmodel`` file whose signature describes the
  columns (``mlflow.sklearn.save_model(pipeline, path, signature=infer_signature(X, y))``);
  see model/mlflow_model.py for how its signature becomes the schema.

Schema format 2 (written by `build_schema`) gives each feature ``{"name", "type",
"required", "dtype"}`` plus ``categories`` (category), ``format`` (datetime) and ``min``,
``max``, ``mean`` (number, integer); an optional ``"id_column"`` names the column that
identifies a row (not a feature unless also listed as one).  Format 1 schemas (``"dtype": "float64"`` for every
feature, no type) still load: all their features are required numbers.  The vocabulary
(feature types, `FeatureSpec`, the files' names) is model/schema.py.
"""

from __future__ import annotations

import importlib
import json
import zipfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from model.native import NATIVE_FILES, as_estimator, load_native
from model.profile import build_profile, check_profile, read_profile_file
from model.schema import (
    BOOLEAN,
    CATEGORY,
    DATETIME,
    FEATURE_TYPES,
    INTEGER,
    MLMODEL_FILE,
    MODEL_FILE,
    NUMBER,
    NUMERIC_TYPES,
    SCHEMA_FILE,
    SCHEMA_FORMAT,
    SKOPS_FILE,
    TEXT,
    FeatureSpec,
    ModelError,
    check_id_column,
    check_version,
    datetime_format,
    one_per_row,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = ROOT / "model" / "artifacts" / "breast_cancer"
MODEL_FORMATS = {"joblib": MODEL_FILE, "skops": SKOPS_FILE}  # save_model(format=) -> the file it writes
# A skops file may hold classes from these packages only (besides what skops itself trusts).
SKOPS_TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy", "builtins")

# A text column of the training data is a category when it has at most CATEGORY_MAX_VALUES
# distinct values and at most CATEGORY_MAX_SHARE of its non-missing cells are distinct (each
# value appears twice on average); otherwise it is free text.  `types=` overrides this.
CATEGORY_MAX_VALUES = 1_000
CATEGORY_MAX_SHARE = 0.5
# Classifiers whose predict is, by scikit-learn's source, the argmax of predict_proba or of the
# scores predict_proba is a monotone function of (the exact class: a subclass may override
# predict; a FixedThresholdClassifier around one is another class, with its own predict).  `Model`
# takes their label from predict_proba, calling predict only for rows whose two most probable
# classes are within TIE of each other.
ARGMAX_PREDICT = frozenset({
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.ExtraTreeClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
})
TIE = 1e-9


@dataclass(frozen=True)
class Model:
    estimator: Any
    schema: dict[str, Any]
    path: Path

    @property
    def features(self) -> list[str]:
        return [f["name"] for f in self.schema["features"]]

    @cached_property
    def feature_specs(self) -> list[FeatureSpec]:
        """The features with their types, in training order (ModelError if one is unfit)."""
        return [FeatureSpec.from_schema(f) for f in self.schema["features"]]

    @property
    def version(self) -> str:
        return str(self.schema["version"])

    @property
    def id_column(self) -> str | None:
        """The column that identifies a row of an upload (schema.json "id_column"), or None."""
        return check_id_column(self.schema.get("id_column"))

    @cached_property
    def profile(self) -> dict[str, Any] | None:
        """The training profile (model/profile.py), or None: a model without one still
        works, its quality report says "no training profile"."""
        return check_profile(self.schema.get("profile"), str(self.path)) or read_profile_file(self.path)

    @property
    def is_classifier(self) -> bool:
        return hasattr(self.estimator, "predict_proba")

    @cached_property
    def label_map(self) -> dict[str, str]:
        """The schema's ``labels``: {encoded class as text: its name}, e.g. {"0": "Adelie"} for a
        model trained on encoded labels (XGBoost's 0/1/2); empty when absent."""
        labels = self.schema.get("labels")
        if labels is None:
            return {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise ModelError("schema.json 'labels' must map each class to its name, e.g. {\"0\": \"Adelie\"}")
        return {str(k): v for k, v in labels.items()}

    @property
    def classes(self) -> list[str]:
        """A classifier's class labels as text (named by the label map), in the order of
        predict_proba's columns."""
        if not self.is_classifier:
            return []
        return [self.label_map.get(str(c), str(c)) for c in getattr(self.estimator, "classes_", [])]

    @cached_property
    def predicts_argmax(self) -> bool:
        """Whether the estimator (or a plain Pipeline's last step) is one of `ARGMAX_PREDICT`."""
        estimator = self.estimator
        if f"{type(estimator).__module__}.{type(estimator).__qualname__}" == "sklearn.pipeline.Pipeline":
            estimator = estimator.steps[-1][1]
        return f"{type(estimator).__module__}.{type(estimator).__qualname__}" in ARGMAX_PREDICT

    @cached_property
    def categorical(self) -> dict[str, pd.CategoricalDtype]:
        """{feature: its training dtype} for the category features trained as a pandas
        ``category`` column (schema dtype "category")."""
        return {s.name: pd.CategoricalDtype(list(s.categories)) for s in self.feature_specs
                if s.type == CATEGORY and s.dtype == "category"}

    def in_training_dtypes(self, X: pd.DataFrame) -> pd.DataFrame:
        """X with each category feature trained as a pandas ``category`` made a
        ``pd.Categorical`` of exactly the training categories, as ``astype(training dtypes)``
        makes it: LightGBM and XGBoost refuse text there, and map categories by their codes.
        A value unseen in training becomes missing (the quality check has counted it as
        unseen already, from the text)."""
        convert = [name for name in self.categorical if name in X.columns and X[name].dtype != self.categorical[name]]
        if not convert:
            return X
        X = X.copy(deep=False)
        for name in convert:
            dtype = self.categorical[name]
            # by codes: astype() of a value outside the categories is deprecated (pandas 4 refuses it)
            codes = dtype.categories.get_indexer(pd.Index(X[name].astype(object)))
            X[name] = pd.Categorical.from_codes(codes, dtype=dtype)
        return X

    def predict(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """(labels, probability of the predicted label or None for regressors)."""
        labels, best, _ = self.predict_classes(X)
        return labels, best

    def predict_classes(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(labels, probability of the predicted label, every class's probability as a rows x
        classes array in the order of ``classes``); both None for regressors.

        The label is the model's own ``predict``, not the class of highest probability: a
        model with a decision threshold of its own (FixedThresholdClassifier,
        TunedThresholdClassifierCV) predicts other labels than the argmax, and Beyond's
        answer must be the model's.  The probability is that of the label it predicted."""
        X = self.in_training_dtypes(X)
        if not self.is_classifier:
            return one_per_row(self.estimator.predict(X), len(X)), None, None
        proba = np.asarray(self.estimator.predict_proba(X), dtype=float)
        classes = np.asarray(getattr(self.estimator, "classes_", []))
        if proba.ndim != 2 or proba.shape != (len(X), len(classes)):
            raise ValueError(f"The model's predict_proba returned an array of shape {proba.shape} for {len(X)} rows "
                             f"and {len(classes)} classes.")
        if self.predicts_argmax and len(classes) >= 2:
            # Its predict is the argmax of what predict_proba is a monotone function of: the same
            # label, but where two classes (nearly) tie, where rounding may part them; those rows
            # get its own predict.  Saves a second pass over the data (about 0.25 s per 50,000
            # rows for the default pipeline).
            labels = classes[proba.argmax(axis=1)]
            top = np.partition(proba, -2, axis=1)
            near = np.flatnonzero(top[:, -1] - top[:, -2] <= TIE)
            if near.size:
                labels = labels.astype(object)
                labels[near] = one_per_row(self.estimator.predict(X.iloc[near]), near.size)
        else:
            labels = one_per_row(self.estimator.predict(X), len(X))
        column = pd.Index(classes).get_indexer(labels)
        if (column < 0).any():
            stray = labels[np.flatnonzero(column < 0)[0]]
            raise ValueError(f"The model predicted {stray!r}, which is not among its classes "
                             f"({', '.join(map(str, classes.tolist()))}).")
        best = proba[np.arange(len(labels)), column]
        if self.label_map:
            labels = np.asarray([self.label_map.get(str(v), v) for v in labels.tolist()], dtype=object)
        return labels, best, proba


def build_schema(
    estimator: Any,
    X: pd.DataFrame,
    version: str,
    *,
    types: Mapping[str, str] | None = None,
    optional: Collection[str] | None = None,
    profile: bool = True,
    id_column: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """schema.json contents for an estimator trained on the DataFrame X (its columns are the
    features the uploaded CSVs must have), with `extra` entries added as they are.

    Each feature's type follows its dtype in X, as ``pd.read_csv`` or a database gives it:
    float -> number; int (also Int64) -> integer; bool (also "boolean", or an object column
    of True/False with NaN, which is what read_csv makes of true/false with gaps) -> boolean;
    datetime64 -> datetime (cells written like DataFrame.to_csv writes them: "%Y-%m-%d"
    when every training value is at midnight, else "%Y-%m-%d %H:%M:%S", with ".%f" when
    some have fractions of a second; timezone-aware columns are refused); str, object of
    strings or category -> category when it has at most `CATEGORY_MAX_VALUES` distinct
    values and at most `CATEGORY_MAX_SHARE` (half) of its non-missing cells are distinct,
    else text.  Uploads then accept, per type: numbers; whole numbers ("3", "3.0", not
    "3.5"); true/false, yes/no, 1/0, t/f, y/n in any case with surrounding spaces; the
    datetime format; any text (see `FeatureSpec`).

    types: {column: type} overrides the inferred type.  It changes how uploads are checked,
    never the kind of value the model gets, so it must fit the training column: number or
    integer for numeric columns (integer: whole values only), boolean for bool columns or
    numbers that are all 0/1, category or text for text columns, datetime for datetime64.
    optional: columns the CSV may leave out (the model then gets them as missing values).
    profile: also store the training profile (``"profile"``, see model/profile.py: per
    feature its missing rate, range, decile bins or category shares, and the distribution of
    the estimator's predictions on X), which every job's quality report compares with.
    id_column: the column that identifies a row (``"id_column"``): every upload must carry
    it, non-empty and unique within the file, and the results carry it as sent.  It is not a
    feature (the model is not given it) unless it is also a column of X.

    ModelError if `version` is unfit (see `check_version`), a column's type cannot be
    inferred or does not fit the override, or `types`/`optional` name unknown columns.
    """
    check_version(version)
    id_column = check_id_column(id_column)
    estimator = as_estimator(estimator)  # a LightGBM or XGBoost Booster: as Beyond loads its file
    if isinstance(optional, str):
        raise ModelError(f"optional must be a list of column names, not the text {optional!r}")
    types, optional = dict(types or {}), set(optional or ())
    names = [str(c) for c in X.columns]
    if len(set(names)) != len(names):
        raise ModelError(f"X has duplicate column names: {sorted({n for n in names if names.count(n) > 1})}")
    unknown = sorted((set(types) | optional) - set(names))
    if unknown:
        raise ModelError(f"types/optional name columns X does not have: {', '.join(map(repr, unknown))}")
    for name, kind in types.items():
        if kind not in FEATURE_TYPES:
            raise ModelError(f"types[{name!r}] is {kind!r}; the types are {', '.join(FEATURE_TYPES)}")
    features = [_describe(name, X[label], types.get(name), name not in optional) for name, label in zip(names, X.columns)]
    classes = [str(c) for c in getattr(estimator, "classes_", [])]
    schema = {
        "format": SCHEMA_FORMAT,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": features,
        "classes": classes,
        **({"id_column": id_column} if id_column else {}),
        **extra,
    }
    if profile:
        schema["profile"] = build_profile(estimator, X, [FeatureSpec.from_schema(f) for f in features],
                                          extra.get("labels"))
    return schema


def _describe(name: str, column: pd.Series, override: str | None, required: bool) -> dict[str, Any]:
    """The schema entry of one training column."""
    learned = _value_kind(column)
    kind = override or _infer_type(name, column, learned)
    if override and not _fits(kind, column, learned):
        raise ModelError(
            f"Column {name!r} holds {learned} values ({column.dtype}) in the training data, so the model "
            f"learned those; type {override!r} would give it other values. Convert the column and train again, "
            "or leave its type out."
        )
    categories: tuple[str, ...] = ()
    fmt = None
    if kind == CATEGORY and isinstance(column.dtype, pd.CategoricalDtype):
        # the model is given exactly these categories, in this order (inputs/conversions.py)
        categories = tuple(str(c) for c in column.dtype.categories)
    elif kind == CATEGORY:
        categories = tuple(sorted({str(v) for v in column.dropna().unique()}))
    elif kind == DATETIME:
        fmt = datetime_format(column.dropna())
    entry = FeatureSpec(name, kind, required, categories, fmt, str(column.dtype)).as_schema()
    if kind in NUMERIC_TYPES:
        numbers = pd.to_numeric(column, errors="coerce").astype(float)
        entry.update(min=float(numbers.min()), max=float(numbers.max()), mean=float(numbers.mean()))
    return entry


def _value_kind(column: pd.Series) -> str:
    """What the column holds: "bool", "integer", "float", "datetime", "datetime with timezone",
    "string", "empty" (only missing values) or the kind pandas infers for an object column
    ("mixed", "decimal", "date"...)."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "datetime with timezone"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.CategoricalDtype):
        return _value_kind(pd.Series(dtype.categories)) if len(dtype.categories) else "empty"
    kind = str(pd.api.types.infer_dtype(column, skipna=True))
    return {"boolean": "bool", "floating": "float"}.get(kind, kind)


def _infer_type(name: str, column: pd.Series, learned: str) -> str:
    simple = {"bool": BOOLEAN, "integer": INTEGER, "float": NUMBER, "datetime": DATETIME}
    if learned in simple:
        return simple[learned]
    if learned == "string":
        if isinstance(column.dtype, pd.CategoricalDtype):
            return CATEGORY
        values = column.dropna()
        distinct = values.nunique()
        return CATEGORY if distinct <= CATEGORY_MAX_VALUES and distinct <= CATEGORY_MAX_SHARE * len(values) else TEXT
    if learned == "datetime with timezone":
        raise ModelError(f"Column {name!r} holds timezone-aware datetimes; convert them to naive ones "
                         "(column.dt.tz_convert(None)) and train again.")
    if learned == "empty":
        raise ModelError(f"Column {name!r} has no values in the training data, so its type cannot be "
                         f"inferred; name it in types=.")
    raise ModelError(f"Column {name!r} holds {learned} values (dtype {column.dtype}); give it one dtype "
                     "(numbers, bool, datetime64 or str) and train again, or name its type in types=.")


def _fits(kind: str, column: pd.Series, learned: str) -> bool:
    """Whether the model, trained on `column`, may be given values of type `kind`."""
    if learned == "empty":  # nothing was learned from the column
        return True
    if kind in NUMERIC_TYPES:
        if learned not in ("bool", "integer", "float", "mixed-integer-float", "decimal"):
            return False
        numbers = pd.to_numeric(column.dropna(), errors="coerce").astype(float)
        return kind == NUMBER or bool((numbers == np.floor(numbers)).all())
    if kind == BOOLEAN:
        if learned in ("integer", "float"):
            return bool(column.dropna().isin([0, 1]).all())
        return learned == "bool"
    if kind in (CATEGORY, TEXT):
        return learned == "string"
    return learned == "datetime"


def save_model(estimator: Any, schema: dict[str, Any], directory: str | Path, format: str = "joblib") -> Path:
    """Write a model directory: the estimator (``model.joblib``, or ``model.skops`` with
    format="skops") and schema.json.  The other format's file is removed, so what is loaded
    is what was saved.  ModelError if the version is unfit, the format unknown, the
    directory holds an MLflow model, or (skops) the estimator holds types `load_model` would
    refuse (then nothing is written)."""
    check_version(schema.get("version"))
    if format not in MODEL_FORMATS:
        raise ModelError(f"Unknown model format {format!r}; the formats are {', '.join(MODEL_FORMATS)}.")
    directory = Path(directory)
    if (directory / MLMODEL_FILE).exists():
        raise ModelError(f"{directory} holds an MLflow model ({MLMODEL_FILE}); save into another directory.")
    directory.mkdir(parents=True, exist_ok=True)
    model_file = directory / MODEL_FORMATS[format]
    if format == "skops":
        import skops.io
        from skops.io.exceptions import UnsupportedTypeException

        staged = directory / f".{SKOPS_FILE}.part"
        try:
            try:
                skops.io.dump(estimator, staged)
            except UnsupportedTypeException as exc:
                raise ModelError(f"skops cannot save this estimator: {exc}") from exc
            skops_trusted_types(staged, shown_as=model_file)
            staged.replace(model_file)
        finally:
            staged.unlink(missing_ok=True)
    else:
        joblib.dump(estimator, model_file)
    (directory / SCHEMA_FILE).write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    for other in set(MODEL_FORMATS.values()) - {model_file.name}:
        (directory / other).unlink(missing_ok=True)
    return directory


def skops_trusted_types(path: Path, shown_as: Path | None = None) -> list[str]:
    """The types of a skops file to pass to ``skops.io.load(trusted=)``: those skops does not
    trust by itself, provided each is a class from scikit-learn, NumPy, SciPy or Python's
    builtins (`SKOPS_TRUSTED_PACKAGES`).  Anything else is refused with a ModelError naming
    it: a class of your own, or a function (``builtins.eval``, ``numpy.nan_to_num``), would
    be code chosen by whoever wrote the file, which is what skops is there to prevent.
    (Among sklearn's classes, skops itself leaves ``sklearn.tree._tree.Tree`` untrusted
    because a crafted file can crash ``predict``; we trust it, so tree models load.)"""
    import skops.io

    shown = shown_as or path
    try:
        found = skops.io.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ModelError(f"{shown} is not a readable skops file: {exc}") from exc
    refused = [name for name in found if not _trusted_class(name)]
    if refused:
        raise ModelError(
            f"{shown} holds types Beyond does not trust: {', '.join(refused)}. A skops file may hold only "
            f"classes from {', '.join(SKOPS_TRUSTED_PACKAGES)} (no functions, no classes of your own); "
            "replace them, or save the model with joblib if you trust its code."
        )
    return found


def _trusted_class(name: str) -> bool:
    """Whether a skops type name ("sklearn.pipeline.Pipeline") is a class from one of the
    trusted packages.  Only modules of those packages are imported to find out."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] not in SKOPS_TRUSTED_PACKAGES:
        return False
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except (ImportError, ValueError):
            continue
        for attr in parts[cut:]:
            found = getattr(found, attr, None)
        return isinstance(found, type)
    return False


def load_ours(directory: Path, model_file: Path) -> Model:
    schema_file = directory / SCHEMA_FILE
    try:
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelError(f"{schema_file} is not valid JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise ModelError(f"{schema_file} must hold a JSON object, not {type(schema).__name__}")
    for field in ("version", "features"):
        if field not in schema:
            raise ModelError(f"{schema_file} has no {field!r} entry")
    if not schema["features"] or not all(isinstance(f, dict) and "name" in f for f in schema["features"]):
        raise ModelError(f"{schema_file}: 'features' must be a non-empty list of {{'name': ...}}")
    if schema.get("format", 1) not in (1, SCHEMA_FORMAT):
        raise ModelError(f"{schema_file} has schema format {schema.get('format')!r}; this version of "
                         f"Beyond reads formats 1 and {SCHEMA_FORMAT}")
    try:
        check_version(schema["version"])
        check_id_column(schema.get("id_column"))
    except ModelError as exc:
        raise ModelError(f"{schema_file}: {exc}") from None
    try:  # Model.feature_specs then cannot fail
        for entry in schema["features"]:
            FeatureSpec.from_schema(entry)
    except ModelError as exc:
        raise ModelError(f"{schema_file}: {exc}") from None
    if model_file.name in NATIVE_FILES:
        estimator = load_native(model_file, schema)
    elif model_file.name == SKOPS_FILE:
        import skops.io

        estimator = skops.io.load(model_file, trusted=skops_trusted_types(model_file))
    else:
        estimator = joblib.load(model_file)
    if not hasattr(estimator, "predict"):
        raise ModelError(f"{model_file} holds a {type(estimator).__name__}, which has no predict()")
    return Model(estimator, schema, directory)
