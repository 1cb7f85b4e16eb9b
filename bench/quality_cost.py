"""What the row status and the quality report cost (issue 11): ``prediction()`` on the same
1,000,000-row file with and without them (``bench.ours`` and ``bench.ours --no-row-status``),
alternating (without then with, then with then without...), each run a process of its own, in
one invocation so both see the same machine.

    python -m bench.quality_cost [--rows 1000000] [--runs 5] [--six-digits]

Prints per run the job time and the process's CPU seconds; then the ratio of the medians
with / without (the issue's limit: at most 1.10), the median of the ratios of each
alternating pair (a pair runs back to back, so a burst of load on the shared machine touches
both of its runs more often than two medians), and the CPU seconds the row status and the
report add (median with - median without: the same untimed start-up and upload check in
both, so the difference is theirs, in both of the job's processes).  bench/RESULTS.md
records a run.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.data import make_csv
from bench.measure import load_average, machine, median, run_measured

LIMIT = 1.10


def measure(rows: int, runs: int, six_digits: bool = False,
            model: Path | None = None) -> dict[str, list[tuple[float, float]]]:
    """{"with": [(job seconds, CPU seconds)...], "without": [...]}, run i of each back to back;
    model: its directory (default: the default model)."""
    source = make_csv(rows, six_digits=six_digits)
    times: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
    with tempfile.TemporaryDirectory(prefix="beyond-bench-quality-") as tmp:
        ways = [("without", ["--no-row-status"]), ("with", [])]
        for i in range(runs):
            # ABBA: each way runs first in half of the pairs, so neither always follows the
            # other's gigabyte of output (the page cache, the disk's write-back)
            for way, extra in ways if i % 2 == 0 else ways[::-1]:
                target = Path(tmp) / f"{way}.xlsx"
                run = run_measured(["-m", "bench.ours", str(source), str(target), *extra,
                                    *(["--model", str(model)] if model else [])])
                times[way].append((run.job, run.cpu))
                print(f"  {way:7} run {i + 1}/{runs}: job {run.job:6.2f} s, CPU {run.cpu:6.2f} s, "
                      f"peak RSS {run.peak_rss_mb:5.0f} MB", flush=True)
                for leftover in Path(tmp).glob(f"{way}.*"):
                    leftover.unlink()
    return times


def summary(times: dict[str, list[tuple[float, float]]]) -> dict[str, float]:
    with_, without = [t for t, _ in times["with"]], [t for t, _ in times["without"]]
    return {
        "with": median(with_), "without": median(without),
        "ratio": median(with_) / median(without),
        "pair_ratio": median([a / b for a, b in zip(with_, without)]),
        "cpu_added": median([c for _, c in times["with"]]) - median([c for _, c in times["without"]]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.quality_cost", description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--six-digits", action="store_true", help="numbers with six significant digits")
    args = ap.parse_args(argv)
    print(f"machine: {machine()}; load before: {load_average()}", flush=True)
    figures = summary(measure(args.rows, args.runs, args.six_digits))
    print(f"rows {args.rows:,}: without {figures['without']:.2f} s, with {figures['with']:.2f} s "
          f"(medians of {args.runs}); with / without {figures['ratio']:.3f} (limit {LIMIT:.2f}); "
          f"median of the pairs' ratios {figures['pair_ratio']:.3f}; CPU added {figures['cpu_added']:+.2f} s; "
          f"load after: {load_average()}")
    return 0 if figures["ratio"] <= LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
