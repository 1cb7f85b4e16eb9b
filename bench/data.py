"""Breast-cancer-shaped CSVs for the benchmark: rows sampled from scikit-learn's copy of the
Wisconsin data set, each value nudged by ~1% noise and rounded to that column's decimals (so
the text looks like the real file), behind a `patient_id` column."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"
_BLOCK = 100_000  # rows generated and written at a time: flat memory for the 1M file
# Rows of the warm-up run before a measured one (first calls, lazy imports, the model load).
WARMUP_ROWS = 200


def _decimals(column: np.ndarray) -> int:
    """Most decimals any value of the column shows (0.04996 -> 5)."""
    text = pd.Series(column).map(repr)
    return int(text.str.partition(".")[2].str.len().max())


def make_csv(rows: int, path: Path | None = None, seed: int = 0, six_digits: bool = False) -> Path:
    """Write (once; kept if already complete) `rows` rows to bench/data/breast_cancer_<rows>.csv.

    six_digits: every number with six significant digits ("17.9934", "0.0831942"), as real
    exports carry them, in bench/data/breast_cancer_6d_<rows>.csv: longer texts to parse,
    format and compress than the data set's own two to five decimals."""
    from sklearn.datasets import load_breast_cancer

    path = path or DATA_DIR / (f"breast_cancer_6d_{rows}.csv" if six_digits else f"breast_cancer_{rows}.csv")
    done = path.with_name(path.name + ".done")  # written last: a killed run is regenerated
    if path.exists() and done.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    data = load_breast_cancer()
    source = data.data
    decimals = [_decimals(source[:, j]) for j in range(source.shape[1])]
    rng = np.random.default_rng(seed)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        for start in range(0, rows, _BLOCK):
            n = min(_BLOCK, rows - start)
            picked = source[rng.integers(0, len(source), n)]
            noisy = picked * rng.normal(1.0, 0.01, picked.shape)
            frame = pd.DataFrame(
                {name: noisy[:, j] if six_digits else np.round(noisy[:, j], decimals[j])
                 for j, name in enumerate(data.feature_names)}
            )
            frame.insert(0, "patient_id", [f"P{i:07d}" for i in range(start, start + n)])
            frame.to_csv(f, index=False, header=start == 0, lineterminator="\n",
                         float_format="%.6g" if six_digits else None)
    os.replace(tmp, path)
    done.touch()
    return path


def head_csv(source: Path, rows: int, target: Path) -> Path:
    """The header and the first ``rows`` rows of ``source`` (a job of the same columns)."""
    with open(source, encoding="utf-8", newline="") as f, open(target, "w", encoding="utf-8", newline="") as out:
        for i, line in enumerate(f):
            if i > rows:
                break
            out.write(line)
    return target
