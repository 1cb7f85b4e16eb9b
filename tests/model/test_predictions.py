"""model/predictions.py: the article's prediction(input_file) -> output_file, end to end."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from model.loading import load_model
from model.predictions import InvalidInput, prediction
from tests.conftest import breast_cancer_frame


def read_sheet(path: Path, name: str = "predictions") -> list[tuple]:
    book = openpyxl.load_workbook(path, read_only=True)
    rows = [tuple(r) for r in book[name].iter_rows(values_only=True)]
    book.close()
    return rows


def test_output_keeps_every_column_and_row_and_predicts_well(tmp_path: Path, model_dir: Path) -> None:
    frame = breast_cancer_frame(300, seed=1)
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    out = prediction(source, tmp_path / "out.xlsx", model_dir=model_dir)
    assert out == tmp_path / "out.xlsx" and out.exists()
    rows = read_sheet(out)
    header, body = rows[0], rows[1:]
    assert list(header) == ["row_id", *frame.columns, "prediction", "probability", "row_status"]
    assert [row[0] for row in body] == [str(i + 2) for i in range(len(frame))]  # no job: the row alone
    csv_rows = pd.read_csv(out.with_suffix(".csv"), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(csv_rows.columns) == list(header)
    assert csv_rows["row_id"].tolist() == [row[0] for row in body]
    header, body = header[1:], [row[1:] for row in body]  # the input columns from here on
    assert len(body) == len(frame)
    for i, row in enumerate(body):
        assert row[0] == frame.at[i, "patient_id"]
        assert row[1] == pytest.approx(frame.at[i, "mean radius"])
        assert row[len(frame.columns) - 1] == frame.at[i, "diagnosis"]
        assert row[-3] in ("malignant", "benign")
        assert 0.5 <= row[-2] <= 1.0
    accuracy = sum(r[-3] == r[len(frame.columns) - 1] for r in body) / len(body)
    assert accuracy >= 0.9
    # the CSV twin holds the same rows
    assert csv_rows["prediction"].tolist() == [r[-3] for r in body]
    assert csv_rows["patient_id"].tolist() == frame["patient_id"].tolist()


def test_summary_sheet(tmp_path: Path, model_dir: Path) -> None:
    source = tmp_path / "in.csv"
    breast_cancer_frame(40).to_csv(source, index=False)
    out = prediction(source, tmp_path / "o.xlsx", model_dir=model_dir, source_name="mine.csv")
    summary = dict(read_sheet(out, "summary")[1:])
    assert summary["rows"] == 40
    assert summary["input file"] == "mine.csv"
    assert summary["model version"] == load_model(model_dir).version
    assert summary.get("predicted benign", 0) + summary.get("predicted malignant", 0) == 40


def test_chunks_and_progress(tmp_path: Path, model_dir: Path) -> None:
    source = tmp_path / "in.csv"
    breast_cancer_frame(1050).to_csv(source, index=False)
    seen: list[tuple[int, int]] = []
    out = prediction(source, tmp_path / "o.xlsx", model_dir=model_dir, chunk_rows=200,
                     progress=lambda done, total: seen.append((done, total)))
    assert seen == [(200, 1050), (400, 1050), (600, 1050), (800, 1050), (1000, 1050), (1050, 1050)]
    assert len(read_sheet(out)) == 1051


def test_progress_exception_leaves_no_file(tmp_path: Path, model_dir: Path) -> None:
    source = tmp_path / "in.csv"
    breast_cancer_frame(500).to_csv(source, index=False)

    def stop(done: int, total: int) -> None:
        raise RuntimeError("lease lost")

    with pytest.raises(RuntimeError):
        prediction(source, tmp_path / "o.xlsx", model_dir=model_dir, chunk_rows=100, progress=stop)
    assert list(tmp_path.glob("o*")) == [] and list(tmp_path.glob(".o*")) == []


def test_invalid_csv_raises_with_row_and_column(tmp_path: Path, model_dir: Path) -> None:
    frame = breast_cancer_frame(5)
    frame["mean radius"] = frame["mean radius"].astype(str)
    frame.loc[2, "mean radius"] = "abc"
    source = tmp_path / "bad.csv"
    frame.to_csv(source, index=False)
    with pytest.raises(InvalidInput) as info:
        prediction(source, tmp_path / "o.xlsx", model_dir=model_dir)
    problem = info.value.report.problems[0]
    assert (problem.row, problem.column) == (4, "mean radius")
    assert "abc" in str(info.value)
    assert not (tmp_path / "o.xlsx").exists()


def test_passthrough_formulas_are_text(tmp_path: Path, model_dir: Path) -> None:
    frame = breast_cancer_frame(4)
    frame.insert(1, "note", ['=HYPERLINK("http://evil","x")', "@SUM(1)", "+1", "plain"])
    source = tmp_path / "f.csv"
    frame.to_csv(source, index=False)
    out = prediction(source, tmp_path / "o.xlsx", model_dir=model_dir)
    book = openpyxl.load_workbook(out)
    sheet = book["predictions"]
    cells = [sheet.cell(row=r, column=3) for r in range(2, 6)]  # after row_id and patient_id
    assert [c.value for c in cells] == ["'=HYPERLINK(\"http://evil\",\"x\")", "'@SUM(1)", "'+1", "plain"]
    assert all(c.data_type == "s" for c in cells)
    csv_text = out.with_suffix(".csv").read_text(encoding="utf-8-sig")
    assert "'@SUM(1)" in csv_text and "\n=HYPERLINK" not in csv_text


def test_probability_columns_all_adds_one_column_per_class(tmp_path: Path, model_dir: Path) -> None:
    """PROBABILITY_COLUMNS=all: probability_<class> for every class, in the .xlsx and the CSV,
    equal to the estimator's own predict_proba (computed here independently)."""
    frame = breast_cancer_frame(120, seed=3)
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    model = load_model(model_dir)
    out = prediction(source, tmp_path / "out.xlsx", model=model, probability_columns="all", chunk_rows=100)
    classes = [str(c) for c in model.estimator.classes_]
    assert classes == ["benign", "malignant"]
    expected = model.estimator.predict_proba(pd.read_csv(source)[model.features])
    rows = read_sheet(out)
    header, body = list(rows[0]), rows[1:]
    assert header[-5:] == ["prediction", "probability", "probability_benign", "probability_malignant", "row_status"]
    csv_rows = pd.read_csv(out.with_suffix(".csv"), encoding="utf-8-sig")
    assert list(csv_rows.columns) == header
    for i, row in enumerate(body):
        # row_status: clean, or a value beyond the training range (these rows are sampled
        # from the whole data set, not only the training split)
        assert row[-1] is None or row[-1].startswith("outside training range: ")
        assert row[-3:-1] == pytest.approx(tuple(expected[i]), abs=1e-15)
        assert row[-4] == pytest.approx(max(expected[i]), abs=1e-15)
        assert row[-5] == classes[int(expected[i].argmax())]
    assert csv_rows[["probability_benign", "probability_malignant"]].to_numpy() == pytest.approx(expected, abs=1e-15)
    with pytest.raises(ValueError, match="probability_columns"):
        prediction(source, tmp_path / "bad.xlsx", model=model, probability_columns="some")


def test_probability_columns_all_means_nothing_more_for_a_regressor(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    from model.artifact import build_schema, save_model

    frame = breast_cancer_frame(60, seed=4)
    features = ["mean radius", "mean texture"]
    regressor = LinearRegression().fit(frame[features], frame["mean area"])
    directory = save_model(regressor, build_schema(regressor, frame[features], version="area-1"), tmp_path / "m")
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    out = prediction(source, tmp_path / "out.xlsx", model_dir=directory, probability_columns="all")
    assert list(read_sheet(out)[0])[-2:] == ["prediction", "row_status"]
