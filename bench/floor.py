"""The floor (issue 15): what no job can beat, in a process of its own. The CSV read in chunks
with pandas (`pd.read_csv(path, chunksize=50_000)`) and the default model's `predict_proba` on
each chunk's feature columns; nothing is validated, formatted or written.

    python -m bench.floor INPUT.csv [--chunk-rows 50000] [--warm-up]

--warm-up: the first 200 rows read and predicted once before the timed run (first calls).

Prints one JSON line like bench.ours: rows, seconds (read + predict, after imports and the
model load), chunk_rows. bench/floor_multiples.py reports every job as a multiple of it.
"""

from __future__ import annotations

import argparse
import json
import time


def floor(source: str, chunk_rows: int = 50_000, warm_up: bool = False) -> dict[str, float | int]:
    import pandas as pd

    from bench.data import WARMUP_ROWS
    from model.loading import load_model

    model = load_model()
    features = list(model.features)
    if warm_up:  # as bench.ours --warm-up and the worker's warm-up job: first calls untimed
        model.estimator.predict_proba(pd.read_csv(source, nrows=WARMUP_ROWS)[features])
    rows = 0
    started = time.perf_counter()
    for chunk in pd.read_csv(source, chunksize=chunk_rows):
        model.estimator.predict_proba(chunk[features])
        rows += len(chunk)
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 3), "chunk_rows": chunk_rows}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    ap.add_argument("--warm-up", action="store_true", help="read and predict the first rows first, untimed")
    args = ap.parse_args(argv)
    print(json.dumps(floor(args.source, args.chunk_rows, args.warm_up)))


if __name__ == "__main__":
    main()
