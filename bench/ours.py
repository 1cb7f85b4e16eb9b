"""Our way, as the worker runs it: ``prediction()`` (validate, stream, predict, write the .xlsx
and its CSV twin, with a progress callback), in a process of its own.

    python -m bench.ours INPUT.csv OUTPUT.xlsx [--no-row-status]

--no-row-status: without the row status and the quality report (model/quality.py), for the
"with / without" measurement of `bench.quality_cost`.

Prints one JSON line: rows, seconds inside prediction(), and the sheets written.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> None:
    with_status = "--no-row-status" not in argv
    source, target = [a for a in argv if a != "--no-row-status"]
    from model.artifact import load_model
    from model.predictions import prediction

    model = load_model()
    progress: list[tuple[int, int]] = []
    started = time.perf_counter()
    out = prediction(source, target, model=model, progress=lambda done, total: progress.append((done, total)),
                     row_status=with_status)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": progress[-1][0] if progress else 0, "seconds": round(seconds, 3),
                      "progress_calls": len(progress), "output": str(out)}))


if __name__ == "__main__":
    main(sys.argv[1:])
