"""Test-only estimators, pickled into real model directories so that worker *processes* load them
through MODEL_PATH exactly like a deployed model.

``SlowModel`` wraps a fitted classifier: it sleeps ``seconds_per_row`` per predicted row (so a job
is still running when a test kills, stops or signals its worker), and, when ``poison`` is set,
SIGKILLs its own process on any row whose first feature equals that value (a file that crashes
the model every time). The class must stay importable as ``tests.support.models`` in the worker
subprocess: scheduler/process_pending.py and ``python -m app`` run with the project root on
sys.path.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from model.artifact import save_model
from model.schema import MODEL_FILE, SCHEMA_FILE


class SlowModel:
    def __init__(self, inner: Any, seconds_per_row: float = 0.0, poison: float | None = None) -> None:
        self.inner = inner
        self.seconds_per_row = seconds_per_row
        self.poison = poison

    @property
    def classes_(self) -> np.ndarray:
        return self.inner.classes_

    def _pause_or_die(self, X: Any, pause: bool = True) -> None:
        if self.poison is not None and np.any(np.asarray(X)[:, 0] == self.poison):
            os.kill(os.getpid(), signal.SIGKILL)
        if self.seconds_per_row and pause:
            time.sleep(self.seconds_per_row * len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        self._pause_or_die(X)
        return self.inner.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        # Beyond calls predict and predict_proba on each chunk: one pause per chunk, not two
        self._pause_or_die(X, pause=False)
        return self.inner.predict(X)


def make_model_dir(base: Path, target: Path, *, seconds_per_row: float = 0.0, poison: float | None = None) -> Path:
    """A model directory like ``base`` (same features) whose estimator is a SlowModel."""
    schema = json.loads((base / SCHEMA_FILE).read_text(encoding="utf-8"))
    schema["version"] = f"{schema['version']}-slow{seconds_per_row}" + (f"-poison{poison}" if poison is not None else "")
    inner = joblib.load(base / MODEL_FILE)
    return save_model(SlowModel(inner, seconds_per_row, poison), schema, target)


class FailingModel:
    """A fitted classifier whose every prediction raises, as a model with a broken transformer
    does; counts its calls (``calls``) so a test can tell how often the job asked it."""

    def __init__(self, inner: Any, message: str = "could not convert string to float: 'Adelie'") -> None:
        self.inner = inner
        self.message = message
        self.calls = 0

    @property
    def classes_(self) -> np.ndarray:
        return self.inner.classes_

    def predict_proba(self, X: Any) -> np.ndarray:
        self.calls += 1
        raise ValueError(self.message)

    def predict(self, X: Any) -> np.ndarray:
        self.calls += 1
        raise ValueError(self.message)


class WrongShapeModel(SlowModel):
    """Probabilities for one row fewer than it was given (a model that drops rows)."""

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.inner.predict_proba(X)[1:]


class StrangeLabelsModel(SlowModel):
    """predict answers labels that are not among its classes_ (a label encoder left out)."""

    def predict(self, X: Any) -> np.ndarray:
        return np.array(["class-" + str(v) for v in self.inner.predict(X)], dtype=object)


class AbortingModel(SlowModel):
    """Crashes the interpreter (os.abort, as native code does) whenever it predicts."""

    def predict_proba(self, X: Any) -> np.ndarray:
        os.abort()

    def predict(self, X: Any) -> np.ndarray:
        os.abort()


def wrapped_model_dir(base: Path, target: Path, wrapper: Any, version: str) -> Path:
    """A model directory like ``base`` (same features) whose estimator is ``wrapper(inner)``."""
    schema = json.loads((base / SCHEMA_FILE).read_text(encoding="utf-8"))
    schema["version"] = version
    return save_model(wrapper(joblib.load(base / MODEL_FILE)), schema, target)


def refuse_large_tumours(X: Any) -> Any:
    """A FunctionTransformer's function that raises on any row whose first feature is over 20,
    with a long message (libraries write long ones), as a transformer with a bug does."""
    values = np.asarray(X, dtype=float)
    if (values[:, 0] > 20).any():
        raise ValueError("this transformer cannot take a first feature over 20, " + "and it says so at length " * 20)
    return X


def partly_failing_pipeline(base: Path) -> Any:
    """A real scikit-learn Pipeline (the default model behind a FunctionTransformer) that
    raises on the rows `refuse_large_tumours` refuses and scores the others."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    inner = joblib.load(base / MODEL_FILE)
    import pandas as pd

    names = list(inner.feature_names_in_)  # fitted as the pipeline would be: on the training columns
    check = FunctionTransformer(refuse_large_tumours).fit(pd.DataFrame([[0.0] * len(names)], columns=names))
    return Pipeline([("check", check), ("model", inner)])
