"""Cell conversions: what a feature cell of each type must hold, what the model gets for it
(`model_values`), and the message for a cell that does not fit (`flag_cells`, `what`).  The
same functions judge a cell at upload and convert it for the job, so what is predicted is
exactly what was accepted.  The rules are model/inputs/scan.py's."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from model.schema import BOOLEAN, DATETIME, INTEGER, NUMERIC_TYPES, FeatureSpec

# Missing values in feature cells, compared after strip() and lower() (see to_floats).
MISSING_WORDS = frozenset({"", "nan", "-nan", "na", "n/a", "#n/a", "null", "none", "<na>"})


# Their common spellings, as pandas' na_values (exact matches) for the feature columns: pandas
# reads those as NaN while it parses a column as floats.  A column holding any other spelling
# (" N/A ") stays text and goes through to_floats, which knows every spelling.
NA_SPELLINGS = sorted({variant for word in MISSING_WORDS
                        for variant in (word, word.upper(), word.title(), word.replace("nan", "NaN"))})


# Boolean cells, compared after strip() and lower() (see _to_booleans).
TRUE_WORDS = frozenset({"true", "yes", "1", "t", "y"})
FALSE_WORDS = frozenset({"false", "no", "0", "f", "n"})
BOOLEAN_HINT = "true/false, yes/no, 1/0"  # the spellings a message suggests
# Integer cells go through float64, which holds every whole number up to 2**53 exactly.
INTEGER_LIMIT = 2**53
# Datetime units whose range is narrower than the years 1-9999 a format's %Y can give.
_DATETIME_RANGE = {"datetime64[ns]": (pd.Timestamp.min, pd.Timestamp.max)}
_FORMAT_WORDS = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH", "%M": "MM", "%S": "SS", "%f": "ffffff"}


def model_values(spec: FeatureSpec, values: np.ndarray | None, n: int) -> Any:
    """The column the model gets for feature `spec` (see `FeatureSpec`), from `values`:
    float64 numbers for number and integer (as `to_floats` or pandas' parser read them), the
    cells' exact texts (object array) for the other types, or None for an optional column the
    file lacks (then `n` missing values).  The same conversions decide at upload whether a
    cell is accepted, so what is predicted is exactly what was accepted."""
    if spec.type in NUMERIC_TYPES:
        if values is None:
            return np.full(n, np.nan)
        if spec.type == INTEGER and not np.isnan(values).any():
            return values.astype(np.int64)
        return values
    texts = np.full(n, "", dtype=object) if values is None else values
    if spec.type == BOOLEAN:
        booleans, _ = _to_booleans(texts)
        return booleans if pd.isna(booleans).any() else booleans.astype(bool)
    if spec.type == DATETIME:
        return _to_datetimes(texts, spec)[0]
    return pd.array(_to_texts(texts), dtype="str")


def show(value: str, limit: int = 40) -> str:
    """A cell value for a message: quoted, shortened, control characters made visible."""
    if len(value) > limit:
        value = value[: limit - 3] + "..."
    return "'" + "".join(c if c.isprintable() else repr(c)[1:-1] for c in value) + "'"


def to_floats(texts: np.ndarray, decimal_comma: bool) -> tuple[np.ndarray, np.ndarray]:
    """Strings -> (float64 numbers, bad) where bad marks cells that are neither a number nor a
    missing-value word.  Missing and bad cells are NaN.  The single definition of "a number",
    shared by inspect_csv and feature_matrix so what is accepted is exactly what is predicted.
    """
    nums = np.asarray(pd.to_numeric(texts, errors="coerce"), dtype=np.float64)
    bad = np.zeros(len(texts), dtype=bool)
    failed = np.flatnonzero(np.isnan(nums))  # usually few cells: per-cell Python is fine here
    if failed.size:
        if decimal_comma:
            retry = np.array([t.replace(",", ".") for t in texts[failed]], dtype=object)
            nums[failed] = pd.to_numeric(retry, errors="coerce")
            failed = failed[np.isnan(nums[failed])]
        grouped = _thousands_values(texts[failed], decimal_comma)
        if grouped is not None:
            nums[failed] = grouped
            failed = failed[np.isnan(grouped)]
        missing = np.fromiter((t.strip().lower() in MISSING_WORDS for t in texts[failed]),
                              dtype=bool, count=failed.size)
        bad[failed[~missing]] = True
    return nums, bad


# Thousands separators, accepted only where the file's convention leaves no doubt: in a file
# whose decimal mark is "." (comma or tab delimited) "1,865.5" and "1,865,000" (but not
# "1,865", which may be a decimal comma); in a ";" file, whose decimal mark is "," (a point
# is accepted there as a decimal mark too), "1.865,5" and "1.865.000" (but not "1.865").
_GROUPED_POINT = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")  # 1,865.5 (groups of ",")


_GROUPED_COMMA = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")  # 1.865,5 (groups of ".")


def _thousands_value(text: str, decimal_comma: bool) -> float:
    """The number a cell with thousands separators means in this file, else NaN."""
    text = text.strip()
    if decimal_comma:
        if _GROUPED_COMMA.fullmatch(text) and ("," in text or text.count(".") > 1):
            return float(text.replace(".", "").replace(",", "."))
    elif _GROUPED_POINT.fullmatch(text) and ("." in text or text.count(",") > 1):
        return float(text.replace(",", ""))
    return math.nan


def _thousands_values(texts: np.ndarray, decimal_comma: bool) -> np.ndarray | None:
    if not any(("," in t and "." in t) or t.count(",") > 1 or t.count(".") > 1 for t in texts):
        return None  # the common case: no cell has the shape
    return np.fromiter((_thousands_value(t, decimal_comma) for t in texts), dtype=np.float64,
                       count=len(texts))


_CURRENCY = re.compile(r"[$€£¥₹]|\b(?:EUR|USD|GBP|CHF)\b")


def number_hint(value: str, decimal_comma: bool) -> str:
    """A short hint for a cell that is not a number, when it looks like a common mistake."""
    text = value.strip()
    if _GROUPED_POINT.fullmatch(text) or _GROUPED_COMMA.fullmatch(text):
        example = "1865,5, not 1.865,5" if decimal_comma else "1865.5, not 1,865.5"
        return f" Remove the thousands separators (write {example})."
    if text.endswith("%") or text.startswith("%"):
        return " Remove the percent sign: write the number alone (0.25 or 25, as the model was trained)."
    if _CURRENCY.search(text):
        return " Remove the currency symbol: write the amount alone."
    if not decimal_comma and _comma_number(text):
        return " Use a point (.) as the decimal separator."
    return ""


def _comma_number(value: str) -> bool:
    return "," in value and not to_floats(np.array([value.replace(",", ".")], dtype=object),
                                           False)[1][0]


def _per_value(texts: np.ndarray, classify: Any) -> tuple[np.ndarray, ...]:
    """classify(distinct texts) -> arrays, one entry per distinct text; returns them spread
    back over `texts`.  Typed columns repeat few values, so the Python work stays small."""
    codes, uniques = pd.factorize(texts)
    return tuple(np.asarray(a)[codes] for a in classify(list(uniques)))


def missing_flags(uniques: list[str]) -> np.ndarray:
    return np.fromiter((u.strip().lower() in MISSING_WORDS for u in uniques), dtype=bool, count=len(uniques))


def _to_booleans(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strings -> (object array of True/False, NaN where missing or bad; bad cells)."""
    def classify(uniques: list[str]) -> tuple[np.ndarray, np.ndarray]:
        keys = [u.strip().lower() for u in uniques]
        values = np.array([True if k in TRUE_WORDS else False if k in FALSE_WORDS else np.nan for k in keys],
                          dtype=object)
        return values, pd.isna(values) & ~missing_flags(uniques)
    values, bad = _per_value(texts, classify)  # two arrays
    return values, bad


def _to_datetimes(texts: np.ndarray, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strings -> (datetime64 in the unit the model was trained with, NaT where missing or
    not accepted; bad cells: not in the format; out: dates the unit cannot hold)."""
    fmt = spec.format or "%Y-%m-%d"
    dtype = spec.dtype if spec.dtype and spec.dtype.startswith("datetime64[") else "datetime64[us]"

    def classify(uniques: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        stripped = np.array([u.strip() for u in uniques], dtype=object)
        parsed = pd.to_datetime(stripped, format=fmt, errors="coerce")
        if fmt.endswith(".%f") and parsed.isna().any():  # whole seconds, without a fraction
            parsed = parsed.where(~parsed.isna(), pd.to_datetime(stripped, format=fmt[:-3], errors="coerce"))
        failed = np.asarray(parsed.isna())
        out = np.zeros(len(uniques), dtype=bool)
        if dtype in _DATETIME_RANGE:
            low, high = _DATETIME_RANGE[dtype]
            out = ~failed & np.asarray((parsed < low) | (parsed > high))
            parsed = parsed.where(~out)
        return np.asarray(parsed.astype(dtype)), failed & ~missing_flags(uniques), out
    if not len(texts):
        return np.array([], dtype=dtype), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    values, bad, out = _per_value(texts, classify)
    return values, bad, out


def _to_texts(texts: np.ndarray) -> np.ndarray:
    """Strings -> the same strings (object array), NaN where missing."""
    def classify(uniques: list[str]) -> tuple[np.ndarray]:
        return (np.array([np.nan if m else u for u, m in zip(uniques, missing_flags(uniques))], dtype=object),)
    return _per_value(texts, classify)[0]


def _format_hint(spec: FeatureSpec) -> str:
    """'a date (YYYY-MM-DD)' or 'a date and time (YYYY-MM-DD HH:MM:SS)' for a message."""
    fmt = spec.format or "%Y-%m-%d"
    shown = re.sub("%[A-Za-z]", lambda m: _FORMAT_WORDS.get(m.group(), m.group()), fmt)
    return f"a date and time ({shown})" if re.search("%[HIMSfp]", fmt) else f"a date ({shown})"


def _column_texts(col: pd.Series) -> np.ndarray:
    """The cell texts of a column pandas could not read as numbers (na_values became NaN,
    "True"/"False" became bools)."""
    values = col.to_numpy(dtype=object, na_value="")
    return np.array([v if isinstance(v, str) else str(v) for v in values], dtype=object)


# Problem codes of a cell in _CellCheck.check
NOT_A_NUMBER, _INFINITE, _NOT_WHOLE, _TOO_LARGE, _WRONG, _OUT_OF_RANGE = range(1, 7)


def flag_cells(chunk: pd.DataFrame, indices: list[int], specs: list[FeatureSpec],
                decimal_comma: bool) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The problem code of every feature cell of a chunk (0: fits), rows x len(indices), and
    the texts of the columns read as text ({position in indices: texts}).  Vectorised: number
    columns pandas parsed cost one isinf; other types are classified per distinct value."""
    flags = np.zeros((len(chunk), len(indices)), dtype=np.int8)
    texts = {}
    for j, index in enumerate(indices):
        col, kind = chunk[index], specs[j].type
        if kind in NUMERIC_TYPES:
            if col.dtype.kind in "fiu":  # pandas parsed every cell: only infinities are wrong
                nums = col.to_numpy(dtype=np.float64)
                flags[np.isinf(nums), j] = _INFINITE
            else:
                texts[j] = _column_texts(col)
                nums, bad = to_floats(texts[j], decimal_comma)
                flags[np.isinf(nums), j] = _INFINITE
                flags[bad, j] = NOT_A_NUMBER
            if kind == INTEGER:
                finite = np.isfinite(nums)
                flags[finite & (nums != np.floor(nums)), j] = _NOT_WHOLE
                flags[finite & (np.abs(nums) > INTEGER_LIMIT), j] = _TOO_LARGE
        elif kind == BOOLEAN:
            texts[j] = col.to_numpy(dtype=object)
            flags[_to_booleans(texts[j])[1], j] = _WRONG
        elif kind == DATETIME:
            texts[j] = col.to_numpy(dtype=object)
            _, bad, out = _to_datetimes(texts[j], specs[j])
            flags[bad, j] = _WRONG
            flags[out, j] = _OUT_OF_RANGE
    return flags, texts


def cell_text(chunk: pd.DataFrame, texts: dict[int, np.ndarray], i: int, j: int, indices: list[int]) -> str:
    if j in texts:
        return str(texts[j][i])
    # pandas kept only the number; show it the way Python writes it
    cell = chunk[indices[j]].iat[i]
    return str(cell) if isinstance(cell, (int, np.integer)) else repr(float(cell))


def what(spec: FeatureSpec, code: int) -> str:
    if code == NOT_A_NUMBER:
        return "is not a number"
    if code == _INFINITE:
        return "is not a finite number"
    if code == _NOT_WHOLE:
        return "is not a whole number"
    if code == _TOO_LARGE:
        return f"is too large for a whole number (at most {INTEGER_LIMIT:,} either way)"
    if spec.type == BOOLEAN:
        return f"is not true/false ({BOOLEAN_HINT})"
    if code == _OUT_OF_RANGE:
        low, high = _DATETIME_RANGE[str(spec.dtype)]
        return f"is outside the dates the model takes ({low.date()} to {high.date()})"
    return f"is not {_format_hint(spec)}"
