"""A deployed model: the fitted estimator (joblib) plus schema.json describing its input.

A model directory holds two files:
- ``model.joblib``: any fitted scikit-learn estimator or Pipeline with ``predict`` (and,
  for classifiers, ``predict_proba`` and ``classes_``).
- ``schema.json``: the feature names the CSV must carry (they become the required columns),
  their dtypes and training statistics, the class labels and a version string (at most
  `MAX_VERSION_CHARS` characters: every result records it in the jobs table).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = ROOT / "model" / "artifacts" / "breast_cancer"
MODEL_FILE = "model.joblib"
SCHEMA_FILE = "schema.json"
SCHEMA_FORMAT = 1
# jobs.model_version is VARCHAR(64) in MySQL (sql/mysql/001_initial.sql): a longer version
# would make every job fail when its result is recorded, after the work is done.
MAX_VERSION_CHARS = 64


class ModelError(Exception):
    """The model directory is missing or inconsistent; the message says what to fix."""


@dataclass(frozen=True)
class Model:
    estimator: Any
    schema: dict[str, Any]
    path: Path

    @property
    def features(self) -> list[str]:
        return [f["name"] for f in self.schema["features"]]

    @property
    def version(self) -> str:
        return str(self.schema["version"])

    @property
    def is_classifier(self) -> bool:
        return hasattr(self.estimator, "predict_proba")

    def predict(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """(labels, probability of the predicted label or None for regressors)."""
        if self.is_classifier:
            proba = self.estimator.predict_proba(X)
            best = proba.argmax(axis=1)
            labels = np.asarray(self.estimator.classes_)[best]
            return labels, proba[np.arange(len(best)), best]
        return np.asarray(self.estimator.predict(X)), None


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


def build_schema(estimator: Any, X: pd.DataFrame, version: str, **extra: Any) -> dict[str, Any]:
    """schema.json contents for an estimator trained on the DataFrame X (its columns are the
    features the uploaded CSVs must have).  ModelError if `version` is unfit (see
    `check_version`)."""
    check_version(version)
    features = []
    for name in X.columns:
        column = pd.to_numeric(X[name], errors="coerce")
        features.append(
            {
                "name": str(name),
                "dtype": "float64",
                "min": float(column.min()),
                "max": float(column.max()),
                "mean": float(column.mean()),
            }
        )
    classes = [str(c) for c in getattr(estimator, "classes_", [])]
    return {
        "format": SCHEMA_FORMAT,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": features,
        "classes": classes,
        **extra,
    }


def save_model(estimator: Any, schema: dict[str, Any], directory: str | Path) -> Path:
    check_version(schema.get("version"))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, directory / MODEL_FILE)
    (directory / SCHEMA_FILE).write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    return directory


_cache: dict[tuple[str, float, float], Model] = {}
_cache_lock = threading.Lock()


def load_model(directory: str | Path | None = None) -> Model:
    """Load (and cache, keyed by the files' mtimes so a redeploy is picked up) a model."""
    directory = Path(directory or DEFAULT_MODEL_DIR)
    model_file, schema_file = directory / MODEL_FILE, directory / SCHEMA_FILE
    for needed in (model_file, schema_file):
        if not needed.is_file():
            raise ModelError(
                f"Model file {needed} is missing. Train the default model with "
                "`python -m model.train`, or point MODEL_PATH at your model directory."
            )
    key = (str(directory), model_file.stat().st_mtime, schema_file.stat().st_mtime)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        try:
            schema = json.loads(schema_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ModelError(f"{schema_file} is not valid JSON: {exc}") from exc
        if not isinstance(schema, dict):
            raise ModelError(f"{schema_file} must hold a JSON object, not {type(schema).__name__}")
        for field in ("version", "features"):
            if field not in schema:
                raise ModelError(f"{schema_file} has no {field!r} entry")
        if not schema["features"] or not all("name" in f for f in schema["features"]):
            raise ModelError(f"{schema_file}: 'features' must be a non-empty list of {{'name': ...}}")
        try:
            check_version(schema["version"])
        except ModelError as exc:
            raise ModelError(f"{schema_file}: {exc}") from None
        estimator = joblib.load(model_file)
        if not hasattr(estimator, "predict"):
            raise ModelError(f"{model_file} holds a {type(estimator).__name__}, which has no predict()")
        model = Model(estimator, schema, directory)
        _cache.clear()
        _cache[key] = model
        return model
