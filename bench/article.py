"""The article's way, for comparison: read the whole CSV with pandas, predict, and write the
workbook with ``DataFrame.to_excel`` (openpyxl), in a process of its own.

    python -m bench.article INPUT.csv OUTPUT.xlsx

Same model and the same two added columns as ours (prediction, probability). Prints one JSON
line like bench.ours.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> None:
    source, target = argv
    import numpy as np
    import pandas as pd

    from model.loading import load_model

    model = load_model()
    started = time.perf_counter()
    frame = pd.read_csv(source)
    proba = model.estimator.predict_proba(frame[model.features])
    best = proba.argmax(axis=1)
    frame["prediction"] = np.asarray(model.estimator.classes_)[best]
    frame["probability"] = proba[np.arange(len(best)), best]
    frame.to_excel(target, index=False, engine="openpyxl")
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": len(frame), "seconds": round(seconds, 3), "output": target}))


if __name__ == "__main__":
    main(sys.argv[1:])
