"""Trust each prediction: the training profile, the row status, the job's quality report (in the
result, the database and the API).  Figures are checked against numpy computations written
here, on the same data, not against the code's own output."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from model.artifact import build_schema, save_model
from model.loading import load_model
from model.predictions import prediction
from model.train import SEED
from tests.conftest import breast_cancer_frame

DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def training_frame() -> pd.DataFrame:
    """The rows the default model was trained on (model/train.py's split)."""
    data = load_breast_cancer(as_frame=True)
    y = data.target.map(dict(enumerate(data.target_names))).astype(object)
    X_train, _, _, _ = train_test_split(data.data, y, test_size=0.2, random_state=SEED, stratify=y)
    return X_train


def resampled(rows: int, seed: int) -> pd.DataFrame:
    X = training_frame()
    rng = np.random.default_rng(seed)
    picked = X.iloc[rng.integers(0, len(X), rows)].reset_index(drop=True)
    picked.insert(0, "patient_id", [f"P{i:06d}" for i in range(rows)])
    return picked


def numpy_psi(upload: np.ndarray, train: np.ndarray) -> float:
    """PSI over the training deciles, from scratch: np.digitize(right=True) puts x in bin i when
    edges[i-1] < x <= edges[i]; empty bins count as 0.0001."""
    edges = np.unique(np.quantile(train, DECILES))
    t = np.bincount(np.digitize(train, edges, right=True), minlength=len(edges) + 1) / len(train)
    u = np.bincount(np.digitize(upload, edges, right=True), minlength=len(edges) + 1) / len(upload)
    t, u = np.maximum(t, 1e-4), np.maximum(u, 1e-4)
    return float(np.sum((u - t) * np.log(u / t)))


def run(source: Path, out: Path, model_dir: Path) -> dict:
    found: dict = {}
    prediction(source, out, model_dir=model_dir, quality=found.update, chunk_rows=700)
    return found


def result_rows(xlsx: Path, sheet: str = "predictions") -> list[tuple]:
    book = openpyxl.load_workbook(xlsx, read_only=True)
    rows = [tuple(r) for r in book[sheet].iter_rows(values_only=True)]
    book.close()
    return rows


# -- the profile ------------------------------------------------------------------------------------
def test_the_default_model_ships_a_profile_of_its_training_data(model_dir: Path) -> None:
    model = load_model(model_dir)
    profile = model.profile
    assert profile is not None and profile["rows"] == 455
    X = training_frame()
    for name in ("mean area", "worst texture", "smoothness error"):
        entry = profile["features"][name]
        values = X[name].to_numpy()
        edges = np.unique(np.quantile(values, DECILES))
        assert entry["type"] == "number" and entry["missing_rate"] == 0.0
        assert entry["min"] == values.min() and entry["max"] == values.max()
        np.testing.assert_allclose(entry["edges"], edges, rtol=0, atol=1e-12)
        shares = np.bincount(np.digitize(values, edges, right=True), minlength=len(edges) + 1) / len(values)
        np.testing.assert_allclose(entry["shares"], shares, rtol=0, atol=1e-12)
    labels = model.estimator.predict(X)
    predicted = profile["predictions"]["shares"]
    assert predicted == pytest.approx({c: float(np.mean(labels == c)) for c in ("benign", "malignant")}, abs=1e-12)


def test_categories_and_booleans_get_shares_and_a_model_without_profile_still_scores(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(1)
    X = pd.DataFrame({"plan": rng.choice(["basic", "pro", "team"], 400, p=[0.5, 0.3, 0.2]).astype(object),
                      "autopay": rng.random(400) < 0.25, "seats": rng.integers(1, 30, 400)})
    y = (X["seats"] > 15).map({True: "big", False: "small"})
    pipeline = make_pipeline(ColumnTransformer([("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"])],
                                               remainder="passthrough"), LogisticRegression(max_iter=500)).fit(X, y)
    schema = build_schema(pipeline, X, "plans-1")
    features = schema["profile"]["features"]
    assert features["plan"]["shares"] == pytest.approx(X["plan"].value_counts(normalize=True).to_dict())
    assert features["autopay"]["shares"] == pytest.approx({"true": float(X["autopay"].mean()),
                                                           "false": float(1 - X["autopay"].mean())})
    directory = save_model(pipeline, schema, tmp_path / "plans")
    upload = X.head(60).copy()
    upload.loc[3, "plan"] = "ultra"
    upload.to_csv(tmp_path / "in.csv", index=False)
    report = run(tmp_path / "in.csv", tmp_path / "out.xlsx", directory)
    assert report["features"][0]["unseen"] == 1
    rows = result_rows(tmp_path / "out.xlsx")
    assert rows[0][-1] == "row_status" and rows[4][-1] == "unseen category: plan='ultra'"
    assert rows[4][-3] in ("big", "small")  # an unseen category is scored, only flagged

    bare = save_model(pipeline, build_schema(pipeline, X, "plans-2", profile=False), tmp_path / "bare")
    report = run(tmp_path / "in.csv", tmp_path / "bare.xlsx", bare)
    assert report["status"] == "unknown" and report["reason"] == "no training profile"
    assert all(r[-3] in ("big", "small") for r in result_rows(tmp_path / "bare.xlsx")[1:])


# -- the report -------------------------------------------------------------------------------------
def test_a_file_resampled_from_the_training_data_is_ok_with_nothing_flagged(tmp_path: Path, model_dir: Path) -> None:
    resampled(3000, seed=5).to_csv(tmp_path / "in.csv", index=False)
    report = run(tmp_path / "in.csv", tmp_path / "out.xlsx", model_dir)
    assert report["status"] == "ok", report["reason"]
    assert report["drifted_features"] == [] and report["rows_flagged"] == 0 and report["rows"] == 3000
    assert all(f["status"] == "ok" for f in report["features"])
    assert report["predictions"]["status"] == "ok"


def test_shifted_features_are_named_exactly_with_numpy_checked_figures(tmp_path: Path, model_dir: Path) -> None:
    upload = resampled(2000, seed=6)
    upload["mean area"] *= 1.8
    upload["worst texture"] += 12.0
    upload.to_csv(tmp_path / "in.csv", index=False)
    report = run(tmp_path / "in.csv", tmp_path / "out.xlsx", model_dir)
    assert sorted(report["drifted_features"]) == ["mean area", "worst texture"]
    assert report["status"] == "alert"
    X = training_frame()
    shown = pd.read_csv(tmp_path / "in.csv")  # what was uploaded, read back
    by_name = {f["name"]: f for f in report["features"]}
    for name in ("mean area", "worst texture", "mean radius"):
        values, train = shown[name].to_numpy(), X[name].to_numpy()
        assert by_name[name]["psi"] == pytest.approx(numpy_psi(values, train), abs=1e-5)
        outside = int(np.count_nonzero((values < train.min()) | (values > train.max())))
        assert by_name[name]["out_of_range"] == outside
    assert by_name["mean area"]["psi"] >= 0.25 and by_name["mean radius"]["psi"] < 0.1

    # the quality sheet holds the same table, statuses coloured
    book = openpyxl.load_workbook(tmp_path / "out.xlsx")
    sheet = book["quality"]
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["feature", "type", "status"]
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert cells["mean area"][2].value == "alert" and cells["mean radius"][2].value == "ok"
    assert cells["mean area"][2].fill.fgColor.rgb == "FFFFC7CE" and cells["mean radius"][2].fill.fgColor.rgb == "FFC6EFCE"
    assert cells["mean area"][7].value == pytest.approx(by_name["mean area"]["psi"])
    book.close()


def test_an_empty_row_an_overflow_and_a_missing_cell_are_flagged_by_row_and_column(
        tmp_path: Path, model_dir: Path) -> None:
    frame = breast_cancer_frame(40, seed=2)
    features = load_model(model_dir).features
    frame.loc[4, features] = np.nan  # row 6 of the sheet
    frame.loc[9, "mean smoothness"] = 1e308  # row 11
    frame.loc[14, "mean texture"] = np.nan  # row 16
    frame.to_csv(tmp_path / "in.csv", index=False)
    report = run(tmp_path / "in.csv", tmp_path / "out.xlsx", model_dir)
    rows = result_rows(tmp_path / "out.xlsx")
    header = rows[0]
    status_at, prediction_at = header.index("row_status"), header.index("prediction")
    assert header[-3:] == ("prediction", "probability", "row_status")
    assert rows[5][status_at] == "no data: every feature is empty" and rows[5][prediction_at] is None
    assert rows[10][prediction_at] is None
    assert rows[10][status_at].startswith("not scored: the model cannot take this row's values (")
    assert rows[10][status_at].endswith("; outside training range: mean smoothness (1.0e308 > 0.1634)")
    assert rows[15][status_at] == "missing: mean texture" and rows[15][prediction_at] in ("benign", "malignant")
    scored = [r for i, r in enumerate(rows[1:]) if i not in (4, 9)]
    assert all(r[prediction_at] in ("benign", "malignant") for r in scored)
    assert report["rows_not_scored"] == 2 and report["rows_flagged"] >= 3
    assert report["status"] in ("warning", "alert")
    twin = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8-sig"))))
    assert twin[0][-1] == "row_status" and twin[5][-1] == "no data: every feature is empty"
    assert twin[10][-3:-1] == ["", ""] and twin[15][-1] == "missing: mean texture"


# -- through the worker, the database and the API (both engines) -----------------------------------
def test_the_job_ends_process_ok_and_the_api_serves_its_report(  # type: ignore[no-untyped-def]
        api_client, settings, db, alice, bearer, model_dir) -> None:
    from scheduler.worker import Worker

    frame = breast_cancer_frame(600, seed=3)
    features = load_model(model_dir).features
    frame.loc[0, features] = np.nan
    frame.loc[1, "mean smoothness"] = 1e308
    frame.loc[2, "mean radius"] = np.nan
    content = frame.to_csv(index=False).encode()
    headers = bearer(alice)
    created = api_client.post("/api/jobs", headers=headers, files={"file": ("p.csv", content, "text/csv")})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert created.json()["quality"] is None
    early = api_client.get(f"/api/jobs/{job_id}/quality", headers=headers)
    assert early.status_code == 409 and "no quality report" in early.json()["error"]
    worker = Worker(settings, db)
    job = worker.run_claim(worker.claim(job_id))
    assert job.status.value == "PROCESS OK", job.error_message

    body = api_client.get(f"/api/jobs/{job_id}", headers=headers).json()
    assert body["quality"]["status"] in ("warning", "alert")
    assert body["quality"]["rows_flagged"] >= 3 and body["quality"]["rows_not_scored"] == 2
    listed = api_client.get("/api/jobs", headers=headers).json()["jobs"]
    assert listed[0]["quality"] == body["quality"]
    report = api_client.get(f"/api/jobs/{job_id}/quality", headers=headers).json()
    assert report["rows"] == 600 and report["rows_not_scored"] == 2 and report["model"] == settings.default_model
    names = [f["name"] for f in report["features"]]
    assert names == features
    radius = next(f for f in report["features"] if f["name"] == "mean radius")
    assert radius["missing_rate"] == pytest.approx(2 / 600)  # the empty row and row 2
    assert set(radius) >= {"name", "type", "missing_rate", "out_of_range", "unseen", "psi", "status"}

    over_time = api_client.get(f"/api/models/{settings.default_model}/quality", headers=headers).json()
    assert [j["job_id"] for j in over_time["jobs"]] == [job_id]
    assert over_time["jobs"][0]["psi"]["mean radius"] == radius["psi"]
    assert api_client.get("/api/models/nope/quality", headers=headers).status_code == 404

    assert api_client.delete(f"/api/jobs/{job_id}", headers=headers).status_code == 200
    assert db.one("job_quality_get", {"job_id": job_id}) is None


def test_bin_counts_equal_a_binary_search_per_value() -> None:
    # bin_counts (one vectorised count per edge) must count exactly as searchsorted + bincount
    # did, including duplicate edges, values on an edge, infinities and NaN (in no bin).
    from model.profile import bin_counts

    rng = np.random.default_rng(7)
    for trial in range(50):
        values = np.round(rng.normal(0, 3, int(rng.integers(1, 3000))), int(rng.integers(0, 3)))
        values[rng.random(len(values)) < 0.05] = np.nan
        values[rng.random(len(values)) < 0.01] = np.inf
        values[rng.random(len(values)) < 0.01] = -np.inf
        edges = np.sort(np.concatenate([rng.choice(values[np.isfinite(values)], 6), [0.0, 0.0]]))
        present = values[~np.isnan(values)]
        expected = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
        assert bin_counts(values, edges, len(present)).tolist() == expected.tolist(), trial
    assert bin_counts(np.array([]), [1.0, 2.0]).tolist() == [0, 0, 0]


def test_the_whole_matrix_check_counts_like_numpy_per_column(model_dir: Path) -> None:
    """QualityCheck counts every X column at once (one comparison per edge over the chunk,
    counted eight cells at a time) and screens columns before it looks at rows: its bins,
    missing and out-of-range counts and each row's texts must equal a per-column numpy count
    and a per-cell construction written here, for chunks of any length (not multiples of 8,
    shorter than 8), values on the edges, infinities, NaN and rows with no data."""
    from model.quality import QualityCheck, short_number

    model = load_model(model_dir)
    names = model.features
    profile = model.profile["features"]
    rng = np.random.default_rng(11)
    check = QualityCheck(model, names)
    beside = QualityCheck(model, names, background=True)  # the bins counted in a thread of their own
    chunks = []
    for n in (0, 1, 7, 8, 9, 700, 1003):
        X = training_frame()[names].to_numpy()[rng.integers(0, 455, n)] * rng.normal(1.0, 0.08, (n, len(names)))
        edges = [profile[f]["edges"] for f in names]
        for k in rng.integers(0, len(names), n // 3 + 1 if n else 0):  # values exactly on an edge
            X[rng.integers(0, n), k] = edges[k][rng.integers(0, len(edges[k]))]
        X[rng.random(X.shape) < 0.02] = np.nan
        X[rng.random(X.shape) < 0.002] = np.inf
        X[rng.random(X.shape) < 0.002] = -np.inf
        if n > 5:
            X[3] = np.nan  # a row with no data
        X = np.asfortranarray(X)
        chunks.append(X)
        found = check.check(X, None)
        statuses = check.statuses(found, {})
        beside.statuses(beside.check(X, None), {})
        texts = statuses.tolist() if statuses is not None else [""] * n
        for i in range(n):  # each row's text, cell by cell
            missing = [f for k, f in enumerate(names) if np.isnan(X[i, k])]
            if len(missing) == len(names):
                assert texts[i] == "no data: every feature is empty"
                continue
            outside = []
            for k, f in enumerate(names):
                low, high = profile[f]["min"], profile[f]["max"]
                if X[i, k] > high:
                    outside.append(f"{f} ({short_number(X[i, k])} > {short_number(high)})")
                elif X[i, k] < low:
                    outside.append(f"{f} ({short_number(X[i, k])} < {short_number(low)})")
            parts = (["missing: " + ", ".join(missing)] if missing else []) + (
                ["outside training range: " + ", ".join(outside)] if outside else [])
            assert texts[i] == "; ".join(parts), (n, i)
    report = check.report()
    whole = np.concatenate(chunks)
    by_name = {f["name"]: f for f in report["features"]}
    for k, f in enumerate(names):
        values = whole[:, k]
        present = values[~np.isnan(values)]
        edges = np.asarray(profile[f]["edges"])
        counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
        assert by_name[f]["bins"]["upload"] == pytest.approx((counts / len(present)).tolist()), f
        assert by_name[f]["missing_rate"] == pytest.approx(np.isnan(values).mean())
        low, high = profile[f]["min"], profile[f]["max"]
        assert by_name[f]["out_of_range"] == int(np.count_nonzero((present < low) | (present > high)))
    assert report["rows"] == len(whole)
    assert beside.report() == report


def test_short_numbers_for_status_texts() -> None:
    from model.quality import short_number, short_numbers

    values = [2501.0, 0.16341, 12345.6, 1e308, -0.0, 0.0, np.inf, -np.inf, np.nan, -3.14159, 0.001234,
              999999.4, 1e-4, -2.5e7, 100.0, 25.127, 0.1]
    expected = ["2501", "0.1634", "12346", "1.0e308", "0", "0", "inf", "-inf", "nan", "-3.142", "0.001234",
                "999999", "1.0e-4", "-2.5e7", "100", "25.13", "0.1"]
    assert short_numbers(np.array(values)) == expected
    assert [short_number(v) for v in values] == expected
    assert short_numbers(np.array([])) == []


def test_a_regressors_predictions_are_binned_and_without_a_profile_not_counted_as_labels(tmp_path: Path) -> None:
    """A regressor's predictions are numbers: the report bins them against the training
    predictions' deciles (PSI checked with numpy here); without a profile they are not
    turned into one category per distinct value (a million labels in the report)."""
    from sklearn.linear_model import LinearRegression

    train = training_frame()
    features = ["mean radius", "mean texture"]
    regressor = LinearRegression().fit(train[features], train["mean area"])
    upload = resampled(1500, seed=9)
    upload.to_csv(tmp_path / "in.csv", index=False)
    for profiled in (True, False):
        directory = save_model(regressor, build_schema(regressor, train[features], version="area-1", profile=profiled),
                               tmp_path / f"m{profiled}")
        report = run(tmp_path / "in.csv", tmp_path / f"out{profiled}.xlsx", directory)
        predictions = report["predictions"]
        if profiled:
            expected = numpy_psi(regressor.predict(upload[features]), regressor.predict(train[features]))
            assert predictions["type"] == "number" and predictions["psi"] == pytest.approx(expected, abs=1e-5)
            assert predictions["status"] == "ok" and report["status"] == "ok"
        else:
            assert predictions["psi"] is None and predictions.get("categories", {}).get("labels", []) == []
            assert report["status"] == "unknown"


def test_a_job_that_stops_leaves_no_thread_behind(tmp_path: Path, model_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The decile counts run in a thread beside the job; a job stopped by its progress
    callback (as the worker stops a cancelled job) ends that thread too, and one that
    finishes reports the same figures as a count in the job's own thread."""
    import threading

    from model import predictions

    def counting_threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("beyond-quality-bins")]

    resampled(3000, seed=12).to_csv(tmp_path / "in.csv", index=False)

    def stop(done: int, total: int) -> None:
        if done >= 1400:
            raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        prediction(tmp_path / "in.csv", tmp_path / "out.xlsx", model_dir=model_dir, chunk_rows=700, progress=stop)
    assert counting_threads() == [] and not list(tmp_path.glob("*.xlsx"))
    reports = []
    for cores in (1, 2):  # one core: the bins are counted in the job's thread
        monkeypatch.setattr(predictions, "_cores", lambda n=cores: n)
        reports.append(run(tmp_path / "in.csv", tmp_path / f"out{cores}.xlsx", model_dir))
    assert reports[0] == reports[1] and counting_threads() == []


# -- an optional column left out ------------------------------------------------------------------
def test_an_absent_optional_column_is_reported_not_sent_never_drift(tmp_path: Path) -> None:
    """The README's churn example: "discount" is optional.  A file of the training rows without
    it is ok: the column's entry says "not sent", not "missing 100%", in the report, the .xlsx
    quality sheet and its CSV twin's own report (the job's)."""
    from tests.model.test_typed_inputs import FEATURES, churn_frame, churn_pipeline

    train = churn_frame(600, seed=1)
    X = train[FEATURES]
    y = np.where(X["plan"].eq("gold"), "stays", "churns")
    pipeline = churn_pipeline().fit(X, y)
    directory = save_model(pipeline, build_schema(pipeline, X, "churn-1", optional=["discount"]), tmp_path / "churn")
    train.drop(columns=["discount"]).to_csv(tmp_path / "in.csv", index=False)
    report = run(tmp_path / "in.csv", tmp_path / "out.xlsx", directory)
    assert report["status"] == "ok", report["reason"]
    assert report["reason"] == "" and report["drifted_features"] == []
    discount = next(f for f in report["features"] if f["name"] == "discount")
    assert (discount["sent"], discount["status"], discount["reasons"]) == (
        False, "ok", ["not sent (an optional column the file does not have)"])
    assert all(f.get("sent", True) for f in report["features"] if f["name"] != "discount")
    sheet = {r[0]: r for r in result_rows(tmp_path / "out.xlsx", "quality")}
    assert sheet["discount"][2:5] == ("ok", None, None)  # no missing rate for a column not sent
    assert sheet["discount"][-1] == "not sent (an optional column the file does not have)"

    # The same file with the column present but empty in every row is a missing rate: drift.
    train.assign(discount=np.nan).to_csv(tmp_path / "empty.csv", index=False)
    empty = run(tmp_path / "empty.csv", tmp_path / "empty.xlsx", directory)
    assert empty["status"] == "alert" and "discount: missing 100% (training 0%)" in empty["reason"]


# -- the Models page's template CSV ---------------------------------------------------------------
def test_the_template_csv_uploads_with_quality_ok(tmp_path: Path) -> None:
    """The template's examples stay within the training range: a minimum of 0.06251 is not
    rounded to 0.0625 (below it, "outside training range" in half the rows: alert), integers
    stay whole, dates are read back inside the range, categories are training ones."""
    from app.core.registry.models import ModelRecord
    from app.core.registry.template import template_csv, template_rows
    from tests.model.test_typed_inputs import FEATURES, churn_frame, churn_pipeline

    train = churn_frame(600, seed=1)
    rng = np.random.default_rng(4)
    train["charges"] = rng.uniform(0.06251, 0.0626, len(train)).round(7)
    train.loc[7, "charges"] = 0.06251  # the minimum, 5 decimals
    train["seats"] = rng.integers(3, 5, len(train))
    train["signup"] = train["signup"] + pd.Timedelta(hours=12, minutes=30)  # not at midnight
    X = train[FEATURES]
    pipeline = churn_pipeline().fit(X, np.where(X["plan"].eq("gold"), "stays", "churns"))
    directory = save_model(pipeline, build_schema(pipeline, X, "churn-1", optional=["discount"]), tmp_path / "m")
    model = load_model(directory)
    record = ModelRecord(1, "churn", "churn-1", "0" * 64, model.schema, None, None, True)

    header, *rows = template_rows(record)
    assert header == FEATURES
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        assert 0.06251 <= float(cells["charges"]) <= float(X["charges"].max()), cells["charges"]
        assert cells["seats"] in ("3", "4")
        assert cells["plan"] in set(X["plan"])
    source = tmp_path / "churn-template.csv"
    source.write_bytes(template_csv(record))
    report = run(source, tmp_path / "out.xlsx", directory)
    assert report["status"] == "ok", report["reason"]
    assert report["rows"] == 2 and report["rows_flagged"] == 0
    assert all(f["out_of_range"] == 0 and f["unseen"] == 0 for f in report["features"])
