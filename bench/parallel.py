"""Two jobs at once: two threads in one process (they share one GIL) versus two processes.

    python -m bench.parallel INPUT.csv --mode one|threads|processes

Every process loads the model first; only the jobs are timed, as in a long-lived worker.
Prints one JSON line: mode, jobs, seconds (until the last job is done).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def run_jobs(source: str, count: int, out_dir: Path) -> None:
    from model.loading import load_model
    from model.predictions import prediction

    model = load_model()
    errors: list[BaseException] = []

    def job(i: int) -> None:
        try:
            prediction(source, out_dir / f"job{i}.xlsx", model=model)
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("--mode", choices=["one", "threads", "processes", "child"], default="threads")
    args = ap.parse_args(argv)
    from model.loading import load_model

    load_model()
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as tmp:
        out = Path(tmp)
        if args.mode == "child":  # one job when the parent says go
            print("ready", flush=True)
            sys.stdin.readline()
            run_jobs(args.source, 1, out)
            return
        if args.mode in ("one", "threads"):
            started = time.perf_counter()
            run_jobs(args.source, 1 if args.mode == "one" else 2, out)
        else:
            children = [
                subprocess.Popen([sys.executable, "-m", "bench.parallel", args.source, "--mode", "child"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for _ in range(2)
            ]
            for child in children:
                assert child.stdout is not None
                child.stdout.readline()
            started = time.perf_counter()
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            for child in children:
                child.communicate()
                if child.returncode:
                    raise SystemExit(f"a job process failed with exit code {child.returncode}")
        seconds = time.perf_counter() - started
    print(json.dumps({"mode": args.mode, "jobs": 1 if args.mode == "one" else 2, "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
