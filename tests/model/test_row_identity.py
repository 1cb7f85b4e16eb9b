"""Issue 24, item 1: a row identity.  A model's id column (build_schema, deploy-model
--id-column) must be in every upload, non-empty and unique; every result carries `row_id`
("<job id>-<spreadsheet row>") first, or the model's id column as sent."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from app.core.registry.models import Registry
from model.artifact import build_schema, save_model
from model.inputs.scan import inspect_csv
from model.loading import load_model
from model.predictions import prediction
from model.schema import ModelError
from tests.conftest import breast_cancer_frame, run_cli
from tests.model import test_hostile_input as hostile
from tests.model.test_hostile_input import assert_nothing_stored, drain

entrance, open_entrance = hostile.entrance, hostile.open_entrance


def with_id_column(settings, db, model_dir: Path, id_column: str = "patient_id") -> None:  # type: ignore[no-untyped-def]
    """The default model's files deployed as the active version of DEFAULT_MODEL, with an id column."""
    Registry(db, settings).deploy(model_dir, settings.default_model, version="with-id", activate=True,
                                  id_column=id_column, trial=False)


def result_rows(content: bytes) -> list[list[object]]:
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return [list(row) for row in book["predictions"].iter_rows(values_only=True)]


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


# -- the schema and the deploy ------------------------------------------------------------------------
def test_build_schema_records_the_id_column_and_it_round_trips(model_dir: Path, tmp_path: Path) -> None:
    model = load_model(model_dir)
    X = breast_cancer_frame(60)[model.features]
    schema = build_schema(model.estimator, X, "with-id", id_column="patient_id", profile=False)
    assert schema["id_column"] == "patient_id"
    assert "patient_id" not in [f["name"] for f in schema["features"]]  # not given to the model
    loaded = load_model(save_model(model.estimator, schema, tmp_path / "with-id"))
    assert loaded.id_column == "patient_id" and loaded.features == model.features
    assert json.loads((tmp_path / "with-id" / "schema.json").read_text())["id_column"] == "patient_id"
    assert load_model(model_dir).id_column is None
    # an id column that is also a feature stays a feature
    both = build_schema(model.estimator, X, "both", id_column="mean radius", profile=False)
    assert both["id_column"] == "mean radius" and "mean radius" in [f["name"] for f in both["features"]]
    for bad in ("", "  ", 7):
        with pytest.raises(ModelError, match="id column"):
            build_schema(model.estimator, X, "bad", id_column=bad, profile=False)  # type: ignore[arg-type]


