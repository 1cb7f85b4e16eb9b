"""Trust each prediction: a status for every row and a data-quality and drift report for every
job, computed chunk by chunk in the prediction's own pass over the file (no second read).

Row status (the ``row_status`` column of every result): empty for a clean row, else one or
more of, joined by "; "::

    no data: every feature is empty                       (not scored)
    not scored: the model cannot take this row's values (ValueError: ...)
    missing: mean radius, mean texture
    outside training range: mean area (1.0e308 > 2501)
    unseen category: plan='ultra'

A row with no feature present gets no prediction (the model would answer from imputed values
alone).  A row the model raises on is found by splitting the failing chunk in halves until the
failing rows are alone (`predict_rows`), so one bad row never sinks the file; its range flags
name the column at fault (an overflowing 1e308 is far outside any training range).

The report compares the upload with the training profile (model/profile.py).  Per feature:
missing rate, values outside the training [min, max] (numbers, integers, datetimes), unseen
categories, and the population stability index over the training deciles (categories: over
the training values plus one bucket for unseen ones), PSI = sum((u - t) * ln(u / t)) with
shares floored at `PSI_FLOOR` so an empty bin does not make it infinite.  Thresholds (status
``ok`` / ``warning`` / ``alert``):

- PSI >= 0.1 warning, >= 0.25 alert (the customary limits); judged only with at least
  `MIN_VALUES_FOR_PSI` non-missing values: with n values and 10 bins a sample drawn from the
  training data itself has a PSI of about 9/n, which for small files is noise, not drift.
- missing rate above the training one by 5 points: warning; by 20 points: alert.  An optional
  feature the file has no column for is none of these: its entry says "not sent" (``"sent":
  false``), status ``ok``.
- values outside the training range, or unseen categories: 2% of the non-missing values
  warning, 10% alert (a sample of the training population lands outside the range of the
  training rows now and then; a shifted population does so steadily).

The predictions get a PSI against the training predictions with the same limits.  The job's
status is the worst of its features' and predictions', and at least ``warning`` when some rows
could not be scored.  A model without a profile gets status ``unknown`` ("no training
profile"); its rows still get the "no data" and "not scored" statuses.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from model.artifact import Model
from model.inputs.reader import BadRow
from model.messages import ERROR_CHARS, error_text
from model.profile import BINNED_TYPES, bin_counts, bin_index, boolean_keys, counts_upto, datetime_seconds
from model.results.cells import SparseTexts
from model.schema import BOOLEAN, CATEGORY, DATETIME, FeatureSpec

ROW_STATUS_COLUMN = "row_status"
OK, WARNING, ALERT, UNKNOWN = "ok", "warning", "alert", "unknown"
STATUS_ORDER = {OK: 0, UNKNOWN: 0, WARNING: 1, ALERT: 2}
PSI_WARNING, PSI_ALERT = 0.1, 0.25
MISSING_RISE_WARNING, MISSING_RISE_ALERT = 0.05, 0.20
OUTSIDE_WARNING, OUTSIDE_ALERT = 0.02, 0.10
MIN_VALUES_FOR_PSI = 500
PSI_FLOOR = 1e-4
NO_PROFILE = "no training profile"
NO_DATA = "no data: every feature is empty"
NOT_SENT = "not sent (an optional column the file does not have)"
MAX_CATEGORY_VALUES = 200  # upload values kept per category feature for the chart; the rest is counted
THRESHOLDS = {
    "psi_warning": PSI_WARNING, "psi_alert": PSI_ALERT,
    "missing_rise_warning": MISSING_RISE_WARNING, "missing_rise_alert": MISSING_RISE_ALERT,
    "outside_warning": OUTSIDE_WARNING, "outside_alert": OUTSIDE_ALERT,
    "min_values_for_psi": MIN_VALUES_FOR_PSI,
}


def psi(upload: Sequence[float], training: Sequence[float]) -> float:
    """Population stability index of two share vectors (same bins)."""
    u = np.maximum(np.asarray(upload, dtype=np.float64), PSI_FLOOR)
    t = np.maximum(np.asarray(training, dtype=np.float64), PSI_FLOOR)
    return float(np.sum((u - t) * np.log(u / t)))


def _exotic_number(value: float) -> str:
    """short_number of a value that is not finite, or of a magnitude >= 1e6 or < 1e-3."""
    if not math.isfinite(value):
        return str(value)
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def short_numbers(values: np.ndarray) -> list[str]:
    """Numbers for status texts: "2501", "0.1634", "12346", "1.0e308", "inf".  Magnitudes from
    1e-3 to 1e6 are rounded to four significant digits but keep every integer digit, and
    written as the shortest text of the rounded double (vectorised: one orjson call for the
    lot); others as a mantissa with one decimal and an exponent."""
    v = np.asarray(values, dtype=np.float64).ravel() + 0.0  # + 0.0: -0.0 becomes 0.0
    if not len(v):
        return []
    magnitude = np.abs(v)
    with np.errstate(invalid="ignore"):
        plain = (magnitude >= 1e-3) & (magnitude < 1e6) | (magnitude == 0)
    shown = np.where(plain, magnitude, 1.0)
    scale = 10.0 ** np.clip(3 - np.floor(np.log10(np.where(shown > 0, shown, 1.0))), 0, 6)
    rounded = np.round(np.where(plain, v, 0.0) * scale) / scale  # k / 10**d: the double nearest to it
    text = b"," + orjson.dumps(rounded, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1] + b","
    texts = text.replace(b".0,", b",")[1:-1].decode("ascii").split(",")
    if not plain.all():
        for i in np.flatnonzero(~plain).tolist():
            texts[i] = _exotic_number(float(v[i]))
    return texts


def short_number(value: float) -> str:
    """One number as `short_numbers` writes it."""
    return short_numbers(np.array([value]))[0]


def _by_row(pairs: Sequence[tuple[np.ndarray, list[str]]]) -> dict[int, str]:
    """{row: its texts joined by ", "} from (rows, texts) pairs given in feature order, each
    pair's rows ascending: a row's texts keep that order.  One sort for all the pairs and a
    join per row, instead of a dictionary step per cell."""
    if not pairs:
        return {}
    if len(pairs) == 1:
        return dict(zip(pairs[0][0].tolist(), pairs[0][1]))
    rows = np.concatenate([r for r, _ in pairs])
    texts = [t for _, ts in pairs for t in ts]
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    texts = [texts[i] for i in order.tolist()]
    cuts = (np.flatnonzero(rows[1:] != rows[:-1]) + 1).tolist()
    starts, ends = [0, *cuts], [*cuts, len(rows)]
    return {row: texts[a] if b - a == 1 else ", ".join(texts[a:b])
            for row, a, b in zip(rows[starts].tolist(), starts, ends)}


def worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=STATUS_ORDER.__getitem__, default=OK)


def _shown(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


@dataclass
class ChunkCheck:
    """What the check found in one chunk: `scorable` rows (None: all of them) and, per flagged
    row, its problems so far (statuses are texts only for flagged rows)."""

    n: int
    scorable: np.ndarray | None
    problems: dict[int, list[str]]


class _Feature:
    """The running counts of one feature over the job."""

    def __init__(self, spec: FeatureSpec, profile: dict[str, Any] | None) -> None:
        self.spec, self.profile = spec, profile
        self.rows = self.missing = self.outside = self.unseen = 0
        self.edges = np.asarray((profile or {}).get("edges") or [], dtype=np.float64)
        self.binned = spec.type in BINNED_TYPES and profile is not None and "shares" in profile \
            and isinstance(profile["shares"], list)
        self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)
        self.low = float(profile["min"]) if profile and profile.get("min") is not None else None
        self.high = float(profile["max"]) if profile and profile.get("max") is not None else None
        shares = (profile or {}).get("shares")
        self.known = frozenset(shares) if isinstance(shares, dict) else frozenset(spec.categories)
        self.values: Counter[str] = Counter()
        self.sent = True  # False: an optional feature the file has no column for

    def numbers(self, values: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Counts a chunk of numbers; returns the rows below / above the training range."""
        self.rows += len(values)
        gaps = int(np.count_nonzero(missing))
        self.missing += gaps
        if self.binned:  # NaN is below no edge: the counts need only how many are not NaN
            self.counts += bin_counts(values, self.edges, len(values) - gaps)
        below = above = None
        if self.low is not None and self.high is not None:
            below, above = values < self.low, values > self.high
            self.outside += int(np.count_nonzero(below)) + int(np.count_nonzero(above))
        return below, above

    def keys(self, keys: pd.Series) -> np.ndarray:
        """Counts a chunk of category/boolean keys (None where missing); returns unseen rows."""
        missing = keys.isna().to_numpy()
        self.rows += len(keys)
        self.missing += int(np.count_nonzero(missing))
        codes, uniques = pd.factorize(keys)
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        for value, count in zip(uniques, counts):
            if value in self.values or len(self.values) < MAX_CATEGORY_VALUES:
                self.values[str(value)] += int(count)
            else:
                self.values["(other values)"] += int(count)
        unseen = np.zeros(len(keys), dtype=bool)
        if self.spec.type == CATEGORY and self.known:
            new = np.fromiter((u not in self.known for u in uniques), dtype=bool, count=len(uniques))
            if new.any():
                unseen = np.zeros(len(keys), dtype=bool)
                unseen[codes >= 0] = new[codes[codes >= 0]]
                self.unseen += int(np.count_nonzero(unseen))
        return unseen

    def report(self) -> dict[str, Any]:
        spec, profile = self.spec, self.profile
        present = self.rows - self.missing
        entry: dict[str, Any] = {
            "name": spec.name, "type": spec.type,
            "missing_rate": self.missing / self.rows if self.rows else 0.0,
            "out_of_range": self.outside, "unseen": self.unseen, "psi": None, "status": UNKNOWN,
            "reasons": [],
        }
        if not self.sent:
            # Leaving out an optional column is the uploader's choice the model was built
            # for, not drift: said as such, and never a warning, an alert or a webhook.
            entry.update(sent=False, status=OK if profile is not None else UNKNOWN, reasons=[NOT_SENT])
            return entry
        if profile is None:
            entry["reasons"] = [NO_PROFILE]
            return entry
        trained_missing = float(profile.get("missing_rate", 0.0))
        entry["training_missing_rate"] = trained_missing
        statuses, reasons = [OK], []
        if self.binned:
            upload = (self.counts / present).tolist() if present else [0.0] * len(self.counts)
            entry["bins"] = {"edges": self.edges.tolist(), "training": list(profile["shares"]), "upload": upload}
            if present:
                entry["psi"] = round(psi(upload, profile["shares"]), 6)
        elif isinstance(profile.get("shares"), dict):
            training = dict(profile["shares"])
            labels = sorted(training)
            unseen_share = sum(c for v, c in self.values.items() if v not in training)
            upload = [self.values.get(v, 0) / present if present else 0.0 for v in labels]
            upload_unseen = unseen_share / present if present else 0.0
            entry["categories"] = {"labels": labels + ["(unseen)"], "training": [training[v] for v in labels] + [0.0],
                                   "upload": upload + [upload_unseen]}
            if present:
                entry["psi"] = round(psi(upload + [upload_unseen], [training[v] for v in labels] + [0.0]), 6)
        if entry["psi"] is not None and present >= MIN_VALUES_FOR_PSI:
            value = entry["psi"]
            if value >= PSI_WARNING:
                statuses.append(ALERT if value >= PSI_ALERT else WARNING)
                reasons.append(f"PSI {value:.2f}")
        rise = entry["missing_rate"] - trained_missing
        if rise > MISSING_RISE_WARNING:
            statuses.append(ALERT if rise > MISSING_RISE_ALERT else WARNING)
            reasons.append(f"missing {entry['missing_rate']:.0%} (training {trained_missing:.0%})")
        for count, what in ((self.outside, "outside training range"), (self.unseen, "unseen categories")):
            share = count / present if present else 0.0
            if share > OUTSIDE_WARNING:
                statuses.append(ALERT if share > OUTSIDE_ALERT else WARNING)
                reasons.append(f"{share:.0%} {what}")
        entry["status"], entry["reasons"] = worst(statuses), reasons
        return entry


