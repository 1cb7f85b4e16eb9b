"""Typed inputs: build_schema infers each feature's type, inspect_csv checks it, prediction()
gives the model every column with the dtype it was trained with.

The reference is the pipeline itself: a real scikit-learn Pipeline with a ColumnTransformer over
every type, scored by prediction() on a CSV written by DataFrame.to_csv, must give the labels and
probabilities its own predict_proba gives on pd.read_csv of that CSV."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from model.artifact import build_schema, save_model
from model.inputs.scan import inspect_csv
from model.loading import load_model
from model.predictions import InvalidInput, prediction
from model.results.xlsx import StreamingXlsxWriter
from model.schema import SCHEMA_FILE, SCHEMA_FORMAT, FeatureSpec, ModelError
from tests.support.reading import job_frame

EPOCH = pd.Timestamp("2020-01-01")
PLANS = ["bronze", "gold", "silver"]
WORDS = ["late", "happy", "price", "support", "slow", "great", "cheap", "app", "bill", "call"]


# Pipeline steps (module level, so joblib can pickle them by reference)
def as_float(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(float)


def days_since_epoch(frame: pd.DataFrame) -> pd.DataFrame:
    return (frame - EPOCH) / pd.Timedelta(days=1)  # NaT -> NaN, whatever the datetime64 unit


def blank_if_missing(texts: pd.Series) -> pd.Series:
    return texts.fillna("")


def churn_frame(rows: int, seed: int = 0, gaps: bool = False) -> pd.DataFrame:
    """Customer data as pd.read_csv / a database gives it: str, int64, float64, bool,
    datetime64 and free-text columns (with gaps: some cells missing, as read_csv has them)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer": [f"C{i:05d}" for i in range(rows)],
        "plan": rng.choice(PLANS, rows),
        "seats": rng.integers(1, 40, rows),
        "charges": rng.normal(50, 15, rows).round(2),
        "autopay": rng.random(rows) < 0.5,
        "signup": EPOCH + pd.to_timedelta(rng.integers(0, 1500, rows), unit="D"),
        "note": [" ".join(rng.choice(WORDS, 4)) + f" #{i}" for i in range(rows)],
        "discount": rng.choice([0.0, 5.0, 10.0], rows),
    })
    if gaps:
        frame["seats"] = frame["seats"].astype(float)
        frame["autopay"] = frame["autopay"].astype(object)
        for column, every in (("plan", 7), ("seats", 11), ("charges", 13), ("autopay", 5), ("signup", 17),
                              ("note", 19), ("discount", 23)):
            frame.loc[frame.index[::every], column] = np.nan
    return frame


FEATURES = ["plan", "seats", "charges", "autopay", "signup", "note", "discount"]


def churn_pipeline() -> Pipeline:
    impute_numbers = make_pipeline(SimpleImputer(), StandardScaler())
    columns = ColumnTransformer([
        ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ("numbers", impute_numbers, ["seats", "charges", "discount"]),
        ("autopay", make_pipeline(FunctionTransformer(as_float), SimpleImputer(strategy="most_frequent")), ["autopay"]),
        ("signup", make_pipeline(FunctionTransformer(days_since_epoch), SimpleImputer(), StandardScaler()), ["signup"]),
        ("note", make_pipeline(FunctionTransformer(blank_if_missing), TfidfVectorizer()), "note"),
    ])
    return Pipeline([("prepare", columns), ("classify", LogisticRegression(max_iter=2000))])


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pipeline, Path]:
    """A churn Pipeline trained on a DataFrame and saved as a model directory; discount is
    optional."""
    train = churn_frame(600, seed=1)
    X = train[FEATURES]
    rng = np.random.default_rng(2)
    y = np.where(X["plan"].eq("gold") ^ (rng.random(len(X)) < 0.2), "stays", "churns")
    pipeline = churn_pipeline().fit(X, y)
    directory = tmp_path_factory.mktemp("churn") / "model"
    save_model(pipeline, build_schema(pipeline, X, "churn-typed-1", optional=["discount"]), directory)
    return pipeline, directory


