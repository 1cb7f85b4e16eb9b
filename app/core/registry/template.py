"""A template CSV for a model: the header (its feature names, in order) and two example rows
made from its schema, which the model's own upload check (model/inputs/scan.py) accepts.

Per type: numbers from the training ``mean`` and ``min``/``max`` when the schema has them;
integers as whole numbers; booleans true/false; the first categories (skipping ones a
spreadsheet could take for a formula or the check would read as missing); dates in the
feature's format; some text. The file is UTF-8 with a BOM, so spreadsheets read non-ASCII
names right (the upload check accepts the BOM).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from model.inputs.conversions import INTEGER_LIMIT, MISSING_WORDS
from model.results.cells import needs_guard
from model.schema import BOOLEAN, CATEGORY, DATETIME, INTEGER, NUMBER, FeatureSpec

if TYPE_CHECKING:  # the registry tries a model on these rows before it has a record (trial.py)
    from app.core.registry.models import ModelRecord

EXAMPLE_DATES = (datetime(2024, 1, 15, 9, 30, 0), datetime(2024, 6, 28, 17, 45, 30))
EXAMPLE_TEXTS = ("example text", "another example")
EXAMPLE_CATEGORIES = ("example", "other")


def _finite(entry: Mapping[str, Any], key: str) -> float | None:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _number_text(value: float) -> str:
    """A plain decimal (no exponent), at most 4 decimals: '14.1273', '0', '-3.5'."""
    text = f"{round(value, 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _numbers(entry: Mapping[str, Any]) -> tuple[float, float]:
    """Two typical values: the mean, then the minimum (or the maximum, or mean + 1)."""
    low, high, mean = _finite(entry, "min"), _finite(entry, "max"), _finite(entry, "mean")
    first = mean if mean is not None else low if low is not None else high if high is not None else 1.0
    second = low if low is not None and low != first else high if high is not None else first + 1
    return first, second


def _categories(spec: FeatureSpec) -> tuple[str, str]:
    usable = [c for c in spec.categories if c.strip().lower() not in MISSING_WORDS and not needs_guard(c)]
    if not usable:
        return EXAMPLE_CATEGORIES
    return usable[0], usable[1] if len(usable) > 1 else usable[0]


def example_values(spec: FeatureSpec, entry: Mapping[str, Any]) -> tuple[str, str]:
    """The feature's cells in the two example rows."""
    if spec.type == NUMBER:
        a, b = _numbers(entry)
        return _number_text(a), _number_text(b)
    if spec.type == INTEGER:
        a, b = _numbers(entry)
        whole = [max(-INTEGER_LIMIT, min(INTEGER_LIMIT, round(v))) for v in (a, b)]
        return str(whole[0]), str(whole[1])
    if spec.type == BOOLEAN:
        return "true", "false"
    if spec.type == CATEGORY:
        return _categories(spec)
    if spec.type == DATETIME:
        fmt = spec.format or "%Y-%m-%d"
        return EXAMPLE_DATES[0].strftime(fmt), EXAMPLE_DATES[1].strftime(fmt)
    return EXAMPLE_TEXTS


def template_rows(record: ModelRecord) -> list[list[str]]:
    """The header and the two example rows."""
    return schema_rows(record.schema)


def schema_rows(schema: Mapping[str, Any]) -> list[list[str]]:
    """`template_rows` from a model's schema (the features with their statistics)."""
    entries = schema["features"]
    specs = [FeatureSpec.from_schema(entry) for entry in entries]
    cells = [example_values(spec, entry) for spec, entry in zip(specs, entries, strict=True)]
    return [[s.name for s in specs], [c[0] for c in cells], [c[1] for c in cells]]


def template_csv(record: ModelRecord) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(template_rows(record))
    return out.getvalue().encode("utf-8-sig")


def template_filename(record: ModelRecord) -> str:
    return f"{record.name}-template.csv"
