"""Make the workbook fixtures next to this file (run from the project root):

    .venv/bin/python tests/data/workbooks/make_workbooks.py

- patients-libreoffice.xlsx / .ods / .xlsm: 40 rows of the breast-cancer data (the test model's
  30 columns plus patient_id and diagnosis), written as CSV and converted by LibreOffice
  (`libreoffice --headless --convert-to`), so they are what LibreOffice Calc really saves.
- patients-old.xls: the same, as an old binary Excel workbook (must be refused with a hint).
- encrypted.xlsx: patients-libreoffice.xlsx encrypted with the password "secret" (Agile
  encryption, as Excel writes it), made with msoffcrypto-tool (`pip install msoffcrypto-tool`;
  needed only to remake this file).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[2]))

from tests.conftest import breast_cancer_frame  # noqa: E402


def convert(source: Path, target: str, outdir: Path) -> Path:
    subprocess.run(["libreoffice", "--headless", "--convert-to", target, "--outdir", str(outdir), str(source)],
                   check=True, capture_output=True, timeout=120)
    return outdir / f"{source.stem}.{target.split(':')[0]}"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv_path = work / "patients-libreoffice.csv"
        breast_cancer_frame(40, seed=3).to_csv(csv_path, index=False)
        for target, name in (("xlsx:Calc MS Excel 2007 XML", "patients-libreoffice.xlsx"),
                             ("ods", "patients-libreoffice.ods"),
                             ("xlsm:Calc MS Excel 2007 VBA XML", "patients-libreoffice.xlsm"),
                             ("xls", "patients-old.xls")):
            made = convert(csv_path, target, work)
            shutil.copyfile(made, HERE / name)
    import msoffcrypto  # only needed here
    from msoffcrypto.format.ooxml import OOXMLFile

    with open(HERE / "patients-libreoffice.xlsx", "rb") as plain, open(HERE / "encrypted.xlsx", "wb") as out:
        OOXMLFile(plain).encrypt("secret", out)
    assert msoffcrypto


if __name__ == "__main__":
    main()
