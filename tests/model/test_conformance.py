"""Issue 23's conformance suite: one model per library, in every format it has, deployed in the
registry and scored by a real worker; the result files must hold the library's own answers on
the same file read with the training dtypes (``pd.read_csv(...).astype(X.dtypes)``): labels
identical, probabilities within 1e-9 (1e-6 for ONNX, which computes in float32), and the
job's data quality ``ok`` (the file is a resample of the training rows).

Real data shipped with scikit-learn: wine (three classes; ``hue band``, a pandas ``category``
column cut from the real hue values), breast cancer (two classes, for the threshold
classifiers) and diabetes (a regressor).  Training is kept small so the suite stays fast.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from app.core.db import SQLiteDatabase
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Status
from app.core.jobs.submissions import submit_path
from app.core.registry.models import Registry
from model.artifact import build_schema, save_model
from model.schema import SCHEMA_FILE
from scheduler.worker import Worker

WINE_FEATURES = ["alcohol", "malic_acid", "color_intensity", "proline", "flavanoids"]
Own = Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray | None]]


def wine() -> tuple[pd.DataFrame, pd.Series]:
    data = load_wine(as_frame=True)
    X = data.frame[WINE_FEATURES].copy()
    # a category column cut from real values; its categories in their own (not sorted) order
    X["hue band"] = pd.cut(data.frame["hue"], [0, 0.7, 0.9, 1.1, 10], labels=["pale", "light", "deep", "dark"])
    X["hue band"] = X["hue band"].astype(pd.CategoricalDtype(["pale", "light", "deep", "dark"]))
    y = data.target.map(dict(enumerate(data.target_names))).astype(str)
    return X, y


def cancer() -> tuple[pd.DataFrame, pd.Series]:
    data = load_breast_cancer(as_frame=True)
    X = data.frame[["mean radius", "mean texture", "mean smoothness", "worst concavity", "worst symmetry"]]
    return X.copy(), data.target.map({0: "malignant", 1: "benign"}).astype(str)


def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    data = load_diabetes(as_frame=True, scaled=False)
    return data.frame[["age", "bmi", "bp", "s1", "s5"]].copy(), data.target


def resample(X: pd.DataFrame, path: Path, rows: int = 400) -> Path:
    """A CSV of `rows` training rows drawn with replacement (the quality check's `ok` case)."""
    X.sample(rows, replace=True, random_state=3).to_csv(path, index=False)
    return path


def proba_of(labels: np.ndarray, proba: np.ndarray, classes: Any) -> np.ndarray:
    column = pd.Index(np.asarray(classes)).get_indexer(np.asarray(labels).ravel())
    assert (column >= 0).all()
    return proba[np.arange(len(column)), column]


def sklearn_own(estimator: Any) -> Own:
    def own(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        labels = np.asarray(estimator.predict(frame)).ravel()
        if not hasattr(estimator, "predict_proba"):
            return labels, None
        return labels, proba_of(labels, np.asarray(estimator.predict_proba(frame)), estimator.classes_)
    return own


class Scorer:
    """Deploys model directories and scores files through a real worker (SQLite)."""

    def __init__(self, settings: Any, tmp_path: Path) -> None:
        self.settings, self.tmp_path = settings, tmp_path
        self.db = SQLiteDatabase(settings.sqlite_path)
        self.db.init_schema()
        from app.core.accounts.users import Users

        self.owner = Users(self.db).create("scientist", "scientist-password-1")
        self.registry = Registry(self.db, settings)
        self.jobs = Jobs(self.db)
        self.count = 0

    def score(self, directory: Path, source: Path, sample: Path | None = None
              ) -> tuple[pd.DataFrame, list[tuple], dict[str, Any]]:
        """(the result CSV as text, the .xlsx rows, the summary sheet) of scoring `source`;
        `sample`: training rows for the profile of a model that has none (MLflow)."""
        self.count += 1
        name = f"m{self.count}"
        self.registry.deploy(directory, name, version="v1", activate=True, sample=sample)
        job = submit_path(self.settings, self.jobs, self.owner.id, source, model=name)
        worker = Worker(self.settings, self.db)
        done = worker.run_claim(worker.claim(job.id))
        assert done.status is Status.PROCESS_OK, (done.status, done.error_message)
        csv = pd.read_csv(self.settings.output_dir / done.path_result_csv, dtype=str, keep_default_na=False,
                          encoding="utf-8-sig")
        book = openpyxl.load_workbook(self.settings.output_dir / done.path_result, read_only=True)
        rows = [tuple(r) for r in book["predictions"].iter_rows(values_only=True)]
        summary = {r[0]: r[1] for r in book["summary"].iter_rows(values_only=True)}
        book.close()
        return csv, rows, summary


@pytest.fixture
def scorer(make_settings: Callable[..., Any], tmp_path: Path) -> Iterator[Scorer]:
    scorer = Scorer(make_settings("sqlite"), tmp_path)
    yield scorer
    scorer.db.close()


def check(scorer: Scorer, directory: Path, source: Path, X: pd.DataFrame, own: Own, atol: float = 1e-9,
          sample: Path | None = None) -> None:
    """Beyond's answers for `source` (through a worker) are `own`'s on the same file read with
    the training dtypes, in the CSV and the .xlsx alike, and the data quality is ok."""
    frame = pd.read_csv(source).astype(X.dtypes.to_dict())
    labels, probability = own(frame)
    if sample is None and (directory / "MLmodel").is_file():  # MLflow keeps no training data
        sample = directory.parent / "training-sample.csv"
        X.to_csv(sample, index=False)
    csv, rows, summary = scorer.score(directory, source, sample)
    header = list(rows[0])
    at = header.index("prediction")
    if probability is None:  # a regressor
        np.testing.assert_allclose(csv["prediction"].astype(float), labels.astype(float), rtol=0, atol=atol)
        np.testing.assert_allclose([float(r[at]) for r in rows[1:]], labels.astype(float), rtol=0, atol=atol)
    else:
        assert csv["prediction"].tolist() == [str(v) for v in labels.tolist()]
        # the workbook holds numeric labels as numbers (1.0 == 1), text labels as text
        assert [r[at] for r in rows[1:]] == [v if isinstance(v, (int, float)) else str(v) for v in labels.tolist()]
        np.testing.assert_allclose(csv["probability"].astype(float), probability, rtol=0, atol=atol)
        np.testing.assert_allclose([r[at + 1] for r in rows[1:]], probability, rtol=0, atol=atol)
    assert (csv["row_status"] == "").all(), csv["row_status"][csv["row_status"] != ""].head().tolist()
    assert summary["data quality"] == "ok", summary.get("data quality reason")


def write_schema(directory: Path, estimator: Any, X: pd.DataFrame, version: str, **extra: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    schema = build_schema(estimator, X, version, **extra)
    (directory / SCHEMA_FILE).write_text(json.dumps(schema), encoding="utf-8")
    return directory


# -- scikit-learn ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["joblib", "skops"])
def test_a_pipeline_with_a_column_transformer(scorer: Scorer, tmp_path: Path, fmt: str) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = wine()
    pipeline = make_pipeline(
        ColumnTransformer([("numbers", StandardScaler(), WINE_FEATURES),
                           ("bands", OneHotEncoder(handle_unknown="ignore"), ["hue band"])]),
        LogisticRegression(max_iter=500)).fit(X, y)
    directory = save_model(pipeline, build_schema(pipeline, X, "wine-pipeline"), tmp_path / fmt, format=fmt)
    check(scorer, directory, resample(X, tmp_path / "wine.csv"), X, sklearn_own(pipeline))


def test_hist_gradient_boosting_on_a_category_column(scorer: Scorer, tmp_path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = wine()
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=30, random_state=0).fit(X, y)
    directory = save_model(model, build_schema(model, X, "wine-hgb"), tmp_path / "hgb")
    check(scorer, directory, resample(X, tmp_path / "wine.csv"), X, sklearn_own(model))


@pytest.mark.parametrize("kind", ["fixed", "tuned"])
def test_a_threshold_classifier_gives_its_own_labels(scorer: Scorer, tmp_path: Path, kind: str) -> None:
    """The label is the model's predict (its threshold), not the class of highest probability;
    the probability column is that of the label it predicted."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import FixedThresholdClassifier, TunedThresholdClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = cancer()
    base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    if kind == "fixed":
        model: Any = FixedThresholdClassifier(base, threshold=0.2, pos_label="malignant").fit(X, y)
    else:
        from sklearn.metrics import fbeta_score, make_scorer

        # recall of the malignant cases weighs four times precision: a threshold below 0.5
        scoring = make_scorer(fbeta_score, beta=2, pos_label="malignant")
        model = TunedThresholdClassifierCV(base, scoring=scoring, cv=3, thresholds=20).fit(X, y)
    source = resample(X, tmp_path / "patients.csv")
    frame = pd.read_csv(source)
    argmax = np.asarray(model.classes_)[model.predict_proba(frame).argmax(axis=1)]
    assert (argmax != model.predict(frame)).any()  # the case the threshold decides differently
    directory = save_model(model, build_schema(model, X, f"cancer-{kind}"), tmp_path / kind)
    check(scorer, directory, source, X, sklearn_own(model))


def test_a_regressor(scorer: Scorer, tmp_path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = diabetes()
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, y)
    directory = save_model(model, build_schema(model, X, "diabetes-hgb"), tmp_path / "regressor")
    check(scorer, directory, resample(X, tmp_path / "people.csv"), X, sklearn_own(model))


# -- LightGBM, XGBoost, CatBoost ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["joblib", "model.txt"])
def test_lightgbm_on_a_category_column(scorer: Scorer, tmp_path: Path, fmt: str) -> None:
    import lightgbm

    X, y = wine()
    model = lightgbm.LGBMClassifier(n_estimators=20, num_leaves=7, min_child_samples=5, verbose=-1).fit(X, y)
    schema = build_schema(model, X, "wine-lgbm")
    if fmt == "joblib":
        directory = save_model(model, schema, tmp_path / "lgbm")
    else:
        directory = write_schema(tmp_path / "lgbm", model, X, "wine-lgbm")
        model.booster_.save_model(directory / fmt)
    check(scorer, directory, resample(X, tmp_path / "wine.csv"), X, sklearn_own(model))


def test_lightgbm_regressor_from_its_booster(scorer: Scorer, tmp_path: Path) -> None:
    import lightgbm

    X, y = diabetes()
    booster = lightgbm.train({"objective": "regression", "verbose": -1, "num_leaves": 7},
                             lightgbm.Dataset(X, y), num_boost_round=20)
    directory = write_schema(tmp_path / "lgbm", booster, X, "diabetes-lgbm")
    booster.save_model(directory / "model.txt")
    check(scorer, directory, resample(X, tmp_path / "people.csv"), X,
          lambda frame: (np.asarray(booster.predict(frame)), None))


@pytest.mark.parametrize("fmt", ["joblib", "model.json", "model.ubj"])
def test_xgboost_on_a_category_column_with_named_labels(scorer: Scorer, tmp_path: Path, fmt: str) -> None:
    """XGBoost learns encoded labels (0/1/2); schema.json's labels map names them."""
    import xgboost

    X, y = wine()
    names = sorted(y.unique())
    codes = y.map({name: k for k, name in enumerate(names)})
    model = xgboost.XGBClassifier(n_estimators=15, max_depth=3, enable_categorical=True, tree_method="hist",
                                  n_jobs=1).fit(X, codes)
    labels_map = {str(k): name for k, name in enumerate(names)}
    if fmt == "joblib":
        directory = save_model(model, build_schema(model, X, "wine-xgb", labels=labels_map), tmp_path / "xgb")
    else:
        directory = write_schema(tmp_path / "xgb", model, X, "wine-xgb", labels=labels_map)
        model.save_model(directory / fmt)

    def own(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        encoded, probability = sklearn_own(model)(frame)
        return np.asarray([labels_map[str(v)] for v in encoded]), probability

    check(scorer, directory, resample(X, tmp_path / "wine.csv"), X, own)


@pytest.mark.parametrize("fmt", ["joblib", "model.cbm"])
def test_catboost_with_cat_features(scorer: Scorer, tmp_path: Path, fmt: str) -> None:
    """CatBoost's predict returns an (n, 1) array; the profile must store plain labels, or
    every job (the training resample too) raises a false alert."""
    import catboost

    X, y = wine()
    X["hue band"] = X["hue band"].astype(str)  # CatBoost's cat_features take text
    model = catboost.CatBoostClassifier(iterations=30, depth=3, cat_features=["hue band"], verbose=False,
                                        thread_count=1, random_seed=0, allow_writing_files=False).fit(X, y)
    schema = build_schema(model, X, "wine-catboost")
    assert set(schema["profile"]["predictions"]["shares"]) <= set(y)
    if fmt == "joblib":
        directory = save_model(model, schema, tmp_path / "catboost")
    else:
        directory = write_schema(tmp_path / "catboost", model, X, "wine-catboost")
        model.save_model(str(directory / fmt))
    check(scorer, directory, resample(X, tmp_path / "wine.csv"), X, sklearn_own(model))


# -- ONNX -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("zipmap", [True, False])
def test_onnx_one_tensor(scorer: Scorer, tmp_path: Path, zipmap: bool) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = cancer()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    directory = write_schema(tmp_path / "onnx", pipeline, X, "cancer-onnx")
    onx = to_onnx(pipeline, X.to_numpy(np.float32)[:1], options={id(pipeline): {"zipmap": zipmap}},
                  target_opset=17)
    (directory / "model.onnx").write_bytes(onx.SerializeToString())
    check(scorer, directory, resample(X, tmp_path / "patients.csv"), X, sklearn_own(pipeline), atol=1e-6)


def test_onnx_one_input_per_column(scorer: Scorer, tmp_path: Path) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = wine()
    X["hue band"] = X["hue band"].astype(str)
    pipeline = make_pipeline(
        ColumnTransformer([("numbers", StandardScaler(), WINE_FEATURES),
                           ("bands", OneHotEncoder(handle_unknown="ignore"), ["hue band"])]),
        LogisticRegression(max_iter=500)).fit(X, y)
    inputs = [(name, FloatTensorType([None, 1])) for name in WINE_FEATURES] + [("hue band", StringTensorType([None, 1]))]
    onx = convert_sklearn(pipeline, initial_types=inputs, target_opset=17)
    directory = write_schema(tmp_path / "onnx", pipeline, X, "wine-onnx")
    (directory / "model.onnx").write_bytes(onx.SerializeToString())
    check(scorer, directory, resample(X, tmp_path / "wine.csv"), X, sklearn_own(pipeline), atol=1e-6)


def test_a_library_the_service_lacks_is_named_with_its_install_command(tmp_path: Path, model_dir: Path) -> None:
    from model.loading import load_model
    from model.schema import ModelError

    directory = shutil.copytree(model_dir, tmp_path / "model")
    (directory / "model.joblib").unlink()
    (directory / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelError, match="onnx cannot load"):
        load_model(directory)


# -- MLflow ---------------------------------------------------------------------------------------


def mlflow_save(flavour: str, model: Any, path: Path, X: pd.DataFrame, **options: Any) -> Path:
    from model.mlflow_model import import_mlflow

    mlflow = import_mlflow()
    import importlib

    import sklearn
    from mlflow.models import infer_signature

    module = importlib.import_module(f"mlflow.{flavour}")
    # Requirements given, not inferred (MLflow infers them by loading the model in a new process,
    # seconds per save); the requirements check reads them at deploy.
    library = {"lightgbm": "lightgbm", "xgboost": "xgboost-cpu", "catboost": "catboost"}.get(flavour)
    requirements = [f"scikit-learn=={sklearn.__version__}", f"mlflow=={mlflow.__version__}"]
    if library:
        from importlib import metadata

        requirements.append(f"{library}=={metadata.version(library)}")
    output = model.predict(X) if flavour != "pyfunc" else options["python_model"].predict(None, X)
    with warnings.catch_warnings():  # MLflow's advice to add an input example (its own code warns on it)
        warnings.filterwarnings("ignore", message=".*input example", category=UserWarning)
        module.save_model(path=str(path), signature=infer_signature(X, output), metadata={"version": f"{flavour}-1"},
                          pip_requirements=requirements,
                          **({"sk_model": model} if flavour == "sklearn" else {"lgb_model": model}
                             if flavour == "lightgbm" else {"xgb_model": model} if flavour == "xgboost"
                             else {"cb_model": model} if flavour == "catboost" else {}),
                          **options)
    assert mlflow is not None
    return path


def test_mlflow_sklearn_with_a_one_hot_encoder(scorer: Scorer, tmp_path: Path) -> None:
    """The README's recipe: skops, with numpy.dtype trusted (OneHotEncoder keeps its dtype)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = wine()
    X["hue band"] = X["hue band"].astype(str)
    pipeline = make_pipeline(
        ColumnTransformer([("numbers", StandardScaler(), WINE_FEATURES),
                           ("bands", OneHotEncoder(handle_unknown="ignore"), ["hue band"])]),
        LogisticRegression(max_iter=500)).fit(X, y)
    directory = mlflow_save("sklearn", pipeline, tmp_path / "mlflow", X, serialization_format="skops",
                            skops_trusted_types=["numpy.dtype"])
    check(scorer, directory, resample(X, tmp_path / "wine.csv"), X, sklearn_own(pipeline))


def test_mlflow_lightgbm_on_a_category_column(scorer: Scorer, tmp_path: Path) -> None:
    import lightgbm

    X, y = wine()
    model = lightgbm.LGBMClassifier(n_estimators=20, num_leaves=7, min_child_samples=5, verbose=-1).fit(X, y)
    directory = mlflow_save("lightgbm", model, tmp_path / "mlflow", X)
    check(scorer, directory, resample(X, tmp_path / "wine.csv"), X, sklearn_own(model))


def test_mlflow_xgboost_on_a_category_column(scorer: Scorer, tmp_path: Path) -> None:
    import xgboost

    X, y = wine()
    codes = y.map({name: k for k, name in enumerate(sorted(y.unique()))})
    model = xgboost.XGBClassifier(n_estimators=15, max_depth=3, enable_categorical=True, tree_method="hist",
                                  n_jobs=1).fit(X, codes)
    directory = mlflow_save("xgboost", model, tmp_path / "mlflow", X)
    check(scorer, directory, resample(X, tmp_path / "wine.csv"), X, sklearn_own(model))


def test_mlflow_catboost(scorer: Scorer, tmp_path: Path) -> None:
    import catboost

    X, y = wine()
    X["hue band"] = X["hue band"].astype(str)
    model = catboost.CatBoostClassifier(iterations=30, depth=3, cat_features=["hue band"], verbose=False,
                                        thread_count=1, random_seed=0, allow_writing_files=False).fit(X, y)
    directory = mlflow_save("catboost", model, tmp_path / "mlflow", X)
    check(scorer, directory, resample(X, tmp_path / "wine.csv"), X, sklearn_own(model))


def test_mlflow_custom_python_model_with_one_probability_column_per_class(scorer: Scorer, tmp_path: Path) -> None:
    """A PythonModel returning a DataFrame of probabilities, its own code shipped with
    code_paths: the label is the most probable class, the probability its column."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = cancer()
    code = tmp_path / "team_code"
    code.mkdir()
    (code / "team_probabilities.py").write_text(
        "import pandas as pd\n"
        "from mlflow.pyfunc import PythonModel\n\n\n"
        "class Probabilities(PythonModel):\n"
        "    def __init__(self, inner):\n"
        "        self.inner = inner\n\n"
        "    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:\n"
        "        return pd.DataFrame(self.inner.predict_proba(model_input), columns=list(self.inner.classes_))\n")
    import sys

    sys.path.insert(0, str(code))
    try:
        from team_probabilities import Probabilities  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(code))
    inner = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    python_model = Probabilities(inner)
    directory = mlflow_save("pyfunc", None, tmp_path / "mlflow", X, python_model=python_model,
                            code_paths=[str(code / "team_probabilities.py")])
    sys.modules.pop("team_probabilities", None)  # loaded again from the model's own code/ folder

    def own(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        proba = inner.predict_proba(frame)
        return np.asarray(inner.classes_)[proba.argmax(axis=1)], proba.max(axis=1)

    check(scorer, directory, resample(X, tmp_path / "patients.csv"), X, own)


def test_mlflow_requirements_the_service_lacks_are_named_with_the_install_command(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from model.loading import load_model
    from model.schema import ModelError

    X, y = cancer()
    directory = mlflow_save("sklearn", LogisticRegression(max_iter=500).fit(X, y), tmp_path / "mlflow", X)
    with (directory / "requirements.txt").open("a") as requirements:
        requirements.write("\nbeyond-missing-package==1.0\nscikit-learn==0.24.2\n")
    with pytest.raises(ModelError, match=r"needs beyond-missing-package.*pip install beyond-missing-package"):
        load_model(directory)
    (directory / "requirements.txt").write_text("scikit-learn==0.24.2\n")
    model = load_model(directory)
    assert any("scikit-learn 0.24.2 trained the model" in w for w in model.schema["mlflow"]["requirement_warnings"])


def test_a_native_format_deploys_from_a_zip(scorer: Scorer, tmp_path: Path) -> None:
    """The Models page's and the API's route: a .zip of a model.txt directory."""
    import io
    import zipfile

    import lightgbm

    X, y = wine()
    model = lightgbm.LGBMClassifier(n_estimators=10, num_leaves=7, min_child_samples=5, verbose=-1).fit(X, y)
    directory = write_schema(tmp_path / "lgbm", model, X, "wine-lgbm-zip")
    model.booster_.save_model(directory / "model.txt")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in directory.iterdir():
            bundle.write(path, f"wine-model/{path.name}")
    archive = tmp_path / "wine-model.zip"
    archive.write_bytes(buffer.getvalue())
    record = scorer.registry.deploy_archive(archive, "wine", None, activate=True, deployed_by="admin")
    assert (record.version, record.classes) == ("wine-lgbm-zip", sorted(y.unique()))
    check(scorer, record.directory(scorer.settings.models_dir), resample(X, tmp_path / "wine.csv"), X,
          sklearn_own(model))


def test_an_unseen_category_is_counted_and_reaches_the_model_as_missing(tmp_path: Path) -> None:
    """As astype(training dtype) makes it: LightGBM scores the row with the category missing,
    and the row_status names the unseen value."""
    import lightgbm

    from model.loading import load_model
    from model.predictions import prediction

    X, y = wine()
    model = lightgbm.LGBMClassifier(n_estimators=20, num_leaves=7, min_child_samples=5, verbose=-1).fit(X, y)
    directory = save_model(model, build_schema(model, X, "wine-lgbm"), tmp_path / "lgbm")
    rows = X.head(6).astype({"hue band": str})
    rows.loc[rows.index[[1, 4]], "hue band"] = "violet"
    source = tmp_path / "wine.csv"
    rows.to_csv(source, index=False)
    prediction(source, tmp_path / "out.xlsx", model=load_model(directory))
    result = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame = pd.read_csv(source)
    known = X["hue band"].cat.categories
    frame["hue band"] = frame["hue band"].where(frame["hue band"].isin(known))  # astype() refuses unseen values
    frame = frame.astype(X.dtypes.to_dict())
    assert frame["hue band"].isna().tolist() == [False, True, False, False, True, False]
    assert result["prediction"].tolist() == model.predict(frame).tolist()
    assert [("'violet'" in s) for s in result["row_status"]] == [False, True, False, False, True, False]


def test_a_tie_in_the_probabilities_gets_the_models_own_label(tmp_path: Path) -> None:
    """Beyond reads LogisticRegression's label from predict_proba (one pass over the data), but
    its predict decides by the sign of the score: at a score of 1e-17 both probabilities round
    to 0.5 and the argmax would say class 0 where predict says class 1."""
    from sklearn.linear_model import LogisticRegression

    from model.loading import load_model

    X = pd.DataFrame({"score": [-2.0, -1e-17, 0.0, 1e-17, 3e-10, 2.0] * 2})
    y = np.array(["no", "yes"] * 6)
    model = LogisticRegression().fit(X, y)
    model.coef_, model.intercept_ = np.array([[1.0]]), np.array([0.0])
    loaded = load_model(save_model(model, build_schema(model, X, "tie", profile=False), tmp_path / "tie"))
    assert loaded.predicts_argmax
    labels, best, _ = loaded.predict_classes(X)
    assert labels.tolist() == model.predict(X).tolist()
    np.testing.assert_allclose(best, proba_of(model.predict(X), model.predict_proba(X), model.classes_), rtol=0, atol=0)


# -- the libraries, installed by the project's own files ------------------------------------------


def test_make_install_adds_the_model_extras_asked_for_and_make_run_none() -> None:
    """`make install MODEL_EXTRAS=...` installs the pyproject extras (each a real library this
    suite uses); `make run` installs no model library; `make test` installs them all."""
    import subprocess
    import tomllib

    from tests.conftest import ROOT

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    tested = {line.split(">=")[0].strip() for line in (ROOT / "requirements-models.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    for name in ("lightgbm", "xgboost", "catboost", "onnx"):
        assert extras[name] and all(req.split(">=")[0] in tested | {"onnxruntime"} for req in extras[name])

    def dry_run(*args: str) -> str:
        done = subprocess.run(["make", "-n", "-B", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert 'pip install --quiet -e ".[lightgbm,xgboost]"' in dry_run("install", "MODEL_EXTRAS=lightgbm,xgboost")
    run = dry_run("run")
    assert "requirements-models.txt" not in run and ".[" not in run
    assert "pip install --quiet -r requirements-models.txt" in dry_run("test-fast")