class QualityCheck:
    """Row status and the quality report of one job, fed chunk by chunk.

    numeric: the names of the number/integer features in the chunk matrix X, in its column
    order; absent: optional features the file lacks (every cell missing, never flagged);
    background: count the decile bins in a thread beside the job (worth it with a core to
    spare); `close()` when the job stops before `report()`."""

    def __init__(self, model: Model, numeric: Sequence[str], absent: Sequence[str] = (),
                 background: bool = False) -> None:
        self.model = model
        self.profile = model.profile
        features = (self.profile or {}).get("features", {})
        self.specs = model.feature_specs
        self.numeric = list(numeric)
        self.absent = set(absent)
        self.stats = {s.name: _Feature(s, features.get(s.name)) for s in self.specs}
        for name in self.absent:
            self.stats[name].sent = False
        self.typed = [s for s in self.specs if s.name not in set(self.numeric) and s.name not in self.absent]
        # The training range of each X column (NaN without a profile: comparisons are then false)
        self.lows = np.array([self.stats[n].low if self.stats[n].low is not None else np.nan for n in self.numeric])
        self.highs = np.array([self.stats[n].high if self.stats[n].high is not None else np.nan for n in self.numeric])
        # The decile edges of the X columns as rows of a matrix (edges x columns), padded with
        # +inf (which every number is <=) for columns with fewer edges or no bins; `_upto[j, k]`
        # counts the values of column k <= edge j over the job (the bins are their differences).
        binned = [self.stats[n] for n in self.numeric]
        depth = max((len(f.edges) for f in binned if f.binned), default=0)
        self._edge_rows = np.full((depth, len(binned)), np.inf)
        for k, f in enumerate(binned):
            if f.binned:
                self._edge_rows[:len(f.edges), k] = f.edges
        self._upto = np.zeros((depth, len(binned)), dtype=np.int64)
        self._limits: dict[tuple[str, str], str] = {}
        # The decile counts run in a thread of their own beside the rest of the job (numpy
        # releases the GIL while it compares and counts), one chunk at a time: see _bins_of.
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self.background = background
        self.rows = self.rows_flagged = self.rows_not_scored = 0
        self.prediction_counts: Counter[str] = Counter()
        predictions = (self.profile or {}).get("predictions") or {}
        self.prediction_profile = predictions
        self.prediction_edges = np.asarray(predictions.get("edges") or [], dtype=np.float64)
        self.prediction_bins = np.zeros(len(self.prediction_edges) + 1, dtype=np.int64)
        self.numeric_predictions = predictions.get("type") == "number"
        self.failures: Counter[str] = Counter()

    # -- one chunk ------------------------------------------------------------------------------
    def check(self, X: np.ndarray, frame: pd.DataFrame | None,
              bad: Mapping[int, BadRow] | None = None) -> ChunkCheck:
        """Counts a chunk (X: its number/integer features; frame: the model's input, needed
        when the model has features of other types) and finds its flagged rows.  bad: rows
        with cells that do not fit their type ({row: (status text, features at fault)}, their
        cells already missing in X and frame): not scored, their status first; the cells at
        fault count as missing in the report but are not listed as "missing" in the status.

        Whole-matrix numpy for the counts; per column only for columns with a missing or
        outside value in this chunk; the texts are made per column and grouped by row with
        one sort (`_by_row`), so no Python code runs per clean row or per flagged cell."""
        n = len(X)
        if not n:
            return ChunkCheck(0, None, {})
        self.rows += n
        flagged = np.zeros(n, dtype=bool)
        # (name, rows) of missing cells and (rows, texts) of outside ones, in feature order
        gone: list[tuple[str, np.ndarray]] = []
        ranges: list[tuple[np.ndarray, list[str]]] = []
        if self.numeric:
            XT = np.ascontiguousarray(X.T)  # X is column-major: this is a view, each row one feature
            self._bins_of(XT)
            with np.errstate(invalid="ignore"):
                lowest, highest = XT.min(axis=1), XT.max(axis=1)  # NaN when the column has a missing cell
            holes = np.isnan(lowest)
            if holes.any():  # those columns' ranges without their missing cells
                lowest[holes] = np.fmin.reduce(XT[holes], axis=1)
                highest[holes] = np.fmax.reduce(XT[holes], axis=1)
            outside_columns = np.flatnonzero((lowest < self.lows) | (highest > self.highs))
            for name in self.numeric:
                self.stats[name].rows += n
            if holes.any():
                missing = np.isnan(XT[holes])
                for k, row_missing in zip(np.flatnonzero(holes).tolist(), missing):
                    self.stats[self.numeric[k]].missing += int(np.count_nonzero(row_missing))
                    gone.append((self.numeric[k], np.flatnonzero(row_missing)))
                    flagged |= row_missing
            # (rows, "name (", " > limit)") per column and side; their values are made text at once
            sides: list[tuple[np.ndarray, str, str]] = []
            outside_values: list[np.ndarray] = []
            for k in outside_columns.tolist():
                name, column = self.numeric[k], XT[k]
                for past, sign, which, limit in ((highest[k] > self.highs[k], ">", "high", self.highs[k]),
                                                 (lowest[k] < self.lows[k], "<", "low", self.lows[k])):
                    if not past:  # this side's range holds for the whole column
                        continue
                    at = np.flatnonzero(column > limit if sign == ">" else column < limit)
                    if len(at):
                        self.stats[name].outside += len(at)
                        flagged[at] = True
                        sides.append((at, f"{name} (", f" {sign} {self._limit(name, which)})"))
                        outside_values.append(column[at])
            if sides:
                texts, start = short_numbers(np.concatenate(outside_values)), 0
                for at, head, tail in sides:
                    ranges.append((at, [head + v + tail for v in texts[start:start + len(at)]]))
                    start += len(at)
        unseen_rows: list[tuple[np.ndarray, list[str]]] = []
        for spec in self.typed:
            assert frame is not None
            values = frame[spec.name]
            stat = self.stats[spec.name]
            if spec.type in BINNED_TYPES:  # datetimes, as seconds
                seconds = datetime_seconds(values)
                gaps = np.isnan(seconds)
                low, high = stat.numbers(seconds, gaps)
                if low is not None and high is not None:
                    for rows, sign, limit in ((high, ">", self._limit(spec.name, "high")),
                                              (low, "<", self._limit(spec.name, "low"))):
                        at = np.flatnonzero(rows)
                        if len(at):
                            flagged[at] = True
                            ranges.append((at, [f"{spec.name} ({self._value(spec.name, v)} {sign} {limit})"
                                                for v in seconds[at].tolist()]))
            else:
                raw = values.to_numpy(dtype=object)
                keys = boolean_keys(raw) if spec.type == BOOLEAN else pd.Series(raw).where(~pd.isna(raw), None)
                gaps = keys.isna().to_numpy()
                unseen = stat.keys(keys)
                if unseen.any():
                    flagged |= unseen
                    at = np.flatnonzero(unseen)
                    shown = {value: f"{spec.name}='{_shown(str(value))}'" for value in set(keys.to_numpy()[at])}
                    unseen_rows.append((at, [shown[v] for v in keys.to_numpy()[at].tolist()]))
            if gaps.any():
                flagged |= gaps
                gone.append((spec.name, np.flatnonzero(gaps)))
        for name in self.absent:
            self.stats[name].rows += n
            self.stats[name].missing += n
        # A row with no data: every present feature missing.  Only possible when every one of
        # them has a gap in this chunk; then counted per row.
        features_present = len(self.specs) - len(self.absent)
        no_data = np.zeros(n, dtype=bool)
        if len(gone) == features_present and features_present:
            counts = np.zeros(n, dtype=np.int64)
            for _, rows in gone:
                counts[rows] += 1
            no_data = counts == features_present
        scorable = ~no_data if no_data.any() else None
        if bad:
            rows_at_fault = np.fromiter(bad, dtype=np.int64, count=len(bad))
            no_data[rows_at_fault] = False  # their own status says why they are not scored
            flagged[rows_at_fault] = True
            scorable = np.ones(n, dtype=bool) if scorable is None else scorable.copy()
            scorable[rows_at_fault] = False
        problems: dict[int, list[str]] = {}
        if not flagged.any():
            return ChunkCheck(n, scorable, problems)
        missing_texts = _by_row([(rows, [name] * len(rows)) for name, rows in gone])
        range_texts = _by_row(ranges)
        unseen_texts = _by_row(unseen_rows)
        # The missing cells of rows with bad cells: those at fault are named by their own text.
        gone_in = [(name, set(rows.tolist())) for name, rows in gone] if bad and gone else []
        for i in np.flatnonzero(flagged).tolist():
            if no_data[i]:
                problems[i] = [NO_DATA]
                continue
            parts = []
            names = missing_texts.get(i)
            if bad and i in bad:
                parts.append(bad[i][0])
                if names:
                    names = ", ".join(name for name, rows in gone_in if i in rows and name not in bad[i][1])
            if names:
                parts.append("missing: " + names)
            if i in range_texts:
                parts.append("outside training range: " + range_texts[i])
            if i in unseen_texts:
                parts.append("unseen category: " + unseen_texts[i])
            problems[i] = parts
        return ChunkCheck(n, scorable, problems)

    def _bins_of(self, XT: np.ndarray) -> None:
        """Counts a chunk's bins, in the background when asked for: the previous chunk's count
        is waited for first (so at most one chunk is held and the counts are never behind by
        more), and its error, if any, raised here.  XT must not change until then: the job
        only reads a chunk's matrix after the check."""
        if not self.background:
            self._count_bins(XT)
            return
        if self._pending is not None:
            self._pending.result()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="beyond-quality-bins")
        self._pending = self._pool.submit(self._count_bins, XT)

    def close(self, quiet: bool = False) -> None:
        """Waits for the bins being counted and ends their thread: report() does it, and a
        job that stops early, so that no thread is left behind (quiet: an error of the count
        is not raised, the job's own is what matters)."""
        pending, self._pending = self._pending, None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if pending is not None and not quiet:
            pending.result()

    def _count_bins(self, XT: np.ndarray) -> None:
        """Adds a chunk's counts of values <= each decile edge (`_upto`), all columns at once."""
        if len(self._upto):
            self._upto += counts_upto(XT, self._edge_rows)

    def _value(self, name: str, value: float) -> str:
        if self.stats[name].spec.type == DATETIME:
            return str(pd.Timestamp(value, unit="s"))
        return short_number(float(value))

    def _limit(self, name: str, which: str) -> str:
        """A feature's training min or max as its status texts show it (made once per job)."""
        key = (name, which)
        if key not in self._limits:
            stat = self.stats[name]
            value = stat.high if which == "high" else stat.low
            self._limits[key] = self._value(name, value) if value is not None else "?"
        return self._limits[key]

    def statuses(self, check: ChunkCheck, failed: dict[int, str]) -> SparseTexts | None:
        """The chunk's row_status texts (None: every row clean), with the rows the model
        failed on (row -> error), and counts the flagged and unscored rows."""
        for i, error in failed.items():
            check.problems.setdefault(i, []).insert(0, f"not scored: the model cannot take this row's values ({error})")
            self.failures[error] += 1
        self.rows_flagged += len(check.problems)
        not_scored = len(failed) + (int(np.count_nonzero(~check.scorable)) if check.scorable is not None else 0)
        self.rows_not_scored += not_scored
        if not check.problems:
            return None
        at = sorted(check.problems)
        return SparseTexts(check.n, at, ["; ".join(check.problems[i]) for i in at])

    def predictions(self, labels: np.ndarray, counts: Mapping[str, int] | None = None) -> None:
        """Counts the predictions of the scored rows: class labels (a classifier's, or any
        that are not numbers) per label, numbers in the training prediction bins (nothing
        without them: a regressor's values are no categories).  counts: the scored rows' labels
        already counted by the caller ({label text: count}), so they are not counted twice;
        without them "" (an unscored row) is not counted."""
        numeric = np.issubdtype(np.asarray(labels).dtype, np.number)
        if self.model.is_classifier or not numeric:
            if counts is None:
                codes, uniques = pd.factorize(np.asarray(labels, dtype=object))
                counts = {str(v): c for v, c in zip(uniques, np.bincount(codes, minlength=len(uniques)).tolist())
                          if v != ""}
            self.prediction_counts.update(counts)
        elif self.numeric_predictions and len(labels):
            numbers = np.asarray(labels, dtype=np.float64)
            numbers = numbers[np.isfinite(numbers)]
            self.prediction_bins += np.bincount(bin_index(numbers, self.prediction_edges),
                                                minlength=len(self.prediction_bins))

    # -- the report -----------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """The job's quality report (JSON-ready); see the module's docstring for the statuses."""
        self.close()
        for k, name in enumerate(self.numeric):  # the X columns' bins from their counts per edge
            stat = self.stats[name]
            if stat.binned:
                stat.counts = np.diff(self._upto[:len(stat.edges), k], prepend=0, append=stat.rows - stat.missing)
        features = [self.stats[s.name].report() for s in self.specs]
        predictions = self._predictions_report()
        has_profile = self.profile is not None
        reasons: list[str] = []
        statuses = [OK]
        if has_profile:
            for f in features:
                statuses.append(f["status"])
                if f["status"] in (WARNING, ALERT):
                    reasons.append(f"{f['name']}: " + ", ".join(f["reasons"]))
            if predictions.get("status") in (WARNING, ALERT):
                statuses.append(predictions["status"])
                reasons.append(f"predictions: PSI {predictions['psi']:.2f}")
        if self.rows_not_scored:
            statuses.append(WARNING)
            reasons.append(f"{self.rows_not_scored:,} of {self.rows:,} rows not scored")
        status = worst(statuses) if has_profile or self.rows_not_scored else UNKNOWN
        if not has_profile:
            reasons.insert(0, NO_PROFILE)
        return {
            "status": status,
            "reason": "; ".join(reasons),
            "profile": has_profile,
            "rows": self.rows,
            "rows_flagged": self.rows_flagged,
            "rows_not_scored": self.rows_not_scored,
            "drifted_features": [f["name"] for f in features if f["status"] in (WARNING, ALERT)],
            "features": features,
            "predictions": predictions,
            "model_failures": dict(self.failures.most_common(5)),
            "thresholds": THRESHOLDS,
        }

    def _predictions_report(self) -> dict[str, Any]:
        trained = self.prediction_profile
        out: dict[str, Any] = {"type": trained.get("type"), "psi": None, "status": UNKNOWN if not trained else OK}
        if self.numeric_predictions:
            total = int(self.prediction_bins.sum())
            upload = (self.prediction_bins / total).tolist() if total else []
            out["bins"] = {"edges": self.prediction_edges.tolist(), "training": trained.get("shares", []), "upload": upload}
            if total:
                out["psi"] = round(psi(upload, trained["shares"]), 6)
        else:
            total = sum(self.prediction_counts.values())
            training = dict(trained.get("shares") or {})
            labels = sorted(set(training) | set(self.prediction_counts))
            upload = [self.prediction_counts.get(v, 0) / total if total else 0.0 for v in labels]
            out["categories"] = {"labels": labels, "training": [training.get(v, 0.0) for v in labels], "upload": upload}
            if total and training:
                out["psi"] = round(psi(upload, [training.get(v, 0.0) for v in labels]), 6)
        if trained and out["psi"] is not None and total >= MIN_VALUES_FOR_PSI and out["psi"] >= PSI_WARNING:
            out["status"] = ALERT if out["psi"] >= PSI_ALERT else WARNING
        return out


