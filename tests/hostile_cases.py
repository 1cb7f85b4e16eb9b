"""The hostile-input corpus in tests/data/hostile/ and what must happen to each file.

Reused by the CSV, panel-upload and API tests: upload HOSTILE_DIR / filename with FEATURES as
the model's columns; `accepted` says whether it must be accepted, and a rejected file's
messages must contain `message` (for accepted files `message` is "").  See the README.md next
to the files for the story behind each one.
"""

from pathlib import Path
from typing import NamedTuple

HOSTILE_DIR = Path(__file__).parent / "data" / "hostile"

# sklearn's load_breast_cancer().feature_names (the test suite checks they still match).
FEATURES = [
    "mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness",
    "mean compactness", "mean concavity", "mean concave points", "mean symmetry",
    "mean fractal dimension", "radius error", "texture error", "perimeter error", "area error",
    "smoothness error", "compactness error", "concavity error", "concave points error",
    "symmetry error", "fractal dimension error", "worst radius", "worst texture",
    "worst perimeter", "worst area", "worst smoothness", "worst compactness", "worst concavity",
    "worst concave points", "worst symmetry", "worst fractal dimension",
]


class HostileCase(NamedTuple):
    filename: str
    accepted: bool
    message: str  # a fragment of the problem message ("" for accepted files)


HOSTILE_CASES = [
    HostileCase("empty.csv", False, "The file is empty."),
    HostileCase("whitespace_only.csv", False, "The file is empty."),
    HostileCase("header_only.csv", False, "The file has a header row but no data rows."),
    HostileCase("binary.csv", False,
                "This does not look like a CSV text file (it contains binary data)."),
    HostileCase("excel_workbook.csv", False, "It looks like an Excel workbook"),
    HostileCase("utf16.csv", False, "The file is UTF-16 text"),
    HostileCase("invalid_utf8.csv", True, ""),
    HostileCase("extra_fields.csv", False, "Row 4 has 32 fields; the header has 31."),
    HostileCase("missing_fields.csv", False, "Row 6 has 30 fields; the header has 31."),
    HostileCase("duplicate_columns.csv", False,
                "Column 'mean radius' appears more than once (columns 2 and 32)."),
    HostileCase("text_in_numeric.csv", False,
                "Row 7, column 'mean radius': 'abc' is not a number."),
    HostileCase("nan_accepted.csv", True, ""),
    HostileCase("inf_rejected.csv", False,
                "Row 9, column 'mean texture': 'inf' is not a finite number."),
    HostileCase("formulas.csv", True, ""),
    HostileCase("semicolon_decimal_comma.csv", True, ""),
    HostileCase("tab_delimited.csv", True, ""),
    HostileCase("bom_utf8.csv", True, ""),
    HostileCase("cp1252.csv", True, ""),
    HostileCase("no_header.csv", False, "looks like data, not column names"),
    HostileCase("case_and_space_headers.csv", True, ""),
    HostileCase("misspelled_header.csv", False,
                "Missing column 'mean radius'. Did you mean 'mean_radius'?"),
    HostileCase("unclosed_quote.csv", False, "Row 5: a quoted value is never closed"),
    HostileCase("text_after_quote.csv", False,
                "Row 3: a quoted value has more text after its closing quote."),
    HostileCase("blank_lines_multiline.csv", True, ""),
    HostileCase("unnamed_index_column.csv", True, ""),
    HostileCase("decimal_comma_tab.csv", False,
                "Row 2, column 'mean radius': '17,99' is not a number. "
                "Use a point (.) as the decimal separator."),
]
