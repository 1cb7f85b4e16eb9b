"""Loading a deployed model: which kind of directory it is (ours, model/artifact.py, or
MLflow's, model/mlflow_model.py), and the cache of the last model loaded.

`load_model` caches the last model loaded, keyed by the directory and its files' mtimes, so
a redeploy (new files) is picked up by the next call.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from model.artifact import DEFAULT_MODEL_DIR, Model, load_ours
from model.mlflow_model import load_mlflow_model
from model.native import NATIVE_FILES
from model.schema import MLMODEL_FILE, MODEL_FILE, SCHEMA_FILE, SKOPS_FILE, ModelError


def model_file_of(directory: Path) -> Path | None:
    """The file that holds a model directory's model: ``MLmodel`` (MLflow), ``model.skops``,
    ``model.joblib``, then a library's own format (model/native.py: model.onnx, model.json,
    model.ubj, model.txt, model.cbm), in that order of precedence; None if there is none."""
    for name in (MLMODEL_FILE, SKOPS_FILE, MODEL_FILE, *NATIVE_FILES):
        if (directory / name).is_file():
            return directory / name
    return None


_cache: dict[tuple[Any, ...], Model] = {}
_cache_lock = threading.Lock()


def load_model(directory: str | Path | None = None) -> Model:
    """Load (and cache, keyed by the files' mtimes so a redeploy is picked up) a model.

    Ours: model.skops (if present) or model.joblib, and schema.json.  MLflow: the key holds
    the mtime of every entry at the top of the directory (MLmodel, the model file, the input
    example...); an entry that is a directory counts with its own mtime, not its contents'."""
    directory = Path(directory or DEFAULT_MODEL_DIR)
    model_file = model_file_of(directory)
    if model_file is not None and model_file.name == MLMODEL_FILE:
        files = sorted(directory.iterdir())
    else:
        schema_file = directory / SCHEMA_FILE
        for needed in (model_file, schema_file):
            if needed is None or not needed.is_file():
                shown = needed or (f"{directory / MODEL_FILE} (or {SKOPS_FILE}, {', '.join(NATIVE_FILES)}, "
                                   f"or an MLflow {MLMODEL_FILE})")
                raise ModelError(
                    f"Model file {shown} is missing. Train the default model with "
                    "`python -m model.train`, or point MODEL_PATH at your model directory."
                )
        assert model_file is not None
        files = [model_file, schema_file]
    key = (str(directory), model_file.name, tuple((f.name, f.stat().st_mtime) for f in files))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        if model_file.name == MLMODEL_FILE:
            model = load_mlflow_model(directory)
        else:
            model = load_ours(directory, model_file)
        _cache.clear()
        _cache[key] = model
        return model
