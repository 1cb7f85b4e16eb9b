"""Workbook read speed: python-calamine (what uploads use) versus openpyxl's read-only mode.

    .venv/bin/python bench/bench_workbook_read.py [--rows 100000]

Writes a breast-cancer-shaped workbook (patient_id, 30 feature columns, diagnosis: 32 cells a
row) with LibreOffice-free means (openpyxl write-only mode, once), then reads every cell of
the first sheet with each library, each in a fresh process, three times, and prints the
median rows/s and peak RSS.  Also times the whole upload conversion (model.inputs.workbook
.convert: the sheet search, the cell texts and the canonical CSV written).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READERS = {
    "calamine": """
import python_calamine as c
with c.CalamineWorkbook.from_path(PATH) as wb:
    n = sum(1 for _ in wb.get_sheet_by_index(0).iter_rows())
""",
    "openpyxl read-only": """
import openpyxl
wb = openpyxl.load_workbook(PATH, read_only=True, data_only=True)
n = sum(1 for _ in wb.worksheets[0].iter_rows(values_only=True))
wb.close()
""",
    "convert (calamine + canonical CSV)": """
from model.inputs.workbook import convert
from tests.hostile_cases import FEATURES
conv = convert(PATH, PATH + ".csv", PATH, FEATURES)
assert conv.ok, conv.problems
n = conv.rows
""",
}

RUNNER = """
import json, resource, sys, time
PATH = sys.argv[1]
start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
print(json.dumps({{"rows": n, "seconds": elapsed,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def make_workbook(path: Path, rows: int) -> None:
    import openpyxl

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.conftest import breast_cancer_frame

    frame = breast_cancer_frame(min(rows, 20_000))
    values = frame.values.tolist()
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("patients")
    sheet.append(list(frame.columns))
    for i in range(rows):
        sheet.append(values[i % len(values)])
    book.save(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "patients.xlsx"
        made = time.perf_counter()
        make_workbook(path, args.rows)
        print(f"workbook: {args.rows:,} rows x 32 columns, {path.stat().st_size / 1024**2:.1f} MB "
              f"(written in {time.perf_counter() - made:.1f} s)")
        print("| reader | rows | seconds (median) | rows/s | peak RSS (MB) |")
        print("|---|---:|---:|---:|---:|")
        for name, body in READERS.items():
            runs = []
            for _ in range(args.runs):
                out = subprocess.run([sys.executable, "-c", RUNNER.format(body=body), str(path)],
                                     capture_output=True, text=True, check=True, cwd=root)
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            seconds = statistics.median(r["seconds"] for r in runs)
            rows = runs[0]["rows"]
            print(f"| {name} | {rows:,} | {seconds:.2f} | {rows / seconds:,.0f} | "
                  f"{max(r['rss_mb'] for r in runs):,.0f} |")


if __name__ == "__main__":
    main()
