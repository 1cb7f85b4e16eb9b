"""CSV habits of spreadsheet users: title lines above the header, thousands separators, percent
signs and currency symbols, and a Windows Excel CSV (cp1252, ";", CRLF, decimal comma)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.inputs.habits import blank_lines_above, find_header_line
from model.inputs.reader import feature_matrix
from model.inputs.scan import inspect_csv
from tests.conftest import breast_cancer_frame
from tests.hostile_cases import FEATURES
from tests.model import test_hostile_input as hostile
from tests.model.test_hostile_input import assert_nothing_stored, drain
from tests.support.reading import text_chunks

# The panel and API entrances of the hostile-input tests (fixtures), on both engines.
entrance, open_entrance = hostile.entrance, hostile.open_entrance


def excel_csv(path: Path, rows: int = 12, title: bool = True) -> tuple[Path, np.ndarray]:
    """What Excel in a Spanish locale saves as "CSV (delimitado por comas)": cp1252, ";",
    CRLF, decimal comma, a title line and a blank line above the header, and thousands
    separators in the area columns."""
    frame = breast_cancer_frame(rows, seed=5)
    frame["patient_id"] = [f"{p} Peña" for p in frame["patient_id"]]
    lines = ["Informe de pacientes – año 2026;;", ";;"] if title else []
    lines.append(";".join(frame.columns))
    for _, record in frame.iterrows():
        cells = []
        for name, value in record.items():
            if name in FEATURES:
                text = f"{value:.4f}".replace(".", ",")
                if value >= 1000:  # 1.865,5000
                    whole, frac = text.split(",")
                    text = f"{whole[:-3]}.{whole[-3:]},{frac}"
                cells.append(text)
            else:
                cells.append(str(value))
        lines.append(";".join(cells))
    path.write_bytes("\r\n".join(lines).encode("cp1252") + b"\r\n")
    return path, np.vectorize(lambda v: float(f"{v:.4f}"))(frame[FEATURES].to_numpy())


def test_title_lines_are_skipped_and_rows_keep_their_line_numbers(tmp_path: Path) -> None:
    path, expected = excel_csv(tmp_path / "informe.csv")
    assert find_header_line(path, FEATURES) == 3
    canonical = tmp_path / "canonical.csv"
    blank_lines_above(path, canonical, 3)
    assert canonical.read_bytes() == b"\r\n\r\n" + path.read_bytes().split(b"\r\n", 2)[2]
    report = inspect_csv(canonical, FEATURES)
    assert report.ok, report.problems
    assert (report.format.delimiter, report.format.decimal, report.format.encoding) == (";", ",", "cp1252")
    X = np.vstack([feature_matrix(c, report, FEATURES) for c in text_chunks(canonical, report)])
    np.testing.assert_allclose(X, expected)  # 1.865,5 is 1865.5
    assert any(x >= 1000 for x in X.ravel())


def test_no_title_means_no_rewrite(tmp_path: Path) -> None:
    path, _ = excel_csv(tmp_path / "plain.csv", title=False)
    assert find_header_line(path, FEATURES) is None
    data = tmp_path / "data.csv"
    data.write_text("1,2,3\n4,5,6\n")
    assert find_header_line(data, FEATURES) is None  # no line names a column: left to inspect_csv


@pytest.mark.parametrize(("cell", "delimiter", "accepted", "hint"), [
    ('"1,865.5"', ",", 1865.5, ""),
    ('"1,865,000"', ",", 1865000.0, ""),
    ('"1,865"', ",", None, "Remove the thousands separators (write 1865.5, not 1,865.5)."),
    ('"1.865,5"', ",", None, "Remove the thousands separators"),
    ("1.865,5", ";", 1865.5, ""),
    ("1.865.000", ";", 1865000.0, ""),
    ("1,865.5", ";", None, "Remove the thousands separators (write 1865,5, not 1.865,5)."),
    ("25%", ",", None, "Remove the percent sign"),
    ('"$1,200"', ",", None, "Remove the currency symbol"),
    ("12 €", ";", None, "Remove the currency symbol"),
])
def test_thousands_separators_and_hints(tmp_path: Path, cell: str, delimiter: str, accepted: float | None,
                                        hint: str) -> None:
    header = delimiter.join(FEATURES)
    row = delimiter.join([cell] + ["1"] * (len(FEATURES) - 1))
    path = tmp_path / "t.csv"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    report = inspect_csv(path, FEATURES)
    if accepted is None:
        assert not report.ok
        [problem] = report.problems
        assert problem.row == 2 and problem.column == "mean radius"
        assert hint in problem.message, problem.message
    else:
        assert report.ok, report.problems
        [chunk] = text_chunks(path, report)
        assert feature_matrix(chunk, report, FEATURES)[0, 0] == accepted


def test_title_line_upload_runs_and_tells_the_line(entrance, settings, db, jobs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, _ = excel_csv(tmp_path / "informe.csv")
    outcome = entrance.upload("informe.csv", path.read_bytes())
    assert outcome.status in (201, 303), outcome.text[:800]
    if entrance.kind == "api":
        body = json.loads(outcome.text)
        assert body["input"]["header_row"] == 3 and body["input"]["delimiter"] == ";"
        assert body["input"]["encoding"] == "cp1252" and body["input"]["decimal_mark"] == ","
    else:
        assert "header on line 3" in entrance.client.get("/jobs").text
        original = entrance.client.get(f"/jobs/{outcome.job_id}/original.csv")
        assert original.content == path.read_bytes()  # the user's file, title and all
    [done] = drain(settings, db)
    assert done.status.value == "PROCESS OK" and done.rows_done == 12
    # A bad cell: the message names the line as the user's editor shows it.
    lines = path.read_bytes().split(b"\r\n")
    cells = lines[6].split(b";")
    cells[1] = b"abc"
    lines[6] = b";".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\r\n".join(lines))
    jobs.delete(done.id)
    rejected = entrance.upload("bad.csv", bad.read_bytes())
    assert rejected.status == 422
    assert "the header is on line 3" in rejected.message
    assert rejected.problems[0]["message"] == "Row 7, column 'mean radius': 'abc' is not a number."


def test_rejected_title_file_leaves_nothing(entrance, settings, jobs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.csv"
    path.write_text("Report\n" + ",".join(FEATURES) + "\n" + ",".join(["25%"] * len(FEATURES)) + "\n")
    outcome = entrance.upload("t.csv", path.read_bytes())
    assert outcome.status == 422 and "percent sign" in outcome.problems[0]["message"]
    assert_nothing_stored(settings, jobs)


def test_result_in_the_users_convention(entrance, settings, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A Spanish Excel CSV comes back as ";" + decimal comma + Windows-1252 (dialect excel, the
    default), or as the stored RFC 4180 file; the .xlsx shows probability as a percentage."""
    import csv
    import io

    import openpyxl

    path, expected = excel_csv(tmp_path / "informe.csv")
    outcome = entrance.upload("informe.csv", path.read_bytes())
    [done] = drain(settings, db)
    assert done.status.value == "PROCESS OK"
    if entrance.kind == "api":
        response = entrance.client.get(f"/api/jobs/{outcome.job_id}/result?format=csv", headers=entrance.headers)
    else:
        response = entrance.client.get(f"/jobs/{outcome.job_id}/result.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=windows-1252"
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("cp1252")
    assert "Peña" in text and "\r\n" in text
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    header = rows[0]
    assert header[-3:] == ["prediction", "probability", "row_status"] and len(rows) == 13
    at_p, at_pred = header.index("probability"), header.index("prediction")
    radius = header.index("mean radius")
    assert rows[1][radius] == f"{expected[0, 0]:g}".replace(".", ",")
    probability = rows[1][at_p]
    assert "," in probability and "." not in probability and 0 < float(probability.replace(",", ".")) <= 1
    assert rows[1][at_pred] in ("malignant", "benign")
    plain = entrance.download(outcome.job_id, "csv", dialect="rfc4180").decode("utf-8-sig")
    stored = list(csv.reader(io.StringIO(plain, newline="")))
    assert stored[0] == header and float(stored[1][at_p]) == float(probability.replace(",", "."))
    assert stored[1][radius] == f"{expected[0, 0]:g}"
    bad = (entrance.client.get(f"/api/jobs/{outcome.job_id}/result?format=csv&dialect=tsv", headers=entrance.headers)
           if entrance.kind == "api" else entrance.client.get(f"/jobs/{outcome.job_id}/result.csv?dialect=tsv"))
    assert bad.status_code == 400
    book = openpyxl.load_workbook(io.BytesIO(entrance.download(outcome.job_id, "xlsx")))
    cell = book["predictions"].cell(2, at_p + 1)
    assert book["predictions"].cell(1, at_p + 1).value == "probability"
    assert cell.number_format == "0.00%" and 0 < cell.value <= 1  # the value stays the probability
