"""Models saved in their library's own format, beside ``schema.json``: XGBoost
(``model.json`` / ``model.ubj``), LightGBM (``model.txt``), CatBoost (``model.cbm``) and ONNX
(``model.onnx``, run with onnxruntime).  Each is loaded as an estimator with scikit-learn's
interface (``predict``; for classifiers ``predict_proba`` and ``classes_``), so `Model`
scores it like a pipeline: the label is the library's own prediction, the probability that of
the predicted label.

- XGBoost and CatBoost load into their own scikit-learn wrappers (XGBClassifier /
  XGBRegressor, CatBoostClassifier / CatBoostRegressor, chosen by the model's objective), so
  their ``predict`` is the library's.  XGBoost's categorical features are enabled
  (``enable_categorical=True``): the model gets ``pd.Categorical`` columns (`Model`).
- LightGBM: the Booster, whose ``predict`` gives probabilities for the binary and multiclass
  objectives; the label is the class of highest probability, as ``LGBMClassifier.predict``.
- ONNX: inputs as one float tensor (every feature, in schema order) or one tensor per column
  (named like the features); outputs the label then the probabilities, as a tensor or a
  ZipMap (a list of {class: probability}), or the value of a regressor.

Class names: the library keeps the classes it was trained on as 0, 1, 2... (XGBoost,
LightGBM) when the training labels were encoded.  schema.json's ``classes`` (what
`build_schema` records from the scikit-learn wrapper, e.g. LGBMClassifier's names) names them
when it has one name per class; a ``labels`` map ({"0": "Adelie"}) names encoded classes that
the wrapper itself knew only as numbers (XGBClassifier).

The libraries are optional: a directory whose library is not installed is refused naming the
package and the command that installs it (README "Model libraries").
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.schema import ModelError

# file name -> (library, the package that installs it)
NATIVE_FILES = {
    "model.onnx": ("onnx", "onnxruntime"),
    "model.json": ("xgboost", "xgboost"),
    "model.ubj": ("xgboost", "xgboost"),
    "model.txt": ("lightgbm", "lightgbm"),
    "model.cbm": ("catboost", "catboost"),
}
CATBOOST_CLASSIFIER_LOSSES = ("Logloss", "CrossEntropy", "MultiClass", "MultiClassOneVsAll")


def require(module: str, package: str, what: str) -> Any:
    """Import `module`, or ModelError naming the package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelError(
            f"{what} needs the Python package {package!r}, which this service does not have ({exc}). "
            f"Install it on the service and every worker host: `.venv/bin/pip install {package}`, or "
            f"`make install MODEL_EXTRAS={package}` (README \"Model libraries\")."
        ) from exc


def load_native(path: Path, schema: dict[str, Any]) -> Any:
    """The estimator in `path` (one of `NATIVE_FILES`); ModelError if it cannot load."""
    library, package = NATIVE_FILES[path.name]
    require("onnxruntime" if library == "onnx" else library, package, f"{path.name} ({library})")
    classes = [str(c) for c in schema.get("classes") or []]
    try:
        if library == "xgboost":
            return load_xgboost(path)
        if library == "lightgbm":
            import lightgbm

            return LightGBMModel(lightgbm.Booster(model_file=str(path)), classes)
        if library == "catboost":
            return load_catboost(path)
        return OnnxModel(path, classes, [str(f["name"]) for f in schema["features"]])
    except ModelError:
        raise
    except Exception as exc:  # each library raises its own error types for a bad file
        raise ModelError(f"{library} cannot load {path}: {type(exc).__name__}: {exc}") from exc


def load_xgboost(source: Path | bytearray) -> Any:
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(source if isinstance(source, bytearray) else str(source))
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    wrapper = xgboost.XGBClassifier() if objective.startswith(("binary:", "multi:")) else xgboost.XGBRegressor()
    wrapper.load_model(source if isinstance(source, bytearray) else str(source))
    wrapper.set_params(enable_categorical=True)  # category features reach it as pd.Categorical
    return wrapper


def load_catboost(path: Path) -> Any:
    import catboost

    probe = catboost.CatBoost()
    probe.load_model(str(path))
    loss = str(probe.get_all_params().get("loss_function", ""))
    wrapper = catboost.CatBoostClassifier() if loss.split(":")[0] in CATBOOST_CLASSIFIER_LOSSES \
        else catboost.CatBoostRegressor()
    wrapper.load_model(str(path))
    return wrapper


def as_estimator(estimator: Any, classes: list[str] | None = None) -> Any:
    """A library's bare model (a LightGBM or XGBoost Booster) as the estimator Beyond would load
    from its file; anything else as it is.  `build_schema` profiles through this."""
    module = type(estimator).__module__.split(".")[0]
    name = type(estimator).__name__
    if module == "lightgbm" and name == "Booster":
        return LightGBMModel(estimator, classes or [])
    if module == "xgboost" and name == "Booster":
        return load_xgboost(estimator.save_raw("json"))
    return estimator


