"""The model's vocabulary: the feature types, `FeatureSpec`, the schema's format and the files
of a model directory.  Nothing here loads or runs a model (model/artifact.py and
model/mlflow_model.py do), so every part of `model` can import it, as MLflow keeps
mlflow/types/schema.py apart from loading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MODEL_FILE = "model.joblib"
SKOPS_FILE = "model.skops"
SCHEMA_FILE = "schema.json"
MLMODEL_FILE = "MLmodel"  # an MLflow model directory (model/mlflow_model.py)

SCHEMA_FORMAT = 2  # format 1: every feature a number ("dtype": "float64")
# jobs.model_version is VARCHAR(64) in MySQL (sql/mysql/001_initial.sql): a longer version
# would make every job fail when its result is recorded, after the work is done.
MAX_VERSION_CHARS = 64
MAX_ID_COLUMN_CHARS = 255  # a header cell longer than this is no column name
# The column every result carries for a model without an id column: "<job id>-<row number>".
ROW_ID_COLUMN = "row_id"

# Feature types (schema.json "type"); see FeatureSpec for what each accepts and what the
# model is given.
NUMBER, INTEGER, BOOLEAN, CATEGORY, DATETIME, TEXT = "number", "integer", "boolean", "category", "datetime", "text"
FEATURE_TYPES = (NUMBER, INTEGER, BOOLEAN, CATEGORY, DATETIME, TEXT)
NUMERIC_TYPES = frozenset({NUMBER, INTEGER})  # read as numbers by pandas' C parser

# Datetime cell formats (ISO 8601, as DataFrame.to_csv writes datetime64 columns), inferred
# from the training values: dates at midnight only, whole seconds, or fractions of a second.
DATE_FORMAT = "%Y-%m-%d"
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
FRACTION_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class ModelError(Exception):
    """The model directory is missing or inconsistent; the message says what to fix."""


@dataclass(frozen=True)
class FeatureSpec:
    """One input column: what its cells in an upload must be and what the model is given.

    Per type, an upload's cells -> what the model gets:

    - number: numbers -> float64.
    - integer: whole numbers ("3", "3.0"; not "3.5") -> int64; float64 in a chunk with
      missing cells.
    - boolean: true/false, yes/no, 1/0, t/f, y/n, any case -> bool; object True/False/NaN in
      a chunk with missing cells.
    - category: any text; values unseen in training are counted in the upload report, not
      refused -> str, exactly as written; or, when the training column was a pandas
      ``category`` (dtype "category"), ``pd.Categorical`` with exactly the training
      categories, in their order (an unseen value is then missing, as it would be after
      ``astype(training dtype)``): LightGBM, XGBoost and HistGradientBoosting take their
      categorical features that way.
    - datetime: dates in `format` (e.g. "%Y-%m-%d") -> datetime64 in the training unit
      (`dtype`).
    - text: any text -> str, exactly as written.

    Cells of every type may be empty or a missing word (inputs/conversions.py MISSING_WORDS); the model
    then gets NaN (NaT for datetimes).  That is what ``pd.read_csv`` gives the pipeline for
    the same file (with ``parse_dates`` for datetime columns), so the model sees the dtypes
    it was trained with.  required=False: the CSV may leave the column out; the model then
    gets it with every cell missing.
    """

    name: str
    type: str = NUMBER
    required: bool = True
    # category: the training values, sorted; for a pandas category column its categories, in order
    categories: tuple[str, ...] = ()
    format: str | None = None  # datetime: the cells' strftime format, e.g. "%Y-%m-%d"
    dtype: str | None = None  # the training column's dtype, e.g. "int64", "datetime64[us]"

    @classmethod
    def from_schema(cls, entry: Mapping[str, Any]) -> FeatureSpec:
        """A schema.json feature entry (format 1 or 2); ModelError naming what is wrong."""
        name = str(entry["name"])
        kind = entry.get("type", NUMBER)
        if kind not in FEATURE_TYPES:
            raise ModelError(f"feature {name!r} has type {kind!r}; the types are {', '.join(FEATURE_TYPES)}")
        required = entry.get("required", True)
        if not isinstance(required, bool):
            raise ModelError(f"feature {name!r}: 'required' must be true or false, not {required!r}")
        categories = entry.get("categories")
        if kind == CATEGORY and not (isinstance(categories, list) and all(isinstance(c, str) for c in categories)):
            raise ModelError(f"feature {name!r} is a category: 'categories' must be a list of texts")
        fmt = entry.get("format")
        if kind == DATETIME and not (isinstance(fmt, str) and fmt):
            raise ModelError(f"feature {name!r} is a datetime: 'format' must be a strftime format such as '%Y-%m-%d'")
        dtype = entry.get("dtype")
        return cls(name, kind, required, tuple(categories or ()) if kind == CATEGORY else (),
                   fmt if kind == DATETIME else None, str(dtype) if dtype is not None else None)

    def as_schema(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required, "dtype": self.dtype}
        if self.type == CATEGORY:
            entry["categories"] = list(self.categories)
        if self.type == DATETIME:
            entry["format"] = self.format
        return entry


def feature_specs(features: Sequence[str | FeatureSpec]) -> list[FeatureSpec]:
    """Specs for features given as specs or bare names (a required number)."""
    return [f if isinstance(f, FeatureSpec) else FeatureSpec(str(f)) for f in features]


def one_per_row(values: Any, rows: int) -> np.ndarray:
    """A model's predict output as one value per row: CatBoost's classifiers return an (n, 1)
    array, which would otherwise be shown (and profiled) as "['Adelie']".  ValueError for any
    other shape."""
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or len(array) != rows:
        raise ValueError(f"The model returned an array of shape {array.shape} for {rows} rows; "
                         "Beyond needs one prediction per row.")
    return array


def check_id_column(name: Any) -> str | None:
    """The id column's name (schema.json "id_column"), or None when the model has none;
    ModelError when it is not a usable column name."""
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise ModelError(f"The id column must be a non-empty column name, not {name!r}.")
    if len(name) > MAX_ID_COLUMN_CHARS or not name.isprintable():
        raise ModelError(f"The id column {name[:100]!r} is not a usable column name (at most "
                         f"{MAX_ID_COLUMN_CHARS} printable characters).")
    return name.strip()


def check_version(version: Any) -> str:
    """The model version if it can be recorded with every result, else ModelError."""
    if not isinstance(version, str) or not version.strip():
        raise ModelError(f"The model version must be a non-empty text, not {version!r}.")
    if len(version) > MAX_VERSION_CHARS:
        shown = version if len(version) <= 100 else version[:97] + "..."
        raise ModelError(
            f"The model version {shown!r} is {len(version):,} characters long; at most "
            f"{MAX_VERSION_CHARS} fit in the jobs table (model_version)."
        )
    return version


def datetime_format(values: pd.Series) -> str:
    """The format of training datetimes: dates at midnight only, whole seconds, or fractions."""
    if (values == values.dt.normalize()).all():
        return DATE_FORMAT
    if ((values.dt.microsecond == 0) & (values.dt.nanosecond == 0)).all():
        return DATETIME_FORMAT
    return FRACTION_FORMAT
