"""MLflow model directories: the signature becomes the schema, the model predicts like itself.

Models are saved by MLflow itself (mlflow.sklearn.save_model, mlflow.pyfunc.save_model) into
temporary directories and loaded from there; nothing talks to a tracking server."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from model.artifact import build_schema, save_model
from model.loading import load_model
from model.mlflow_model import import_mlflow, learned_string_columns
from model.predictions import prediction
from model.schema import FRACTION_FORMAT, MLMODEL_FILE, ModelError
from tests.conftest import breast_cancer_frame
from tests.model.test_typed_inputs import FEATURES, assert_same_answers, blank_if_missing, churn_frame, churn_pipeline, expected

mlflow = import_mlflow()
from mlflow.models import ModelSignature, infer_signature  # noqa: E402  (after import_mlflow: telemetry off)
from mlflow.types.schema import ColSpec, Schema  # noqa: E402

PLANS = ["bronze", "gold", "silver"]
# MLflow records the environment with every model; naming it skips the subprocess MLflow
# otherwise starts to infer it (seconds per save).
REQUIREMENTS = ["scikit-learn", "skops"]


@pytest.fixture(autouse=True)
def local_tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing here uses a tracking server; should MLflow look for one, it finds a local folder.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())


@contextmanager
def mlflow_advice_ignored() -> Iterator[None]:
    """Warnings MLflow gives while saving (errors under our warnings-as-errors test run):
    its hint that integer columns cannot hold missing values, its advice to save an input
    example, and pandas 3's deprecation of the way it compares column names with a range()."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*An input example was not provided", category=UserWarning)
        warnings.filterwarnings("ignore", message="Operation with range is deprecated", category=pd.errors.Pandas4Warning)
        yield


def signature(X: Any, y: Any) -> ModelSignature:
    with mlflow_advice_ignored():
        return infer_signature(X, y)


def save_sklearn(estimator: Any, path: Path, X: Any, y: Any, **options: Any) -> Path:
    options.setdefault("signature", signature(X, y))
    with mlflow_advice_ignored():
        mlflow.sklearn.save_model(estimator, str(path), pip_requirements=REQUIREMENTS, **options)
    return path


def save_pyfunc(path: Path, inputs: Schema | ModelSignature, **options: Any) -> Path:
    """A pyfunc-only model (Doubler) with this signature."""
    with mlflow_advice_ignored():
        mlflow.pyfunc.save_model(str(path), python_model=Doubler(), pip_requirements=REQUIREMENTS,
                                 signature=inputs if isinstance(inputs, ModelSignature) else ModelSignature(inputs=inputs),
                                 **options)
    return path


