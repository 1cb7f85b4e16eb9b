"""Time model.results.xlsx.StreamingXlsxWriter; prints rows/s and peak RSS.

    .venv/bin/python bench/bench_xlsx_writer.py [--rows 100000] [--chunk 50000] [--full-precision]

The default data looks like the service's output: 30 feature columns with 2-4
decimals (like the Wisconsin breast-cancer data), a "benign"/"malignant" label
column and a full-precision probability column.  --full-precision makes all 31
float columns random 17-digit values, the slowest case for float formatting.
One chunk is generated up front and written repeatedly, so the RSS measured is
the writer's, not the input's.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import numpy as np

from model.results.xlsx import StreamingXlsxWriter


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def make_chunk(n: int, full_precision: bool) -> list:
    rng = np.random.default_rng(42)
    if full_precision:
        features = [rng.random(n) for _ in range(30)]
    else:
        scales = rng.choice([0.01, 0.1, 1, 10, 100, 1000], 30)
        features = [np.round(rng.lognormal(0, 0.4, n) * s, int(rng.integers(2, 5))) for s in scales]
    labels = rng.choice(["benign", "malignant"], n).tolist()
    probability = rng.random(n)
    return [*features, labels, probability]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--full-precision", action="store_true")
    ap.add_argument("--out", default=None, help="output path (default: a temp file, deleted)")
    args = ap.parse_args()

    header = [f"feature_{i}" for i in range(30)] + ["prediction", "probability"]
    chunk = make_chunk(min(args.chunk, args.rows), args.full_precision)
    out = args.out or os.path.join(tempfile.mkdtemp(), "bench.xlsx")
    rss_before = peak_rss_mb()

    t0 = time.perf_counter()
    with StreamingXlsxWriter(out, header, highlight=(30, 31)) as writer:
        left = args.rows
        while left > 0:
            n = min(left, len(chunk[0]))
            writer.write_chunk([c[:n] for c in chunk])
            left -= n
        writer.set_summary([("rows", args.rows)])
    seconds = time.perf_counter() - t0

    size_mb = os.path.getsize(out) / 1e6
    if args.out is None:
        os.remove(out)
    print(
        f"{args.rows:,} rows x {len(header)} cols ({'full-precision' if args.full_precision else 'realistic'}),"
        f" chunks of {args.chunk:,}: {seconds:.2f} s, {args.rows / seconds:,.0f} rows/s,"
        f" file {size_mb:.1f} MB, peak RSS {peak_rss_mb():.0f} MB (before writing {rss_before:.0f} MB)"
    )


if __name__ == "__main__":
    main()
