"""What the row status and the quality report cost (issue 11): ``prediction()`` on the same
1,000,000-row file with and without them (``bench.ours`` and ``bench.ours --no-row-status``),
alternating, each run a process of its own, in one invocation so both see the same machine.

    python -m bench.quality_cost [--rows 1000000] [--runs 3]

Prints the job times of each run, the medians and the ratio with / without (the issue's limit:
at most 1.10).  bench/RESULTS.md records a run.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.data import make_csv
from bench.measure import load_average, machine, median, run_measured

LIMIT = 1.10


def measure(rows: int, runs: int) -> dict[str, list[float]]:
    source = make_csv(rows)
    times: dict[str, list[float]] = {"with": [], "without": []}
    with tempfile.TemporaryDirectory(prefix="beyond-bench-quality-") as tmp:
        for i in range(runs):
            for way, extra in (("without", ["--no-row-status"]), ("with", [])):
                target = Path(tmp) / f"{way}.xlsx"
                run = run_measured(["-m", "bench.ours", str(source), str(target), *extra])
                times[way].append(run.job)
                print(f"  {way:7} run {i + 1}/{runs}: job {run.job:6.2f} s, peak RSS {run.peak_rss_mb:5.0f} MB",
                      flush=True)
                for leftover in Path(tmp).glob(f"{way}.*"):
                    leftover.unlink()
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.quality_cost", description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"machine: {machine()}; load before: {load_average()}", flush=True)
    times = measure(args.rows, args.runs)
    with_, without = median(times["with"]), median(times["without"])
    ratio = with_ / without
    print(f"rows {args.rows:,}: without {without:.2f} s, with {with_:.2f} s (medians of {args.runs}); "
          f"with / without {ratio:.3f} (limit {LIMIT:.2f}); load after: {load_average()}")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