def plans_frame(rows: int, seed: int) -> pd.DataFrame:
    """Numbers (with gaps), an integer and a text category."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "charges": rng.normal(50, 15, rows).round(2),
        "seats": rng.integers(1, 40, rows),
        "plan": rng.choice(PLANS, rows),
        "tenure": rng.exponential(20, rows).round(1),
    })
    frame.loc[frame.index[::9], "charges"] = np.nan
    return frame


def plans_pipeline() -> Pipeline:
    columns = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), ["charges", "seats", "tenure"]),
        ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
    ])
    return Pipeline([("prepare", columns), ("classify", LogisticRegression(max_iter=1000))])


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, Path]]:
    X = plans_frame(400, seed=1)
    rng = np.random.default_rng(3)
    y = np.where((X["plan"] == "gold") ^ (rng.random(len(X)) < 0.25), "stays", "churns")
    pipeline = plans_pipeline().fit(X, y)
    directory = tmp_path_factory.mktemp("mlflow") / "plans"
    # skops (MLflow's default format) leaves numpy.dtype untrusted; SimpleImputer holds one
    save_sklearn(pipeline, directory, X, y, skops_trusted_types=["numpy.dtype"])
    yield pipeline, directory


def test_the_signature_becomes_the_schema(plans: tuple[Pipeline, Path]) -> None:
    _, directory = plans
    model = load_model(directory)
    info = mlflow.models.Model.load(str(directory))
    assert model.version == f"mlflow-{info.model_uuid}"
    assert model.features == ["charges", "seats", "plan", "tenure"]
    specs = {s.name: s for s in model.feature_specs}
    assert {n: s.type for n, s in specs.items()} == {
        "charges": "number", "seats": "integer", "plan": "category", "tenure": "number"}
    assert specs["plan"].categories == tuple(PLANS)  # from the fitted OneHotEncoder
    # charges had gaps in training, so MLflow marks it optional
    assert {n for n, s in specs.items() if not s.required} == {"charges"}
    assert model.schema["classes"] == ["churns", "stays"] and model.is_classifier
    assert model.schema["source"] == "mlflow" and model.schema["mlflow"]["flavors"] == ["python_function", "sklearn"]


def test_an_mlflow_pipeline_predicts_what_it_predicts_on_read_csv(tmp_path: Path, plans: tuple[Pipeline, Path]) -> None:
    pipeline, directory = plans
    frame = plans_frame(300, seed=5)
    frame.loc[[4, 7], "plan"] = ["platinum", np.nan]  # unseen and missing: the encoder ignores both
    frame.insert(0, "customer", [f"C{i:04d}" for i in range(len(frame))])
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    read = pd.read_csv(source)
    proba = pipeline.predict_proba(read[["charges", "seats", "plan", "tenure"]])
    best = proba.argmax(axis=1)
    out = prediction(source, tmp_path / "out.xlsx", model_dir=directory, chunk_rows=64)
    assert_same_answers(out, list(pipeline.classes_[best]), proba[np.arange(len(best)), best])


def test_an_mlflow_model_zipped_deploys_through_the_registry_and_predicts_the_same(  # type: ignore[no-untyped-def]
        tmp_path: Path, plans: tuple[Pipeline, Path], settings, db) -> None:
    from app.core.registry.models import Registry

    pipeline, directory = plans
    archive = shutil.make_archive(str(tmp_path / "plans"), "zip", root_dir=directory.parent, base_dir=directory.name)
    registry = Registry(db, settings)
    record = registry.deploy_archive(Path(archive), "plans", activate=True, deployed_by="admin")
    assert record.version == load_model(directory).version and record.active
    frame = plans_frame(120, seed=9)
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    proba = pipeline.predict_proba(pd.read_csv(source)[["charges", "seats", "plan", "tenure"]])
    best = proba.argmax(axis=1)
    out = prediction(source, tmp_path / "out.xlsx", model_dir=record.directory(settings.models_dir), chunk_rows=50)
    assert_same_answers(out, list(pipeline.classes_[best]), proba[np.arange(len(best)), best])


def test_the_default_model_as_mlflow_predicts_like_our_copy(tmp_path: Path, model_dir: Path) -> None:
    ours = load_model(model_dir)
    X = breast_cancer_frame(100, seed=3)[ours.features]
    directory = save_sklearn(ours.estimator, tmp_path / "mlflow", X, ours.estimator.predict(X),
                             skops_trusted_types=["numpy.dtype"], metadata={"version": "breast-cancer-logreg-1-mlflow"})
    theirs = load_model(directory)
    assert theirs.version == "breast-cancer-logreg-1-mlflow"
    assert theirs.features == ours.features and theirs.schema["classes"] == ours.schema["classes"]
    assert all(s.type == "number" and s.required for s in theirs.feature_specs)

    source = tmp_path / "patients.csv"
    breast_cancer_frame(500, seed=4).to_csv(source, index=False)
    a = prediction(source, tmp_path / "ours.xlsx", model=ours)
    b = prediction(source, tmp_path / "theirs.xlsx", model=theirs)
    # the CSV results, row for row: every input cell, the label and its probability (not the
    # row_status: ours has a training profile to judge rows against, the MLflow copy none)
    ours_csv = pd.read_csv(a.with_suffix(".csv"), dtype=str, keep_default_na=False)
    theirs_csv = pd.read_csv(b.with_suffix(".csv"), dtype=str, keep_default_na=False)
    assert list(ours_csv.columns) == list(theirs_csv.columns) and ours_csv.columns[-1] == "row_status"
    pd.testing.assert_frame_equal(theirs_csv.iloc[:, :-1], ours_csv.iloc[:, :-1])


def test_every_column_type_and_gaps_as_read_csv_gives_them(tmp_path: Path) -> None:
    """The typed churn pipeline (tests/model/test_typed_inputs.py: category, integer, number,
    boolean, datetime, text) saved by MLflow gets the schema build_schema infers from the
    training data, and scores a CSV with gaps (an integer column with missing cells among
    them, which MLflow's pyfunc schema enforcement would refuse) like the pipeline itself."""
    train = churn_frame(600, seed=1)
    X = train[FEATURES]
    y = np.where(X["plan"].eq("gold") ^ (np.random.default_rng(2).random(len(X)) < 0.2), "stays", "churns")
    pipeline = churn_pipeline().fit(X, y)
    # its FunctionTransformers hold functions of this test suite: not a skops file's business
    directory = save_sklearn(pipeline, tmp_path / "churn", X, y, serialization_format="cloudpickle",
                             input_example=X.head(5))
    model = load_model(directory)
    ours = build_schema(pipeline, X, "v")["features"]
    assert [(s.name, s.type, s.categories, s.format) for s in model.feature_specs] == [
        (f["name"], f["type"], tuple(f.get("categories", ())), f.get("format")) for f in ours]

    frame = churn_frame(300, seed=7, gaps=True)
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    labels, probability = expected(pipeline, pd.read_csv(source, parse_dates=["signup"]))
    assert_same_answers(prediction(source, tmp_path / "out.xlsx", model=model, chunk_rows=100), labels, probability,
                        unscored=[0])  # row 0 has every feature empty: not scored



class Doubler(mlflow.pyfunc.PythonModel):
    """A pyfunc-only model: twice the first column."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return model_input.iloc[:, 0].to_numpy(dtype=float) * 2


ALL_TYPES = Schema([
    ColSpec("double", "a"), ColSpec("float", "b"), ColSpec("long", "c"), ColSpec("integer", "d"),
    ColSpec("boolean", "e"), ColSpec("string", "f"), ColSpec("datetime", "g", required=False),
])


def test_a_pyfunc_model_predicts_without_probability(tmp_path: Path) -> None:
    model = load_model(save_pyfunc(tmp_path / "doubler", ALL_TYPES, metadata={"version": 7}))
    assert model.version == "7" and not model.is_classifier
    assert [(s.name, s.type, s.dtype, s.required) for s in model.feature_specs] == [
        ("a", "number", "float64", True), ("b", "number", "float32", True), ("c", "integer", "int64", True),
        ("d", "integer", "int32", True), ("e", "boolean", "bool", True), ("f", "category", "object", True),
        ("g", "datetime", "datetime64[us]", False)]
    assert model.feature_specs[5].categories == ()  # nothing tells the categories
    assert model.feature_specs[6].format == FRACTION_FORMAT  # no input example tells the format

    source = tmp_path / "in.csv"
    source.write_text("a,b,c,d,e,f\n1.5,2,3,4,true,x\n-2,0,1,1,no,y\n", encoding="utf-8")
    out = prediction(source, tmp_path / "out.xlsx", model=model)
    result = pd.read_csv(out.with_suffix(".csv"), encoding="utf-8-sig")
    assert result["prediction"].tolist() == [3.0, -4.0] and "probability" not in result
    # MLflow takes no missing values in an integer column; the upload check does: the model's
    # refusal leaves that row unscored, saying why, and the others scored
    source.write_text("a,b,c,d,e,f\n1.5,2,,4,true,x\n-2,0,1,1,no,y\n", encoding="utf-8")
    out = prediction(source, tmp_path / "gap.xlsx", model=model)
    gap = pd.read_csv(out.with_suffix(".csv"), encoding="utf-8-sig", keep_default_na=False)
    assert gap["prediction"].astype(str).tolist() == ["", "-4.0"]
    assert gap["row_status"][0].startswith("not scored: the model cannot take this row's values")
    assert "Column 'c' has missing cells" in gap["row_status"][0] and gap["row_status"][1] == ""


def test_the_datetime_format_comes_from_the_input_example(tmp_path: Path) -> None:
    X = pd.DataFrame({"when": pd.to_datetime(["2024-01-05", "2024-02-29"]), "x": [1.0, 2.0]})
    directory = save_pyfunc(tmp_path / "dated", signature(X, None), input_example=X)
    assert load_model(directory).feature_specs[0].format == "%Y-%m-%d"


def test_a_model_without_a_signature_is_refused(tmp_path: Path) -> None:
    X = plans_frame(50, seed=1)
    pipeline = plans_pipeline().fit(X, X["plan"])
    directory = save_sklearn(pipeline, tmp_path / "bare", X, None, signature=False, skops_trusted_types=["numpy.dtype"])
    with pytest.raises(ModelError, match=r"MLflow model without a signature: save it with signature=infer_signature\(X, y\)"):
        load_model(directory)


@pytest.mark.parametrize(("inputs", "message"), [
    (Schema([ColSpec("double", "a"), ColSpec("binary", "blob")]), "column 'blob' has the type"),
    (Schema([ColSpec("double")]), "unnamed columns"),
])
def test_a_signature_a_csv_cannot_fill_is_refused(tmp_path: Path, inputs: Schema, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        load_model(save_pyfunc(tmp_path / "odd", inputs))


def test_a_tensor_signature_is_refused(tmp_path: Path) -> None:
    X = breast_cancer_frame(40)[["mean radius", "mean texture"]].to_numpy()
    y = (X[:, 0] > 14).astype(int)
    directory = save_sklearn(LogisticRegression().fit(X, y), tmp_path / "tensor", X, y)
    with pytest.raises(ModelError, match="describes tensors"):
        load_model(directory)


def test_a_version_longer_than_the_column_is_refused(tmp_path: Path) -> None:
    X = plans_frame(50, seed=1)
    pipeline = plans_pipeline().fit(X, X["plan"])
    directory = save_sklearn(pipeline, tmp_path / "long", X, X["plan"], skops_trusted_types=["numpy.dtype"],
                             metadata={"version": "v" * 65})
    with pytest.raises(ModelError, match="metadata version: .* 65 characters long; at most 64"):
        load_model(directory)


class Shout(StandardScaler):
    """A class of this test suite: skops stores it by name, so loading it imports our code."""


def test_untrusted_skops_types_are_refused_whatever_mlmodel_says(tmp_path: Path) -> None:
    X = plans_frame(50, seed=1)[["charges", "seats"]].fillna(0)
    y = np.where(X["seats"] > 20, "big", "small")
    model = make_pipeline(Shout(), LogisticRegression()).fit(X, y)
    # MLflow loads what the MLmodel file's skops_trusted_types lists; we do not
    directory = save_sklearn(model, tmp_path / "shout", X, y, skops_trusted_types=[f"{__name__}.Shout"])
    with pytest.raises(ModelError, match=rf"holds types Beyond does not trust: {__name__}\.Shout\b"):
        load_model(directory)


def test_a_tree_model_loads(tmp_path: Path) -> None:
    """sklearn.tree._tree.Tree, which skops leaves untrusted, is scikit-learn's: trusted."""
    X = plans_frame(80, seed=1)[["seats", "tenure"]]
    y = np.where(X["seats"] > 20, "big", "small")
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    directory = save_sklearn(forest, tmp_path / "forest", X, y, skops_trusted_types=["sklearn.tree._tree.Tree"])
    model = load_model(directory)
    labels, probability = model.predict(X)
    assert list(labels) == list(forest.predict(X))
    assert probability is not None and np.allclose(probability, forest.predict_proba(X).max(axis=1))


def test_the_cache_follows_the_files(tmp_path: Path, plans: tuple[Pipeline, Path]) -> None:
    directory = shutil.copytree(plans[1], tmp_path / "copy")
    first = load_model(directory)
    assert load_model(directory) is first
    stamp = (directory / MLMODEL_FILE).stat().st_mtime + 5
    os.utime(directory / MLMODEL_FILE, (stamp, stamp))
    second = load_model(directory)
    assert second is not first and second.version == first.version
    assert load_model(directory) is second
    (directory / "notes.txt").write_text("a file added beside the model", encoding="utf-8")
    assert load_model(directory) is not second


def test_learned_string_columns_reads_encoders_and_vectorizers() -> None:
    X = pd.DataFrame({"plan": ["a", "b", "a", None], "size": ["S", "M", "L", "M"], "note": ["good day", "bad day", "fine", None],
                      "n": [1.0, 2.0, 3.0, 4.0]})
    columns = ColumnTransformer([
        ("plan", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()), ["plan"]),
        ("size", OrdinalEncoder(), [1]),  # by position
        ("note", make_pipeline(FunctionTransformer(blank_if_missing), TfidfVectorizer()), "note"),
    ], remainder="passthrough")
    pipeline = Pipeline([("prepare", columns), ("classify", LogisticRegression())]).fit(X, [0, 1, 0, 1])
    assert learned_string_columns(pipeline, list(X.columns)) == {
        "plan": ("category", ("a", "b")), "size": ("category", ("L", "M", "S")), "note": ("text", ())}