def expected(pipeline: Pipeline, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """What the pipeline itself predicts: labels and the probability of each."""
    proba = pipeline.predict_proba(frame[FEATURES])
    best = proba.argmax(axis=1)
    return list(pipeline.classes_[best]), proba[np.arange(len(best)), best]


def result_rows(xlsx: Path) -> list[tuple]:
    book = openpyxl.load_workbook(xlsx, read_only=True)
    rows = [tuple(r) for r in book["predictions"].iter_rows(values_only=True)]
    book.close()
    return rows


def twin(xlsx: Path) -> pd.DataFrame:
    return pd.read_csv(xlsx.with_suffix(".csv"), dtype=str, keep_default_na=False, encoding="utf-8-sig")


def assert_same_answers(xlsx: Path, labels: list[str], probability: np.ndarray, unscored: Sequence[int] = ()) -> None:
    """The pipeline's answers, except for the `unscored` rows (every feature empty: no
    prediction, and a row_status saying why)."""
    rows = result_rows(xlsx)
    assert rows[0][-3:] == ("prediction", "probability", "row_status")
    keep = [i for i in range(len(labels)) if i not in set(unscored)]
    assert [rows[1 + i][-3] for i in keep] == [labels[i] for i in keep]
    np.testing.assert_allclose([rows[1 + i][-2] for i in keep], probability[keep], rtol=0, atol=1e-12)
    for i in unscored:
        assert rows[1 + i][-3:] == (None, None, "no data: every feature is empty")
    csv = twin(xlsx)
    assert [csv["prediction"][i] for i in keep] == [labels[i] for i in keep]
    np.testing.assert_allclose(csv["probability"][keep].astype(float), probability[keep], rtol=0, atol=1e-12)
    assert [csv["prediction"][i] for i in unscored] == [""] * len(unscored)


# ---------------------------------------------------------------------------------------------
# The schema


def test_the_schema_records_each_features_type(churn: tuple[Pipeline, Path]) -> None:
    _, directory = churn
    schema = json.loads((directory / SCHEMA_FILE).read_text(encoding="utf-8"))
    assert schema["format"] == SCHEMA_FORMAT == 2
    by_name = {f["name"]: f for f in schema["features"]}
    assert [f["name"] for f in schema["features"]] == FEATURES
    assert {name: f["type"] for name, f in by_name.items()} == {
        "plan": "category", "seats": "integer", "charges": "number", "autopay": "boolean",
        "signup": "datetime", "note": "text", "discount": "number"}
    assert by_name["plan"]["categories"] == PLANS
    assert by_name["signup"]["format"] == "%Y-%m-%d"
    assert by_name["signup"]["dtype"] == "datetime64[us]"
    assert {name for name, f in by_name.items() if not f["required"]} == {"discount"}
    assert set(by_name["charges"]) == {"name", "type", "required", "dtype", "min", "max", "mean"}
    assert by_name["seats"]["min"] >= 1 and by_name["seats"]["max"] <= 39
    model = load_model(directory)
    assert model.features == FEATURES
    assert [s.type for s in model.feature_specs] == [by_name[n]["type"] for n in FEATURES]
    assert model.feature_specs[0] == FeatureSpec("plan", "category", True, tuple(PLANS), None, "str")


def test_types_follow_the_dtypes_read_csv_gives() -> None:
    n = 40
    frame = pd.DataFrame({
        "when": pd.to_datetime(["2024-01-05 10:30:00"] * n),
        "stamp": pd.to_datetime(["2024-01-05 10:30:00.250"] * n),
        "flag": pd.Series([True, False, np.nan, True] * (n // 4), dtype=object),  # true/false with gaps
        "nullable": pd.array([1, None] * (n // 2), dtype="Int64"),
        "level": pd.Series(["a", "b"] * (n // 2), dtype="category"),
        "code": [f"z{i % 25}" for i in range(n)],  # 25 distinct of 40: more than half
    })
    specs = {f["name"]: f for f in build_schema(None, frame, "v")["features"]}
    assert specs["when"]["format"] == "%Y-%m-%d %H:%M:%S"
    assert specs["stamp"]["format"] == "%Y-%m-%d %H:%M:%S.%f"
    assert (specs["flag"]["type"], specs["nullable"]["type"], specs["level"]["type"]) == ("boolean", "integer", "category")
    assert specs["code"]["type"] == "text"
    overridden = build_schema(None, frame, "v", types={"code": "category", "nullable": "number"})["features"]
    assert overridden[5]["type"] == "category" and len(overridden[5]["categories"]) == 25
    assert overridden[3]["type"] == "number"


@pytest.mark.parametrize(("frame", "options", "message"), [
    (pd.DataFrame({"zip": [2134, 2139]}), {"types": {"zip": "category"}}, "Column 'zip' holds integer values"),
    (pd.DataFrame({"x": [1.5, 2.0]}), {"types": {"x": "integer"}}, "Column 'x' holds float values"),
    (pd.DataFrame({"x": ["a", "b"]}), {"types": {"x": "boolean"}}, "type 'boolean' would give it other values"),
    (pd.DataFrame({"x": [1.0]}), {"types": {"x": "decimal"}}, "types['x'] is 'decimal'; the types are number, integer"),
    (pd.DataFrame({"x": [1.0]}), {"types": {"y": "text"}}, "types/optional name columns X does not have: 'y'"),
    (pd.DataFrame({"x": [1.0]}), {"optional": "x"}, "optional must be a list of column names"),
    (pd.DataFrame({"x": pd.Series([1, "a"], dtype=object)}), {}, "Column 'x' holds mixed-integer values"),
    (pd.DataFrame({"x": pd.Series([None, None], dtype=object)}), {}, "Column 'x' has no values"),
    (pd.DataFrame({"x": pd.to_datetime(["2024-01-05"]).tz_localize("UTC")}), {}, "timezone-aware"),
])
def test_build_schema_refuses_what_it_cannot_serve(frame: pd.DataFrame, options: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace("[", r"\[")):
        build_schema(None, frame, "v", **options)


def test_a_format_1_schema_loads_as_required_numbers(tmp_path: Path, model_dir: Path) -> None:
    target = tmp_path / "old"
    model = load_model(model_dir)
    old = {"format": 1, "version": "old-1", "classes": model.schema["classes"],
           "features": [{"name": n, "dtype": "float64", "min": 0.0, "max": 1.0, "mean": 0.5} for n in model.features]}
    save_model(model.estimator, old, target)
    loaded = load_model(target)
    assert loaded.features == model.features
    assert {(s.type, s.required) for s in loaded.feature_specs} == {("number", True)}
    source = tmp_path / "in.csv"
    pd.DataFrame(np.random.default_rng(0).random((5, 30)) * 10, columns=model.features).to_csv(source, index=False)
    assert len(result_rows(prediction(source, tmp_path / "o.xlsx", model=loaded))) == 6


@pytest.mark.parametrize(("change", "message"), [
    ({"type": "money"}, "feature 'mean radius' has type 'money'"),
    ({"type": "category"}, "'categories' must be a list of texts"),
    ({"type": "datetime"}, "'format' must be a strftime format"),
    ({"required": "yes"}, "'required' must be true or false"),
])
def test_a_broken_feature_entry_is_refused_on_load(tmp_path: Path, model_dir: Path, change: dict, message: str) -> None:
    target = tmp_path / "broken"
    model = load_model(model_dir)
    schema = json.loads(json.dumps(model.schema))
    schema["features"][0].update(change)
    save_model(model.estimator, schema, target)
    with pytest.raises(ModelError, match=message) as info:
        load_model(target)
    assert str(target / SCHEMA_FILE) in str(info.value)


# ---------------------------------------------------------------------------------------------
# Scoring


def test_prediction_gives_what_the_pipeline_gives_on_read_csv(tmp_path: Path, churn: tuple[Pipeline, Path]) -> None:
    pipeline, directory = churn
    frame = churn_frame(500, seed=7, gaps=True)
    frame.loc[[3, 4, 200], "plan"] = ["platinum", "Gold", "gold "]  # unseen: scored, counted
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    read = pd.read_csv(source, parse_dates=["signup"])
    assert read.dtypes.astype(str).to_dict() == {
        "customer": "str", "plan": "str", "seats": "float64", "charges": "float64", "autopay": "object",
        "signup": "datetime64[us]", "note": "str", "discount": "float64"}
    labels, probability = expected(pipeline, read)

    report = inspect_csv(source, load_model(directory).feature_specs)
    assert report.ok, report.problems
    assert report.unseen_categories == {"plan": 3}
    out = prediction(source, tmp_path / "out.xlsx", model_dir=directory, chunk_rows=128)
    assert_same_answers(out, labels, probability, unscored=[0])  # row 0 has every feature empty

    # every model column has the dtype the pipeline was trained with (the job's reader agrees)
    typed = job_frame(source, report, load_model(directory).feature_specs, 128)
    assert typed.dtypes.astype(str).to_dict() == {
        "plan": "str", "seats": "float64", "charges": "float64", "autopay": "object", "signup": "datetime64[us]",
        "note": "str", "discount": "float64"}
    pd.testing.assert_frame_equal(typed, read[FEATURES])


def test_without_gaps_the_dtypes_are_the_training_ones(tmp_path: Path, churn: tuple[Pipeline, Path]) -> None:
    pipeline, directory = churn
    frame = churn_frame(300, seed=8)
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    read = pd.read_csv(source, parse_dates=["signup"])
    report = inspect_csv(source, load_model(directory).feature_specs)
    typed = job_frame(source, report, load_model(directory).feature_specs)
    assert typed.dtypes.astype(str).to_dict() == frame[FEATURES].dtypes.astype(str).to_dict()
    pd.testing.assert_frame_equal(typed, frame[FEATURES])
    out = prediction(source, tmp_path / "out.xlsx", model_dir=directory)
    assert_same_answers(out, *expected(pipeline, read))


def test_the_result_files_hold_the_typed_cells(tmp_path: Path, churn: tuple[Pipeline, Path]) -> None:
    _, directory = churn
    frame = churn_frame(4, seed=9)
    frame["plan"] = ["gold", "10", "=1+1", "silver"]
    frame["seats"] = frame["seats"].astype(float)
    frame.loc[2, "seats"] = np.nan
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    out = prediction(source, tmp_path / "out.xlsx", model_dir=directory)
    book = openpyxl.load_workbook(out)
    sheet = book["predictions"]
    column = {cell.value: cell.column for cell in sheet[1]}

    def cells(name: str) -> list:
        return [sheet.cell(row=r, column=column[name]) for r in range(2, 6)]

    plan = cells("plan")
    assert [c.value for c in plan] == ["gold", "10", "'=1+1", "silver"]  # text stays text, guarded
    assert all(c.data_type == "s" for c in plan)
    assert [c.value for c in cells("seats")] == [int(frame.at[0, "seats"]), int(frame.at[1, "seats"]), None,
                                                 int(frame.at[3, "seats"])]
    assert [c.value for c in cells("autopay")] == [str(v) for v in frame["autopay"]]  # as written: True/False
    assert [c.value for c in cells("signup")] == [d.strftime("%Y-%m-%d") for d in frame["signup"]]
    assert [c.value for c in cells("note")] == frame["note"].tolist()
    assert [c.value for c in cells("charges")] == pytest.approx(frame["charges"].tolist())
    csv = twin(out)
    assert csv["plan"].tolist() == ["gold", "10", "'=1+1", "silver"]
    assert csv["seats"].tolist() == [str(int(frame.at[0, "seats"])), str(int(frame.at[1, "seats"])), "",
                                     str(int(frame.at[3, "seats"]))]  # whole numbers, not 3.0
    assert csv["signup"].tolist() == [d.strftime("%Y-%m-%d") for d in frame["signup"]]


def test_booleans_may_be_spelled_yes_no(tmp_path: Path, churn: tuple[Pipeline, Path]) -> None:
    pipeline, directory = churn
    frame = churn_frame(60, seed=10)
    spellings = {True: ["yes", "Y", "1", "TRUE", " t "], False: ["no", "N", "0", "false", "F"]}
    written = frame.astype({"autopay": object})
    written["autopay"] = [spellings[v][i % 5] for i, v in enumerate(frame["autopay"])]
    source = tmp_path / "in.csv"
    written.to_csv(source, index=False)
    out = prediction(source, tmp_path / "out.xlsx", model_dir=directory)
    assert_same_answers(out, *expected(pipeline, frame))
    assert twin(out)["autopay"].tolist() == written["autopay"].tolist()  # passed through as written


def test_an_optional_column_may_be_absent(tmp_path: Path, churn: tuple[Pipeline, Path]) -> None:
    pipeline, directory = churn
    frame = churn_frame(80, seed=11).drop(columns=["discount"])
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    report = inspect_csv(source, load_model(directory).feature_specs)
    assert report.ok and "discount" not in report.feature_columns
    out = prediction(source, tmp_path / "out.xlsx", model_dir=directory)
    assert_same_answers(out, *expected(pipeline, frame.assign(discount=np.nan)))
    assert "discount" not in result_rows(out)[0]

    required = tmp_path / "no_plan.csv"
    frame.drop(columns=["plan"]).to_csv(required, index=False)
    problems = [p.as_dict() for p in inspect_csv(required, load_model(directory).feature_specs).problems]
    assert problems == [{"row": 1, "column": "plan", "message": "Missing column 'plan'."}]


def test_bad_cells_are_refused_with_row_and_column(tmp_path: Path, churn: tuple[Pipeline, Path]) -> None:
    _, directory = churn
    frame = churn_frame(20, seed=12).astype({"autopay": object, "seats": object})
    frame["signup"] = frame["signup"].dt.strftime("%Y-%m-%d")
    frame.loc[10, "autopay"] = "maybe"
    frame.loc[12, "signup"] = "2024-13-01"
    frame.loc[14, "seats"] = "3.5"
    frame.loc[15, "seats"] = "3.0"  # a whole number
    frame.loc[16, "autopay"] = " N/A "  # missing, for every type
    source = tmp_path / "bad.csv"
    frame.to_csv(source, index=False)
    with pytest.raises(InvalidInput) as info:
        prediction(source, tmp_path / "out.xlsx", model_dir=directory)
    assert [p.as_dict() for p in info.value.report.problems] == [
        {"row": 12, "column": "autopay",
         "message": "Row 12, column 'autopay': 'maybe' is not true/false (true/false, yes/no, 1/0)."},
        {"row": 14, "column": "signup", "message": "Row 14, column 'signup': '2024-13-01' is not a date (YYYY-MM-DD)."},
        {"row": 16, "column": "seats", "message": "Row 16, column 'seats': '3.5' is not a whole number."},
    ]
    assert not (tmp_path / "out.xlsx").exists()


def test_cells_of_each_type(tmp_path: Path) -> None:
    specs = [
        FeatureSpec("n"), FeatureSpec("i", "integer"), FeatureSpec("b", "boolean"),
        FeatureSpec("d", "datetime", format="%Y-%m-%d %H:%M:%S.%f", dtype="datetime64[ns]"),
        FeatureSpec("c", "category", categories=("a", "b")), FeatureSpec("t", "text"),
    ]
    source = tmp_path / "cells.csv"
    source.write_text(
        "n,i,b,d,c,t\n"
        "1.5,3,yes,2024-01-05 10:00:00.5,a,=x\n"  # row 2: fine
        "NULL,3e2, NO ,2024-01-05 10:00:00,A,\n"  # 3: fine (whole seconds, a missing number; 'A' unseen)
        "na,-7,none,none,n/a,none\n"  # 4: fine: missing words for every type
        "1,10000000000000000,2,2024-01-05,b,x\n"  # 5: too large, not a boolean, no time
        "x,1.25,on,2300-01-01 00:00:00,zz,y\n",  # 6: not a number, not whole, not a boolean, out of range
        encoding="utf-8")
    report = inspect_csv(source, specs)
    assert [p.message for p in report.problems] == [
        "Row 5, column 'i': '1e+16' is too large for a whole number (at most 9,007,199,254,740,992 either way).",
        "Row 5, column 'b': '2' is not true/false (true/false, yes/no, 1/0).",
        "Row 5, column 'd': '2024-01-05' is not a date and time (YYYY-MM-DD HH:MM:SS.ffffff).",
        "Row 6, column 'n': 'x' is not a number.",
        "Row 6, column 'i': '1.25' is not a whole number.",
        "Row 6, column 'b': 'on' is not true/false (true/false, yes/no, 1/0).",
        "Row 6, column 'd': '2300-01-01 00:00:00' is outside the dates the model takes (1677-09-21 to 2262-04-11).",
    ]
    assert report.unseen_categories == {"c": 2}  # 'A' and 'zz' (a cell problem elsewhere in a row does not matter)


def test_unseen_categories_are_counted_not_refused(tmp_path: Path) -> None:
    specs = [FeatureSpec("plan", "category", categories=("bronze", "gold")), FeatureSpec("x")]
    source = tmp_path / "plans.csv"
    source.write_text("plan,x\ngold,1\nplatinum,2\nGold,3\n,4\nNA,5\nplatinum,6\nbronze,7\n", encoding="utf-8")
    report = inspect_csv(source, specs)
    assert report.ok and report.unseen_categories == {"plan": 3}
    assert report.as_dict()["unseen_categories"] == {"plan": 3}
    numbers_only = inspect_csv(source, ["x"])
    assert numbers_only.unseen_categories == {}


@pytest.mark.timing
@pytest.mark.slow
def test_a_typed_model_scores_large_files_quickly(tmp_path: Path, churn: tuple[Pipeline, Path]) -> None:
    """100,000 rows with every type: checked in a few seconds (numbers alone take ~0.5 s)."""
    import time

    _, directory = churn
    source = tmp_path / "big.csv"
    churn_frame(100_000, seed=13, gaps=True).to_csv(source, index=False)
    specs = load_model(directory).feature_specs
    started = time.perf_counter()
    report = inspect_csv(source, specs)
    elapsed = time.perf_counter() - started
    print(f"\ninspect_csv, 100,000 rows of every type: {elapsed:.2f} s")
    assert report.ok and report.rows == 100_000
    assert elapsed < 10, elapsed


# ---------------------------------------------------------------------------------------------
# The writer's text columns


def test_text_columns_are_always_text(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    values = ["10", "007", "", "=1+1", "-1", "1e5", "plain", " 12"]
    with StreamingXlsxWriter(path, ["auto", "text"], text_columns=[1]) as book:
        book.write_chunk([values, values])
    sheet = openpyxl.load_workbook(path)["predictions"]
    auto = [sheet.cell(row=r, column=1) for r in range(2, 10)]
    text = [sheet.cell(row=r, column=2) for r in range(2, 10)]
    assert [c.value for c in auto] == [10, "007", None, "'=1+1", -1, 100000, "plain", " 12"]
    assert [c.value for c in text] == ["10", "007", None, "'=1+1", "-1", "1e5", "plain", " 12"]
    assert all(c.data_type == "s" for c in text if c.value is not None)
    with pytest.raises(ValueError, match="text_columns column index out of range"):
        StreamingXlsxWriter(tmp_path / "x.xlsx", ["a"], text_columns=[1])


@pytest.mark.parametrize("parallel", [False, True], ids=["one-process", "writer-process"])
def test_cells_the_model_cannot_take_come_back_as_sent(tmp_path: Path, churn: tuple[Pipeline, Path],
                                                       parallel: bool) -> None:
    """"Every input column" is the cell as sent: 'abc' in a number column and '3.5' in an
    integer one are not written back empty (what the model got), in the .xlsx and the CSV;
    the rest of the row and of the column is as in a clean run."""
    _, directory = churn
    frame = churn_frame(30, seed=12).astype({"seats": object, "charges": object, "discount": object, "autopay": object})
    clean = tmp_path / "clean.csv"
    frame.to_csv(clean, index=False)
    bad = {(3, "charges"): "abc", (4, "seats"): "3.5", (5, "charges"): "12,5 cm", (5, "seats"): "=1+1",
           (7, "discount"): "ten", (9, "autopay"): "maybe"}
    for (row, column), text in bad.items():
        frame.loc[row, column] = text
    source = tmp_path / "bad.csv"
    frame.to_csv(source, index=False)
    out = prediction(source, tmp_path / "bad.xlsx", model_dir=directory, max_bad_rows_percent=100.0,
                     parallel=parallel, chunk_rows=8)
    reference = prediction(clean, tmp_path / "clean.xlsx", model_dir=directory, parallel=parallel, chunk_rows=8)

    rows, clean_rows = result_rows(out), result_rows(reference)
    table, clean_table = twin(out), twin(reference)
    header = list(rows[0])
    for row in range(30):
        for column in ("plan", "seats", "charges", "autopay", "discount"):
            j = header.index(column)
            if (row, column) in bad:
                sent = bad[(row, column)]
                shown = "'" + sent if sent.startswith("=") else sent  # the formula guard
                assert table.loc[row, column] == shown, (row, column)
                assert rows[row + 1][j] in (shown, float(sent) if sent == "3.5" else shown), (row, column)
            else:
                assert table.loc[row, column] == clean_table.loc[row, column], (row, column)
                assert rows[row + 1][j] == clean_rows[row + 1][j], (row, column)
    assert table.loc[3, "row_status"] == "not scored: 'abc' is not a number in column 'charges'"
    assert table.loc[4, "row_status"] == "not scored: '3.5' is not a whole number in column 'seats'"
    assert table.loc[3, "prediction"] == "" and table.loc[2, "prediction"] != ""