class LightGBMModel:
    """A LightGBM Booster (model.txt) as an estimator.  Binary and multiclass objectives are
    classifiers: predict_proba from the Booster's probabilities, the label the most probable
    class (as LGBMClassifier.predict: the first on a tie).  Other objectives: predict only."""

    runtime_module = "lightgbm"  # what runs it, for the deploy answer (model/trial.py)

    CLASSIFIER_OBJECTIVES = ("binary", "multiclass", "multiclassova", "softmax", "ova", "ovr")

    def __init__(self, booster: Any, classes: list[str]) -> None:
        self.booster = booster
        objective = str(booster.dump_model(num_iteration=1).get("objective", "")).split()[0]
        self.objective = objective
        if objective in self.CLASSIFIER_OBJECTIVES:
            count = 2 if objective == "binary" else int(booster.dump_model(num_iteration=1)["num_class"])
            labels: list[Any] = classes if len(classes) == count else list(range(count))
            self.classes_ = np.asarray(labels)
            self.predict_proba = self._predict_proba

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        out = np.asarray(self.booster.predict(X), dtype=float)
        return np.column_stack([1.0 - out, out]) if out.ndim == 1 else out

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if hasattr(self, "classes_"):
            return self.classes_[self._predict_proba(X).argmax(axis=1)]
        return np.asarray(self.booster.predict(X))


class OnnxModel:
    """An ONNX graph run with onnxruntime (see the module docstring for its inputs and outputs).
    predict and predict_proba on the same frame run the graph once."""

    runtime_module = "onnxruntime"  # what runs it, for the deploy answer (model/trial.py)

    def __init__(self, path: Path, classes: list[str], features: list[str]) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # a worker is one job on one core
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.features = features
        self.inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        self.output_names = [o.name for o in outputs]
        # one input per column: named like the column, or as skl2onnx spells it ("hue band" -> "hue_band")
        spelled = {re.sub(r"\W", "_", f): f for f in features} | {f: f for f in features}
        self.columns = {i.name: spelled.get(i.name, "") for i in self.inputs}
        if len(self.inputs) > 1:
            unknown = [name for name, column in self.columns.items() if not column]
            if unknown:
                raise ModelError(f"{path} takes inputs {', '.join(map(repr, unknown))} that schema.json does not "
                                 "name as features; with one input per column the inputs are named like the columns.")
        self._last: tuple[pd.DataFrame, list[Any]] | None = None  # the frame itself: its id is not reused
        if len(outputs) >= 2:  # label, probabilities
            labels = classes or self._graph_classes(path)
            if not labels:
                raise ModelError(f"{path} outputs probabilities but neither its graph nor schema.json "
                                 "names the classes; add \"classes\" to schema.json.")
            self.classes_ = np.asarray(labels)
            self.predict_proba = self._predict_proba

    @staticmethod
    def _graph_classes(path: Path) -> list[str]:
        try:
            import onnx
        except ImportError:
            return []
        for node in onnx.load(str(path)).graph.node:
            for attribute in node.attribute:
                if attribute.name in ("classlabels_strings", "classlabels_int64s"):
                    values = onnx.helper.get_attribute_value(attribute)
                    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
        return []

    def _feeds(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        if len(self.inputs) == 1 and not self.columns[self.inputs[0].name]:
            kind = _NUMPY_OF.get(self.inputs[0].type, np.float32)
            return {self.inputs[0].name: X[self.features].to_numpy(dtype=kind)}
        feeds = {}
        for spec in self.inputs:
            column = X[self.columns[spec.name]]
            if spec.type == "tensor(string)":
                values = column.astype(object).where(column.notna(), "").astype(str).to_numpy(dtype=object)
            else:
                values = column.to_numpy(dtype=_NUMPY_OF.get(spec.type, np.float32))
            feeds[spec.name] = values.reshape(-1, 1)
        return feeds

    def _run(self, X: pd.DataFrame) -> list[Any]:
        if self._last is not None and self._last[0] is X:
            return self._last[1]
        out = self.session.run(self.output_names, self._feeds(X))
        self._last = (X, out)
        return out

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        try:
            return np.asarray(self._run(X)[0]).reshape(len(X), -1)[:, 0] if len(X) else np.asarray([])
        finally:
            if not hasattr(self, "classes_"):
                self._last = None

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        try:
            probabilities = self._run(X)[1]
        finally:
            self._last = None
        if isinstance(probabilities, list):  # a ZipMap: one {class: probability} per row
            if not probabilities:
                return np.zeros((0, len(self.classes_)))
            keys = list(probabilities[0])
            matrix = np.asarray([list(row.values()) for row in probabilities], dtype=float)
            order = {str(k): j for j, k in enumerate(keys)}
            return matrix[:, [order[str(c)] for c in self.classes_]]
        return np.asarray(probabilities, dtype=float)


_NUMPY_OF = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
             "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


def native_categories(estimator: Any, names: list[str]) -> dict[str, tuple[str, ...]]:
    """{column: its training categories, in order} for the categorical features a LightGBM or
    XGBoost model keeps in itself (pandas ``category`` columns at training), the model's
    features matched to `names` by position; {} for other models.  For models whose schema
    comes from elsewhere (an MLflow signature, which says only "string")."""
    module = type(estimator).__module__.split(".")[0]
    found: dict[str, tuple[str, ...]] = {}
    try:
        if module == "lightgbm" or isinstance(estimator, LightGBMModel):
            booster = getattr(estimator, "booster_", None) or getattr(estimator, "booster", None) or estimator
            infos = booster.dump_model(num_iteration=1)["feature_infos"]
            positions = [k for k, name in enumerate(booster.feature_name()) if (infos.get(name) or {}).get("values")]
            for k, categories in zip(positions, booster.pandas_categorical or []):
                if k < len(names):
                    found[names[k]] = tuple(str(c) for c in categories)
        elif module == "xgboost":
            booster = estimator.get_booster() if hasattr(estimator, "get_booster") else estimator
            for k, (_, values) in enumerate(booster.get_categories(export_to_arrow=True).to_arrow()):
                if values is not None and k < len(names):
                    found[names[k]] = tuple(str(v) for v in values.to_pylist())
    except Exception:  # an older library version without these: the signature's types stand
        return {}
    return found