def test_an_estimator_without_predict_is_refused(tmp_path: Path) -> None:
    X = plans_frame(50, seed=1)[["charges", "seats"]].fillna(0)
    scaler = StandardScaler().fit(X)
    directory = save_sklearn(scaler, tmp_path / "scaler", X, scaler.transform(X))
    with pytest.raises(ModelError, match="is a StandardScaler, which has no predict"):
        load_model(directory)


def test_our_save_model_leaves_an_mlflow_directory_alone(plans: tuple[Pipeline, Path], tmp_path: Path) -> None:
    directory = shutil.copytree(plans[1], tmp_path / "copy")
    before = sorted(p.name for p in directory.iterdir())
    with pytest.raises(ModelError, match="holds an MLflow model"):
        save_model(plans[0], {"version": "v1", "features": [{"name": "charges"}]}, directory)
    assert sorted(p.name for p in directory.iterdir()) == before


def test_an_mlflow_model_deployed_beside_the_default_scores_through_the_worker(
        tmp_path: Path, model_dir: Path, settings: Any, db: Any, jobs: Any, alice: Any) -> None:
    """deploy-model's core with an MLflow directory: registered beside the default model, an
    upload naming it is scored by a worker exactly as the default model scores the same file."""
    from app.core.jobs.records import Status
    from app.core.jobs.submissions import submit_path
    from app.core.registry.models import Registry
    from scheduler.worker import Worker

    ours = load_model(model_dir)
    X = breast_cancer_frame(100, seed=3)[ours.features]
    directory = save_sklearn(ours.estimator, tmp_path / "mlflow", X, ours.estimator.predict(X),
                             skops_trusted_types=["numpy.dtype"], metadata={"version": "bc-mlflow-1"})
    registry = Registry(db, settings)
    record = registry.deploy(directory, "bc-mlflow", activate=True)
    assert (record.name, record.version, len(record.sha256)) == ("bc-mlflow", "bc-mlflow-1", 64)
    source = tmp_path / "patients.csv"
    breast_cancer_frame(200, seed=5).to_csv(source, index=False)
    theirs = submit_path(settings, jobs, alice.id, source, model="bc-mlflow")
    default = submit_path(settings, jobs, alice.id, source)
    worker = Worker(settings, db)
    done = [worker.run_claim(worker.claim(job.id)) for job in (theirs, default)]
    assert [(j.status, j.model_name) for j in done] == [(Status.PROCESS_OK, "bc-mlflow"),
                                                          (Status.PROCESS_OK, "breast-cancer")]
    results = [pd.read_csv(settings.output_dir / j.path_result_csv, dtype=str, keep_default_na=False,
                           encoding="utf-8-sig") for j in done]
    # The same answers; only the row_status differs: the MLflow copy has no training profile
    # (deployed without --sample), so no row is "outside training range" for it; and the
    # row_id, which names each job.
    assert [r["row_id"].str.split("-").str[1].tolist() for r in results] == [
        [str(n) for n in range(2, 2 + len(results[0]))]] * 2
    pd.testing.assert_frame_equal(results[0].drop(columns=["row_id", "row_status"]),
                                  results[1].drop(columns=["row_id", "row_status"]))
    assert (results[0]["row_status"] == "").all()


