"""The training profile saved with a model: what the training data looked like, so that every
job can be compared with it (model/quality.py: row status and the quality report).

A profile is a JSON object (schema.json's ``"profile"`` entry for our models, written by
`artifact.build_schema`; ``profile.json`` beside an MLflow model's ``MLmodel``, written by
``python -m app deploy-model --sample FILE``)::

    {"format": 1, "rows": 455,
     "features": {"mean radius": {"type": "number", "missing_rate": 0.0, "min": 6.98, "max": 28.1,
                                  "edges": [10.3, ...], "shares": [0.1, ...]},
                  "plan": {"type": "category", "missing_rate": 0.0, "shares": {"basic": 0.6, ...}},
                  "note": {"type": "text", "missing_rate": 0.1}},
     "predictions": {"type": "category", "shares": {"benign": 0.63, "malignant": 0.37}}}

Numbers, integers and datetimes (as seconds since 1970) have decile bin edges: up to 9 inner
edges (duplicates dropped, so a column of few values has fewer bins); bin 0 holds the values
<= edges[0], bin i those in (edges[i-1], edges[i]], the last one those > edges[-1]
(`bin_index`).  ``shares`` are the training rows' shares per bin, computed with the same
`bin_index`, so an upload drawn from the training data has the same shares.  Booleans and
categories have the share of each value ("true"/"false" for booleans).  ``predictions``: a
classifier's share per predicted class, a regressor's prediction bins like a number's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.schema import BOOLEAN, CATEGORY, DATETIME, INTEGER, NUMBER, TEXT, FeatureSpec, one_per_row

PROFILE_FORMAT = 1
PROFILE_FILE = "profile.json"  # beside an MLflow model
QUANTILES = np.linspace(0.1, 0.9, 9)  # deciles: 10 bins
BINNED_TYPES = frozenset({NUMBER, INTEGER, DATETIME})
SHARE_TYPES = frozenset({BOOLEAN, CATEGORY})


def bin_edges(values: np.ndarray) -> list[float]:
    """The inner decile edges of finite values (duplicates dropped)."""
    if not len(values):
        return []
    return [float(e) for e in np.unique(np.quantile(values, QUANTILES))]


def bin_index(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Each value's bin (see the module's docstring); values must not be NaN."""
    return np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")


def counts_upto(rows: np.ndarray, edge_rows: np.ndarray) -> np.ndarray:
    """For each row of `rows` (columns x values, C-contiguous) and each edge j, how many of its
    values are <= edge_rows[j, row] (edges x columns; +inf where a column has fewer edges).
    One comparison of the whole block per edge, its True cells counted eight at a time (bytes
    of 0/1 viewed as 64-bit words: a word's set bits are its True cells).  NaN is <= no edge."""
    n = rows.shape[1]
    whole = n - n % 8
    below = np.empty(rows.shape, dtype=bool)
    upto = np.zeros(edge_rows.shape, dtype=np.int64)
    for j, edge in enumerate(edge_rows):
        np.less_equal(rows, edge[:, None], out=below)
        upto[j] = np.bitwise_count(below[:, :whole].view(np.uint64)).sum(axis=1, dtype=np.int64)
        if whole < n:
            upto[j] += below[:, whole:].sum(axis=1)
    return upto


def bin_counts(values: np.ndarray, edges: Sequence[float] | np.ndarray, present: int | None = None) -> np.ndarray:
    """How many values fall in each bin: ``np.bincount(bin_index(values, edges))`` with all
    len(edges) + 1 bins, from `counts_upto` (a value's bin is the number of edges below it,
    so the values up to edge j are those of bins 0..j).  NaN values are in no bin:
    ``present`` is the number of the others (default: all of them)."""
    edges = np.asarray(edges, dtype=np.float64)
    total = len(values) if present is None else present
    upto = counts_upto(np.ascontiguousarray(values, dtype=np.float64)[None, :], edges[:, None])[:, 0]
    return np.diff(upto, prepend=0, append=total)