def predict_rows(model: Model, frame: pd.DataFrame) -> tuple[
        np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, dict[int, str]]:
    """model.predict_classes on `frame`, surviving rows the model raises on: a failing block is
    split in halves until each failing row is alone.  Returns (ok: bool per row, labels,
    best probability, per-class probabilities: for the ok rows only, {row: error})."""
    try:
        # Overflowing values (1e308 / a small scale) must not become RuntimeWarnings: the row
        # is reported in its row_status instead.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
            labels, best, per_class = model.predict_classes(frame)
        return np.ones(len(frame), dtype=bool), np.asarray(labels), best, per_class, {}
    except Exception as exc:  # any model failure is one row's (or more) problem
        if len(frame) == 1:
            return np.zeros(1, dtype=bool), np.asarray([]), None, None, {0: error_text(exc, ERROR_CHARS)}
    half = len(frame) // 2
    parts = [predict_rows(model, frame.iloc[:half]), predict_rows(model, frame.iloc[half:])]
    ok = np.concatenate([p[0] for p in parts])
    failed = {**parts[0][4], **{half + i: e for i, e in parts[1][4].items()}}
    labels_parts = [p[1] for p in parts if len(p[1])]
    labels = np.concatenate(labels_parts) if labels_parts else np.asarray([])
    best_parts = [p[2] for p in parts if p[2] is not None and len(p[2])]
    best = np.concatenate(best_parts) if best_parts else (None if not model.is_classifier else np.asarray([]))
    class_parts = [p[3] for p in parts if p[3] is not None and len(p[3])]
    per_class = np.concatenate(class_parts) if class_parts else None
    return ok, labels, best, per_class, failed