def test_deploy_with_a_sample_gives_an_mlflow_model_a_training_profile(
        tmp_path: Path, model_dir: Path, settings: Any, db: Any, jobs: Any, alice: Any) -> None:
    """deploy-model --sample: the signature gives the columns, the sample their statistics
    (profile.json in the deployed copy, part of its hash); jobs then get a real report."""
    from app.core.jobs.quality import QualityReports
    from app.core.jobs.submissions import submit_path
    from app.core.registry.models import Registry
    from scheduler.worker import Worker

    ours = load_model(model_dir)
    X = breast_cancer_frame(300, seed=8)[ours.features]
    directory = save_sklearn(ours.estimator, tmp_path / "mlflow", X, ours.estimator.predict(X),
                             skops_trusted_types=["numpy.dtype"], metadata={"version": "bc-mlflow-2"})
    assert load_model(directory).profile is None
    sample = tmp_path / "sample.csv"
    X.to_csv(sample, index=False)
    registry = Registry(db, settings)
    with pytest.raises(Exception, match="does not fit the model"):
        bad = tmp_path / "bad.csv"
        X.drop(columns=["mean area"]).to_csv(bad, index=False)
        registry.deploy(directory, "bc-bad", sample=bad)
    record = registry.deploy(directory, "bc-profiled", activate=True, sample=sample)
    deployed = registry.load(record)
    profile = deployed.profile
    assert profile is not None and profile["rows"] == 300
    area = X["mean area"].to_numpy()
    assert profile["features"]["mean area"]["max"] == area.max()
    np.testing.assert_allclose(profile["features"]["mean area"]["edges"],
                               np.unique(np.quantile(area, np.linspace(0.1, 0.9, 9))), rtol=0, atol=1e-9)
    assert set(profile["predictions"]["shares"]) <= {"benign", "malignant"}
    source = tmp_path / "patients.csv"
    breast_cancer_frame(100, seed=9).to_csv(source, index=False)
    job = submit_path(settings, jobs, alice.id, source, model="bc-profiled")
    worker = Worker(settings, db)
    done = worker.run_claim(worker.claim(job.id))
    report = QualityReports(db).report(done)
    assert report is not None and report["profile"] is True and report["status"] in ("ok", "warning", "alert")
