"""The result files written in a process of their own (model/results/process.py), ready-made
number text (NumberColumns) and ISA-L deflate: the same files as in the job's process, errors
and aborts that leave nothing behind, and files every reader opens."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from model.predictions import prediction
from model.results import zip_stream
from model.results.cells import NumberColumns, number_json
from model.results.files import Block
from model.results.process import ResultFilesProcess, WriterProcessError
from model.results.xlsx import StreamingXlsxWriter
from model.results.zip_stream import ZipStream
from tests.conftest import breast_cancer_frame

ROOT = Path(__file__).resolve().parents[2]


def sheet_entries(path: Path) -> dict[str, bytes]:
    """Every part but the two that hold the time of writing (core.xml, the summary sheet)."""
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None  # every entry's CRC checks out
        return {n: zf.read(n) for n in zf.namelist() if n not in ("docProps/core.xml", "xl/worksheets/sheet2.xml")}


def odd_csv(path: Path, rows: int) -> Path:
    """Breast-cancer rows with an id column, missing cells, an empty row, a value far out of
    range and text needing quotes and a formula guard."""
    frame = breast_cancer_frame(rows, seed=3)
    frame.insert(0, "note", [f'id {i}, "x"' if i % 7 == 0 else ("=1+1" if i % 11 == 0 else f"P{i}") for i in range(rows)])
    frame = frame.astype(object)
    frame.iloc[5, 3] = ""
    frame.iloc[9, 1:] = ""
    frame.iloc[12, 4] = "1e308"
    frame.to_csv(path, index=False)
    return path


def test_parallel_job_writes_the_same_files(tmp_path: Path, model_dir: Path) -> None:
    source = odd_csv(tmp_path / "odd.csv", 3_000)
    alone = prediction(source, tmp_path / "alone.xlsx", model_dir=model_dir, parallel=False, chunk_rows=700)
    stages: dict[str, float] = {}
    both = prediction(source, tmp_path / "both.xlsx", model_dir=model_dir, parallel=True, chunk_rows=700,
                      stages=stages)
    assert sheet_entries(alone) == sheet_entries(both)
    assert alone.with_suffix(".csv").read_bytes() == both.with_suffix(".csv").read_bytes()
    assert stages["xlsx_text"] > 0 and stages["compress"] > 0 and stages["validate"] > 0
    wb = openpyxl.load_workbook(both, read_only=True)
    rows = list(wb["predictions"].iter_rows(values_only=True))
    wb.close()
    assert len(rows) == 3_001
    with open(both.with_suffix(".csv"), encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    assert len(table) == 3_001 and table[1][1] == 'id 0, "x"'  # quoted in the file, read back whole
    assert table[1][0] == rows[1][0] == "2" and table[3_000][0] == rows[3_000][0] == "3001"  # row_id, no job
    assert rows[12][1] == table[12][1] == "'=1+1"  # a formula in neither file
    assert rows[10][-1] == table[10][-1] == "no data: every feature is empty"
    assert rows[10][-3] is None and table[10][-3] == ""  # not scored
    assert "outside training range: mean perimeter (1.0e308 > " in rows[13][-1]
    assert not list(tmp_path.glob(".*.part"))


def test_number_columns_cut_at_a_sheet_end_read_back_from_their_text(tmp_path: Path) -> None:
    values = np.array([[1.5, np.nan], [0.1 + 0.2, 1e-7], [2.0, -3.25], [1e16, 4.0], [5.5, 6.0]])
    ints = np.array([3.0, -4.0, 0.0, 2.0**40, 7.0])  # an integer feature's X column
    path = tmp_path / "cut.xlsx"
    segments = [("x", [0, 1]), ("i", 2), ("t", 3)]
    # 5 rows on sheets of 2 data rows: the block is cut, its numbers read back from their text
    with ResultFilesProcess(path, path.with_suffix(".csv"), ["a", "b", "n", "t"], segments,
                            max_rows_per_sheet=3) as files:
        files.write(Block([number_json(values)], {1: ints, 2: ["x", "y", "z", "w", "v"]}, [], None, 5))
    assert path.with_suffix(".csv").read_bytes() == (
        b"\xef\xbb\xbfa,b,n,t\r\n1.5,,3,x\r\n0.30000000000000004,1e-7,-4,y\r\n2.0,-3.25,0,z\r\n"
        b"1e+16,4.0,1099511627776,w\r\n5.5,6.0,7,v\r\n")
    wb = openpyxl.load_workbook(path)
    got = [row for name in ("predictions", "predictions_2", "predictions_3")
           for row in list(wb[name].iter_rows(min_row=2, values_only=True))]
    assert got == [(1.5, None, 3, "x"), (0.30000000000000004, 1e-7, -4, "y"), (2.0, -3.25, 0, "z"),
                   (1e16, 4.0, 2**40, "w"), (5.5, 6.0, 7, "v")]


def test_json_only_number_columns_know_their_shape() -> None:
    block = NumberColumns(None, number_json(np.array([[1.0, 2.0, 3.0], [4.0, np.nan, 6.0]])))
    assert (block.rows, block.width) == (2, 3)
    assert np.array_equal(block.values, np.array([[1.0, 2.0, 3.0], [4.0, np.nan, 6.0]]), equal_nan=True)
    whole = NumberColumns(None, number_json(np.array([[1], [2]])), kind="i")
    assert whole.values.dtype == np.int64 and whole.values.tolist() == [[1], [2]]
    with pytest.raises(ValueError):
        NumberColumns(np.array([1.0, 2.0]))


def test_the_zip_writer_deflates_with_isal_and_every_reader_checks_its_crcs(tmp_path: Path) -> None:
    assert zip_stream.uses_isal()
    path = tmp_path / "parts.zip"
    big = b"".join(b"<row><c><v>%d</v></c></row>" % i for i in range(200_000))
    with ZipStream(path) as archive:
        entry = archive.open("xl/worksheets/sheet1.xml")
        for start in range(0, len(big), 1 << 20):
            entry.write(big[start:start + (1 << 20)])
        entry.close()
        archive.writestr("docProps/\u00e9t\u00e9.xml", b"<a/>")
        archive.writestr("empty.xml", b"")
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == ["xl/worksheets/sheet1.xml", "docProps/\u00e9t\u00e9.xml", "empty.xml"]
        assert zf.read("xl/worksheets/sheet1.xml") == big and zf.read("empty.xml") == b""
        info = zf.getinfo("xl/worksheets/sheet1.xml")
        assert info.compress_type == zipfile.ZIP_DEFLATED and info.compress_size < len(big) / 5
    failed = tmp_path / "failed.zip"
    with pytest.raises(RuntimeError):
        with ZipStream(failed) as archive:
            archive.writestr("a.xml", b"<a/>")
            raise RuntimeError("disk full")
    assert not failed.exists()
    x = np.linspace(0, 1, 20_000)
    out = tmp_path / "book.xlsx"
    with StreamingXlsxWriter(out, ["x", "t"]) as book:
        book.write_chunk([x, [f"row {i}" for i in range(20_000)]])
    wb = openpyxl.load_workbook(out, read_only=True)
    assert list(wb.active.iter_rows(min_row=20_001, values_only=True)) == [(1.0, "row 19999")]
    wb.close()


def one_column(path: Path, **options: object) -> ResultFilesProcess:
    return ResultFilesProcess(path, path.with_suffix(".csv"), ["a"], [("x", [0])], **options)


def numbers(n: int) -> Block:
    return Block([number_json(np.arange(n, dtype=np.float64)[:, None])], {}, [], None, n)


def test_an_error_in_the_child_is_raised_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(WriterProcessError, match="FileNotFoundError|No such file"):  # the child's own error
        ResultFilesProcess(tmp_path / "missing" / "x.xlsx", None, ["a"], [("x", [0])])
    with pytest.raises(FileNotFoundError):  # the CSV is opened here
        one_column(tmp_path / "missing" / "x.xlsx")
    path = tmp_path / "bad.xlsx"
    with pytest.raises(WriterProcessError, match="the text has 2 columns, not 1"):
        with one_column(path) as files:
            files.write(Block([number_json(np.ones((3, 2)))], {}, [], None, 3))
            files.write(numbers(3))  # the first one's error, at the latest here
            files.close()
    assert not path.exists() and not path.with_suffix(".csv").exists()


def test_an_aborted_job_leaves_no_file_and_no_process(tmp_path: Path) -> None:
    path = tmp_path / "aborted.xlsx"
    with pytest.raises(KeyboardInterrupt):
        with one_column(path) as files:
            files.write(numbers(10_000))
            child = files._process
            raise KeyboardInterrupt
    assert child.poll() is not None and not path.exists() and not path.with_suffix(".csv").exists()


def test_the_workbook_process_leaves_interrupts_to_the_job(tmp_path: Path) -> None:
    # Ctrl-C or a TERM to the worker's process group reaches the child too: the job's process
    # decides (it releases the job at its next block), so the child must not die of them.
    path = tmp_path / "signals.xlsx"
    with one_column(path) as files:
        files.write(numbers(1_000))  # (it ignores them before it answers the opening)
        files._process.send_signal(signal.SIGINT)
        files._process.send_signal(signal.SIGTERM)
        files.write(numbers(1_000))
    wb = openpyxl.load_workbook(path, read_only=True)
    assert len(list(wb.active.iter_rows(values_only=True))) == 2_001
    wb.close()


def test_a_killed_child_fails_the_job_clearly(tmp_path: Path) -> None:
    path = tmp_path / "killed.xlsx"
    with pytest.raises(WriterProcessError, match="ended unexpectedly"):
        with one_column(path) as files:
            files._process.send_signal(signal.SIGKILL)
            files._process.wait()
            for _ in range(10):
                files.write(numbers(100_000))
    assert not path.exists() and not path.with_suffix(".csv").exists()


def test_the_child_removes_its_workbook_when_the_job_process_dies(tmp_path: Path) -> None:
    path = tmp_path / "orphan.xlsx"
    script = (
        "import os, sys, numpy as np\n"
        "from model.results.files import Block\n"
        "from model.results.process import ResultFilesProcess\n"
        "from model.results.cells import number_json\n"
        f"files = ResultFilesProcess({str(path)!r}, {str(path.with_suffix('.csv'))!r}, ['a'], [('x', [0])])\n"
        "files.write(Block([number_json(np.ones((1000, 1)))], {}, [], None, 1000))\n"
        "print(files._process.pid, flush=True)\n"
        "os._exit(9)  # as if killed: nothing closed\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (path.exists() or _alive(child)):
        time.sleep(0.05)
    # The workbook's process cleans up after itself; the CSV, written by the job's process,
    # is the reaper's to remove with the dead claim's other .part files (scheduler/worker.py).
    assert not path.exists() and not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (reaped by init later) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_relative_paths_land_where_the_job_means_them(tmp_path: Path, model_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The workbook's process runs from the project's directory: it must get absolute paths.
    odd_csv(tmp_path / "in.csv", 500)
    monkeypatch.chdir(tmp_path)
    out = prediction("in.csv", "out.xlsx", model_dir=model_dir, parallel=True)
    assert out == Path("out.xlsx") and (tmp_path / "out.xlsx").is_file() and (tmp_path / "out.csv").is_file()
    assert sheet_entries(tmp_path / "out.xlsx") and not list(tmp_path.glob(".*.part"))