def bin_shares(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    counts = np.bincount(bin_index(values, edges), minlength=len(edges) + 1)
    return [float(c) for c in counts / max(len(values), 1)]


def datetime_seconds(values: Any) -> np.ndarray:
    """Datetimes (datetime64 of any unit, NaT allowed) as float seconds since 1970, NaN for NaT."""
    stamps = pd.to_datetime(pd.Series(values), errors="coerce")
    seconds = stamps.astype("datetime64[ns]").to_numpy().astype(np.int64).astype(np.float64) / 1e9
    seconds[stamps.isna().to_numpy()] = np.nan
    return seconds


def boolean_keys(values: Any) -> pd.Series:
    """Booleans (bool, or object True/False/NaN; 0/1 numbers) as "true"/"false", NaN if missing."""
    series = pd.Series(values, dtype=object)
    out = series.map(lambda v: None if pd.isna(v) else ("true" if bool(v) else "false"))
    return out


def _numbers(spec: FeatureSpec, column: pd.Series) -> np.ndarray:
    if spec.type == DATETIME:
        return datetime_seconds(column)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def feature_profile(spec: FeatureSpec, column: pd.Series) -> dict[str, Any]:
    """One training column's profile entry."""
    rows = len(column)
    entry: dict[str, Any] = {"type": spec.type}
    if spec.type in BINNED_TYPES:
        numbers = _numbers(spec, column)
        finite = numbers[np.isfinite(numbers)]
        entry["missing_rate"] = float(1 - len(finite) / rows) if rows else 0.0
        if len(finite):
            edges = bin_edges(finite)
            entry.update(min=float(finite.min()), max=float(finite.max()), edges=edges,
                         shares=bin_shares(finite, edges))
        return entry
    if spec.type == BOOLEAN:
        keys = boolean_keys(column.to_numpy(dtype=object))
    else:
        keys = pd.Series(column.to_numpy(dtype=object)).map(lambda v: None if pd.isna(v) else str(v))
    present = keys.dropna()
    entry["missing_rate"] = float(1 - len(present) / rows) if rows else 0.0
    if spec.type in SHARE_TYPES and len(present):
        entry["shares"] = {str(k): float(v) for k, v in present.value_counts(normalize=True).sort_index().items()}
    return entry


def predictions_profile(labels: np.ndarray, classifier: bool) -> dict[str, Any]:
    """The distribution of a model's predictions: shares per class, or bins of the numbers."""
    labels = np.asarray(labels)
    if classifier or not np.issubdtype(labels.dtype, np.number):
        counts = pd.Series([str(v) for v in labels.tolist()]).value_counts(normalize=True).sort_index()
        return {"type": CATEGORY, "shares": {str(k): float(v) for k, v in counts.items()}}
    numbers = labels.astype(np.float64)
    finite = numbers[np.isfinite(numbers)]
    edges = bin_edges(finite)
    return {"type": NUMBER, "min": float(finite.min()) if len(finite) else None,
            "max": float(finite.max()) if len(finite) else None, "edges": edges,
            "shares": bin_shares(finite, edges)}


def build_profile(estimator: Any, X: pd.DataFrame, specs: Sequence[FeatureSpec],
                  label_map: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The profile of training data X (columns named like the specs) and of the estimator's
    predictions on it.  The predictions are left out if the estimator cannot predict X
    (e.g. a pipeline fitted on other columns); the feature part still helps.  `label_map`
    (the schema's ``labels``) names encoded classes as jobs will show them."""
    label = {str(c): c for c in X.columns}  # X may have non-text column labels
    features = {spec.name: feature_profile(spec, X[label[spec.name]]) for spec in specs if spec.name in label}
    profile: dict[str, Any] = {"format": PROFILE_FORMAT, "rows": int(len(X)), "features": features}
    try:
        labels = one_per_row(estimator.predict(X), len(X))
    except Exception:  # a profile without predictions is still a profile
        return profile
    if label_map:
        labels = np.asarray([label_map.get(str(v), str(v)) for v in labels.tolist()], dtype=object)
    profile["predictions"] = predictions_profile(np.asarray(labels), hasattr(estimator, "predict_proba"))
    return profile


def check_profile(profile: Any, where: str) -> dict[str, Any] | None:
    """The profile if it has the expected shape, else None (a model with a damaged or foreign
    profile is scored as one without).  `where` names the file in no message: a profile is
    advisory and never stops a model from loading."""
    if not isinstance(profile, Mapping) or profile.get("format") != PROFILE_FORMAT:
        return None
    features = profile.get("features")
    if not isinstance(features, Mapping):
        return None
    for entry in features.values():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("type"), str):
            return None
        edges, shares = entry.get("edges"), entry.get("shares")
        if edges is not None and not (isinstance(shares, list) and isinstance(edges, list)
                                      and len(shares) == len(edges) + 1):
            return None
    return dict(profile)


def read_profile_file(directory: Path) -> dict[str, Any] | None:
    """``profile.json`` of a model directory, or None when absent or unreadable."""
    path = directory / PROFILE_FILE
    if not path.is_file():
        return None
    try:
        return check_profile(json.loads(path.read_text(encoding="utf-8")), str(path))
    except ValueError:
        return None


def sample_profile(model: Any, sample: pd.DataFrame) -> dict[str, Any]:
    """The profile of a sample of training data for a loaded `Model` (MLflow: its signature's
    features), predicted with the model itself.  ValueError naming the columns the sample lacks."""
    specs = model.feature_specs
    missing = [s.name for s in specs if s.name not in sample.columns and s.required]
    if missing:
        raise ValueError(f"the sample has no column {', '.join(map(repr, missing))}")
    frame = pd.DataFrame({s.name: _typed(s, sample[s.name]) if s.name in sample.columns
                          else pd.Series([None] * len(sample)) for s in specs})
    features = {s.name: feature_profile(s, frame[s.name]) for s in specs}
    profile: dict[str, Any] = {"format": PROFILE_FORMAT, "rows": int(len(frame)), "features": features}
    try:
        labels, _ = model.predict(frame)
    except Exception:  # the sample's types may not suit the model; keep the features
        return profile
    profile["predictions"] = predictions_profile(np.asarray(labels), model.is_classifier)
    return profile


def _typed(spec: FeatureSpec, column: pd.Series) -> pd.Series:
    """A sample column (as read from a CSV) converted to what the model was trained with."""
    if spec.type in (NUMBER, INTEGER):
        return pd.to_numeric(column, errors="coerce").astype(np.float64)
    if spec.type == DATETIME:
        return pd.to_datetime(column, errors="coerce")
    if spec.type == BOOLEAN:
        words = column.map(lambda v: None if pd.isna(v) else str(v).strip().lower())
        return words.map(lambda w: None if w is None else w in ("true", "yes", "1", "t", "y", "1.0")).astype(object)
    if spec.type == TEXT or spec.type == CATEGORY:
        return column.map(lambda v: None if pd.isna(v) else str(v))
    return column