def test_deploy_model_id_column(make_config, model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from app.core.db import open_database

    config, settings = make_config("sqlite")
    done = run_cli(config, "-m", "app", "deploy-model", str(model_dir), "--name", "churn", "--version", "v1",
                   "--id-column", "customer_id", "--activate")
    assert done.returncode == 0, done.stderr
    plain = run_cli(config, "-m", "app", "deploy-model", str(model_dir), "--name", "churn", "--version", "v2")
    assert plain.returncode == 0, plain.stderr
    bad = run_cli(config, "-m", "app", "deploy-model", str(model_dir), "--name", "churn", "--version", "v3",
                  "--id-column", " ")
    assert bad.returncode == 2 and "id column" in bad.stderr and "Traceback" not in bad.stderr
    db = open_database(settings)
    try:
        registry = Registry(db, settings)
        v1, v2 = registry.get("churn", "v1"), registry.get("churn", "v2")
        assert v1 is not None and v2 is not None
        assert v1.id_column == "customer_id" and v1.schema["id_column"] == "customer_id"
        assert v2.id_column is None
        # the deployed files are the model's own: its schema.json names no id column
        assert "id_column" not in json.loads((settings.models_dir / "churn" / "v1" / "schema.json").read_text())
        assert registry.get("churn", "v3") is None
    finally:
        db.close()


# -- the upload check --------------------------------------------------------------------------------
def test_the_check_refuses_missing_empty_and_repeated_ids(model_dir: Path, tmp_path: Path) -> None:
    specs = load_model(model_dir).feature_specs
    frame = breast_cancer_frame(12)
    path = tmp_path / "patients.csv"
    frame.to_csv(path, index=False)
    assert inspect_csv(path, specs, id_column="patient_id").ok
    assert inspect_csv(path, specs, id_column="Patient_ID ").ok  # matched like a feature

    missing = inspect_csv(path, specs, id_column="customer_id")
    assert [p.message for p in missing.problems] == ["Missing column 'customer_id', the id of each row."]
    assert missing.problems[0].column == "customer_id"

    frame.loc[[2, 5], "patient_id"] = ["", "   "]  # rows 4 and 7 (header = row 1)
    frame.loc[8, "patient_id"] = frame.loc[1, "patient_id"]  # row 10 repeats row 3
    frame.loc[9, "patient_id"] = " " + frame.loc[0, "patient_id"]  # row 11 repeats row 2, spaces aside
    frame.loc[10, "patient_id"] = frame.loc[1, "patient_id"]  # row 12 repeats row 3 again
    text = frame.to_csv(index=False, lineterminator="\n").splitlines()
    path.write_text("\n".join(text[:7] + [""] + text[7:]) + "\n")  # a blank line: row 8; later rows move down
    report = inspect_csv(path, specs, id_column="patient_id")
    first = frame.loc[1, "patient_id"]
    assert [(p.row, p.column, p.message) for p in report.problems] == [
        (4, "patient_id", "Row 4, column 'patient_id': the id is empty; every row needs its own id in this column."),
        (7, "patient_id", "Row 7, column 'patient_id': the id is empty; every row needs its own id in this column."),
        (11, "patient_id", f"Rows 11 ('{first}'), 12 ('{frame.loc[0, 'patient_id']}') and 13 ('{first}') repeat "
                           "the id of an earlier row in column 'patient_id'; every row needs its own id."),
    ]
    # not cell problems: no MAX_BAD_ROWS_PERCENT lets them through
    assert report.cell_problems == 0 and not report.acceptable(100)


def test_repeated_ids_are_named_first_five_with_the_count(model_dir: Path, tmp_path: Path) -> None:
    specs = load_model(model_dir).feature_specs
    frame = breast_cancer_frame(60_000)  # two blocks of the check (BLOCK_ROWS)
    frame["patient_id"] = [f"P{i % 50_000}" for i in range(len(frame))]  # the last 10,000 repeat
    path = tmp_path / "patients.csv"
    frame.to_csv(path, index=False)
    report = inspect_csv(path, specs, id_column="patient_id")
    assert [p.message for p in report.problems] == [
        "Rows 50,002 ('P0'), 50,003 ('P1'), 50,004 ('P2'), 50,005 ('P3') and 50,006 ('P4') repeat the id "
        "of an earlier row in column 'patient_id', 10,000 rows in all; every row needs its own id."]


def xlsx_upload(tmp_path: Path, frame: pd.DataFrame) -> bytes:
    """The frame on sheet "Daten" under a title row: the header is row 2, data from row 3."""
    path = tmp_path / "upload.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="Daten", index=False, startrow=1)
    book = openpyxl.load_workbook(path)
    book["Daten"]["A1"] = "Export vom März"
    book.save(path)
    return path.read_bytes()


def test_uploads_without_usable_ids_are_refused(entrance, settings, db, jobs, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with_id_column(settings, db, model_dir)
    frame = breast_cancer_frame(8)
    missing = entrance.upload("patients.csv", frame.drop(columns=["patient_id"]).to_csv(index=False).encode())
    assert missing.status == 422, missing.text[:500]
    assert [(p["row"], p["column"], p["message"]) for p in missing.problems] == [
        (1, "patient_id", "Missing column 'patient_id', the id of each row.")]
    frame.loc[2, "patient_id"] = ""
    frame.loc[6, "patient_id"] = frame.loc[0, "patient_id"]
    refused = entrance.upload("patients.csv", frame.to_csv(index=False).encode())
    assert refused.status == 422, refused.text[:500]
    assert [(p["row"], p["message"]) for p in refused.problems] == [
        (4, "Row 4, column 'patient_id': the id is empty; every row needs its own id in this column."),
        (8, "Row 8 ('P000000') repeats the id of an earlier row in column 'patient_id'; every row needs its "
            "own id.")]
    workbook = entrance.upload("patients.xlsx", xlsx_upload(tmp_path, frame))
    assert workbook.status == 422, workbook.text[:500]
    assert [(p["row"], p["message"]) for p in workbook.problems] == [
        (5, "Sheet 'Daten', row 5, column 'patient_id': the id is empty; every row needs its own id in this "
            "column."),
        (9, "Sheet 'Daten', row 9 ('P000000') repeats the id of an earlier row in column 'patient_id'; every "
            "row needs its own id.")]
    assert_nothing_stored(settings, jobs)


# -- the results -------------------------------------------------------------------------------------
def test_every_result_carries_row_id_job_and_spreadsheet_row(entrance, settings, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = breast_cancer_frame(6)
    lines = frame.to_csv(index=False, lineterminator="\n").splitlines()
    # a blank line after data row 2: the data rows are spreadsheet rows 2, 3, 5, 6, 7, 8
    plain = entrance.upload("patients.csv", ("\n".join(lines[:3] + [""] + lines[3:]) + "\n").encode())
    workbook = entrance.upload("patients.xlsx", xlsx_upload(tmp_path, frame))  # rows 3 to 8 of its sheet
    assert plain.job_id and workbook.job_id, (plain.text[:300], workbook.text[:300])
    done = {job.id: job for job in drain(settings, db)}
    for job_id, rows in ((plain.job_id, [2, 3, 5, 6, 7, 8]), (workbook.job_id, [3, 4, 5, 6, 7, 8])):
        assert done[job_id].status.value == "PROCESS OK"
        expected = [f"{job_id}-{row}" for row in rows]
        book = result_rows(entrance.download(job_id, "xlsx"))
        assert book[0][:2] == ["row_id", "patient_id"] and book[0][-3:] == ["prediction", "probability", "row_status"]
        assert [r[0] for r in book[1:]] == expected
        assert [r[1] for r in book[1:]] == frame["patient_id"].tolist()  # the input columns follow, as sent
        table = csv_rows(entrance.download(job_id, "csv"))
        assert table[0][:2] == ["row_id", "patient_id"]
        assert [r[0] for r in table[1:]] == expected


def test_a_model_with_an_id_column_keeps_it_as_sent(entrance, settings, db, model_dir) -> None:  # type: ignore[no-untyped-def]
    with_id_column(settings, db, model_dir)
    frame = breast_cancer_frame(5)
    frame["patient_id"] = ["007", "1e3", "=A1", "A-7", "12.50"]  # would change as numbers or formulas
    upload = entrance.upload("patients.csv", frame.to_csv(index=False).encode())
    assert upload.job_id, upload.text[:500]
    [done] = drain(settings, db)
    assert done.status.value == "PROCESS OK"
    book = result_rows(entrance.download(done.id, "xlsx"))
    assert "row_id" not in book[0] and book[0][0] == "patient_id"
    # text cells, formula-looking text guarded as everywhere; the rest exactly as sent
    assert [r[0] for r in book[1:]] == ["007", "1e3", "'=A1", "A-7", "12.50"]
    table = csv_rows(entrance.download(done.id, "csv"))
    assert table[0][0] == "patient_id" and "row_id" not in table[0]
    assert [r[0] for r in table[1:]] == ["007", "1e3", "'=A1", "A-7", "12.50"]


def test_the_bare_call_takes_the_job_from_a_job_file_name(model_dir: Path, tmp_path: Path) -> None:
    frame = breast_cancer_frame(3)
    for name, expected in (("job-17-ab12cd34.csv", ["17-2", "17-3", "17-4"]), ("patients.csv", ["2", "3", "4"])):
        source = tmp_path / name
        frame.to_csv(source, index=False)
        out = prediction(source, tmp_path / f"{source.stem}-result.xlsx", model_dir=model_dir)
        assert [r[0] for r in result_rows(out.read_bytes())[1:]] == expected
        assert [r[0] for r in csv_rows(out.with_suffix(".csv").read_bytes())[1:]] == expected
    explicit = prediction(tmp_path / "patients.csv", tmp_path / "explicit.xlsx", model_dir=model_dir, job_id=5)
    assert [r[0] for r in result_rows(explicit.read_bytes())[1:]] == ["5-2", "5-3", "5-4"]


def test_post_api_models_takes_an_id_column(api_client, settings, db, admin, alice, bearer, model_dir) -> None:  # type: ignore[no-untyped-def]
    from tests.core.test_model_archive import zip_dir

    deployed = api_client.post("/api/models", headers=bearer(admin), data={"name": "bc-ids", "version": "v1",
                                                                          "activate": "true", "id_column": "patient_id"},
                               files={"archive": ("bc.zip", zip_dir(model_dir), "application/zip")})
    assert deployed.status_code == 201, deployed.text
    assert deployed.json()["id_column"] == "patient_id"
    record = Registry(db, settings).get("bc-ids", "v1")
    assert record is not None and record.id_column == "patient_id"
    refused = api_client.post("/api/jobs", headers=bearer(alice), data={"model": "bc-ids"},
                              files={"file": ("p.csv", breast_cancer_frame(5).drop(columns=["patient_id"])
                                              .to_csv(index=False).encode(), "text/csv")})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["message"] == "Missing column 'patient_id', the id of each row."


def test_the_template_of_a_model_with_an_id_column_carries_distinct_ids(model_dir: Path, tmp_path: Path) -> None:
    """The Models page's template CSV passes the upload check of a model with an id column."""
    from app.core.registry.models import ModelRecord
    from app.core.registry.template import template_csv, template_rows

    model = load_model(model_dir)
    schema = {**model.schema, "id_column": "patient_id"}
    record = ModelRecord(1, "patients", "with-id", "0" * 64, schema, None, None, True)
    header, first, second = template_rows(record)
    assert header == ["patient_id", *model.features]
    assert first[0] and second[0] and first[0] != second[0]
    source = tmp_path / "patients-template.csv"
    source.write_bytes(template_csv(record))
    report = inspect_csv(source, model.feature_specs, id_column="patient_id")
    assert report.ok, [p.message for p in report.problems]
    plain = ModelRecord(1, "plain", "v1", "0" * 64, model.schema, None, None, True)
    assert template_rows(plain)[0] == model.features
