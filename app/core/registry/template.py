"""A template CSV for a model: the header (its feature names, in order) and two example rows
made from its schema, which the model's own upload check (model/inputs/scan.py) accepts.

Per type: numbers from the training ``mean`` and ``min``/``max`` when the schema has them;
integers as whole numbers; booleans true/false; the first categories (skipping ones a
spreadsheet could take for a formula or the check would read as missing); dates in the
feature's format; some text. The file is UTF-8 with a BOM, so spreadsheets read non-ASCII
names right (the upload check accepts the BOM).

Every example stays within the training range the quality check compares with (the
profile's ``min``/``max``, else the schema's): a number is written with as many decimals as
it takes to stay inside (0.06251 is not rounded to 0.0625 below its minimum), an integer is
rounded into the range, a date is taken from inside the range and read back in the feature's
format, a category is one the training data had.  So the template uploads with quality ok.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from model.inputs.conversions import INTEGER_LIMIT, MISSING_WORDS
from model.profile import check_profile
from model.results.cells import needs_guard
from model.schema import BOOLEAN, CATEGORY, DATETIME, INTEGER, NUMBER, FeatureSpec

if TYPE_CHECKING:  # the registry tries a model on these rows before it has a record (trial.py)
    from app.core.registry.models import ModelRecord

EXAMPLE_DATES = (datetime(2024, 1, 15, 9, 30, 0), datetime(2024, 6, 28, 17, 45, 30))
EXAMPLE_TEXTS = ("example text", "another example")
EXAMPLE_CATEGORIES = ("example", "other")


def _finite(entry: Mapping[str, Any] | None, key: str) -> float | None:
    value = (entry or {}).get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _range(entry: Mapping[str, Any], trained: Mapping[str, Any] | None) -> tuple[float | None, float | None]:
    """The training [min, max] the quality check uses: the profile's, else the schema's."""
    low, high = _finite(trained, "min"), _finite(trained, "max")
    if low is None or high is None:
        low, high = _finite(entry, "min"), _finite(entry, "max")
    return (low, high) if low is None or high is None or low <= high else (None, None)


def _number_text(value: float, low: float | None = None, high: float | None = None) -> str:
    """A plain decimal (no exponent) with at most 4 decimals ('14.1273', '0', '-3.5'), or as
    many more as it takes to stay within [low, high]; the shortest exact text if none does."""
    for decimals in range(4, 21):
        text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
        text = "0" if text in ("-0", "") else text
        if (low is None or float(text) >= low) and (high is None or float(text) <= high):
            return text
    return repr(value)


def _numbers(entry: Mapping[str, Any], low: float | None, high: float | None) -> tuple[float, float]:
    """Two typical values: the mean, then the minimum (or the maximum, or mean + 1), within
    [low, high] when known."""
    mean = _finite(entry, "mean")
    first = mean if mean is not None else low if low is not None else high if high is not None else 1.0
    second = low if low is not None and low != first else high if high is not None else first + 1
    if low is not None and high is not None:
        first, second = (min(max(v, low), high) for v in (first, second))
    return first, second


def _whole(value: float, low: float | None, high: float | None) -> int:
    lowest = max(-INTEGER_LIMIT, math.ceil(low) if low is not None else -INTEGER_LIMIT)
    highest = min(INTEGER_LIMIT, math.floor(high) if high is not None else INTEGER_LIMIT)
    whole = round(value)
    return min(max(whole, lowest), highest) if lowest <= highest else whole


def _categories(spec: FeatureSpec, trained: Mapping[str, Any] | None) -> tuple[str, str]:
    shares = (trained or {}).get("shares")
    known = spec.categories
    if isinstance(shares, Mapping) and shares:  # the values the quality check knows
        known = tuple(c for c in spec.categories if c in shares) or tuple(sorted(str(k) for k in shares))
    usable = [c for c in known if c.strip().lower() not in MISSING_WORDS and not needs_guard(c)]
    if not usable:
        return EXAMPLE_CATEGORIES
    return usable[0], usable[1] if len(usable) > 1 else usable[0]


def _dates(fmt: str, low: float | None, high: float | None) -> tuple[str, str]:
    """Two dates in the format from within [low, high] (seconds since 1970, naive as UTC), each
    checked by reading it back: a format without the time of day cuts a minimum of 12:00
    back to 00:00, below the range."""
    if low is None or high is None:
        return EXAMPLE_DATES[0].strftime(fmt), EXAMPLE_DATES[1].strftime(fmt)
    epoch = datetime(1970, 1, 1)
    found: list[str] = []
    for share in (0.5, 0.25, 0.75, 0.0, 1.0, 0.1, 0.9):
        try:
            text = (epoch + timedelta(seconds=low + (high - low) * share)).strftime(fmt)
            seconds = (datetime.strptime(text, fmt) - epoch).total_seconds()
        except (ValueError, OverflowError):
            continue
        if low <= seconds <= high and text not in found:
            found.append(text)
        if len(found) == 2:
            break
    if not found:
        return EXAMPLE_DATES[0].strftime(fmt), EXAMPLE_DATES[1].strftime(fmt)
    return found[0], found[-1]


def example_values(spec: FeatureSpec, entry: Mapping[str, Any],
                   trained: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """The feature's cells in the two example rows; ``trained``: its training profile entry."""
    low, high = _range(entry, trained)
    if spec.type == NUMBER:
        a, b = _numbers(entry, low, high)
        return _number_text(a, low, high), _number_text(b, low, high)
    if spec.type == INTEGER:
        a, b = _numbers(entry, low, high)
        return str(_whole(a, low, high)), str(_whole(b, low, high))
    if spec.type == BOOLEAN:
        return "true", "false"
    if spec.type == CATEGORY:
        return _categories(spec, trained)
    if spec.type == DATETIME:
        return _dates(spec.format or "%Y-%m-%d", _finite(trained, "min"), _finite(trained, "max"))
    return EXAMPLE_TEXTS


def template_rows(record: ModelRecord) -> list[list[str]]:
    """The header and the two example rows; a model with an id column gets it first, with
    two distinct ids, since its uploads must carry one per row."""
    rows = schema_rows(record.schema, record.name)
    id_column = record.id_column
    if id_column and id_column not in rows[0]:
        rows = [[id_column, *rows[0]], ["example-1", *rows[1]], ["example-2", *rows[2]]]
    return rows


def schema_rows(schema: Mapping[str, Any], name: str = "") -> list[list[str]]:
    """`template_rows` from a model's schema (the features with their statistics, and the
    training profile's ranges when it has one)."""
    entries = schema["features"]
    specs = [FeatureSpec.from_schema(entry) for entry in entries]
    profile = check_profile(schema.get("profile"), name)
    trained = profile["features"] if profile else {}
    cells = [example_values(spec, entry, trained.get(spec.name))
             for spec, entry in zip(specs, entries, strict=True)]
    return [[s.name for s in specs], [c[0] for c in cells], [c[1] for c in cells]]


def template_csv(record: ModelRecord) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(template_rows(record))
    return out.getvalue().encode("utf-8-sig")


def template_filename(record: ModelRecord) -> str:
    return f"{record.name}-template.csv"
