"""One of each in model/: one pandas reader configuration, one list of missing-value words.

Read from the source (ast), so a second, diverging copy cannot creep back in."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from model.inputs import conversions
from model.inputs.conversions import MISSING_WORDS
from model.inputs.reader import read_csv_options
from model.inputs.report import CsvFormat
from model.inputs.scan import inspect_csv
from tests.hostile_cases import FEATURES, HOSTILE_CASES, HOSTILE_DIR
from tests.support.reading import text_chunks

MODEL_DIR = Path(conversions.__file__).parents[1]
SOURCES = {path.relative_to(MODEL_DIR).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
           for path in sorted(MODEL_DIR.rglob("*.py"))}


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) == name or getattr(node.func, "id", None) == name)
    ]


def test_every_read_csv_takes_its_options_from_read_csv_options() -> None:
    found = 0
    for name, tree in SOURCES.items():
        for call in calls(tree, "read_csv"):
            found += 1
            where = f"{name}:{call.lineno}"
            assert len(call.args) == 1, where  # the path, nothing else
            assert len(call.keywords) == 1 and call.keywords[0].arg is None, where  # only **options
            options = call.keywords[0].value
            assert isinstance(options, ast.Call) and getattr(options.func, "id", None) == "read_csv_options", where
    assert found == 2  # the cell check (inputs/scan.py) and the job's reader (inputs/reader.py)


def test_no_other_list_of_missing_words() -> None:
    """Only model/inputs/conversions.py spells the missing-value words or derives variants of them.
    (results/xlsx.py's _MISSING_REPRS holds "nan", "NaN", "<NA>", "NaT": str() of missing Python
    objects, a different thing; see its comment.)"""
    words = MISSING_WORDS - {"", "nan", "<na>"}
    for name, tree in SOURCES.items():
        if name == "inputs/conversions.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Set, ast.List, ast.Tuple)):
                items = {e.value.lower() for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                assert not items & words, f"{name}:{node.lineno}"
            assert not (isinstance(node, ast.Name) and node.id == "MISSING_WORDS"), f"{name}:{node.lineno}"


def test_pandas_na_spellings_are_missing_words() -> None:
    spellings = conversions.NA_SPELLINGS
    assert {s.strip().lower() for s in spellings} == MISSING_WORDS
    assert {"NaN", "N/A", "NULL", "none", "#N/A", "<NA>", ""} <= set(spellings)


@pytest.mark.parametrize("fmt", [CsvFormat("utf-8-sig", ",", "."), CsvFormat("cp1252", ";", ","),
                                 CsvFormat("latin-1", "\t", ".")])
def test_options_follow_the_detected_format(fmt: CsvFormat) -> None:
    text = read_csv_options(fmt)
    assert (text["sep"], text["encoding"], text["header"], text["dtype"], text["na_filter"]) == (
        fmt.delimiter, fmt.encoding, None, str, False)
    both = read_csv_options(fmt, [3, 1], [0, 2])
    assert (both["sep"], both["encoding"], both["decimal"]) == (fmt.delimiter, fmt.encoding, fmt.decimal)
    assert both["usecols"] == [0, 1, 2, 3]
    assert both["dtype"] == {0: str, 2: str}
    assert set(both["na_values"]) == {1, 3}
    assert read_csv_options(fmt, [1], decimal=".")["decimal"] == "."
    shared = {"quotechar", "doublequote", "skip_blank_lines", "keep_default_na", "engine", "header"}
    assert {k: text[k] for k in shared} == {k: both[k] for k in shared}


@pytest.mark.parametrize("case", [c for c in HOSTILE_CASES if c.accepted], ids=lambda c: c.filename)
def test_the_readers_agree_on_the_hostile_corpus(case) -> None:  # type: ignore[no-untyped-def]
    """text_chunks (every cell as text) and the prediction reader (features as floats) see the
    same rows, and the features are what feature_matrix makes of the text."""
    import numpy as np

    from model.inputs.reader import feature_matrix, read_chunks

    path = HOSTILE_DIR / case.filename
    report = inspect_csv(path, FEATURES)
    assert report.ok
    plain = list(text_chunks(path, report, chunksize=3))
    fast = list(read_chunks(path, report, FEATURES, 3))
    assert [len(c) for c in plain] == [len(X) for X, _, _ in fast]
    for chunk, (X, texts, bad) in zip(plain, fast):
        np.testing.assert_array_equal(feature_matrix(chunk, report, FEATURES), X)
        assert texts == {i: chunk[i].tolist() for i in texts}
        assert bad is None  # an accepted file of the corpus has no cell left unscored
