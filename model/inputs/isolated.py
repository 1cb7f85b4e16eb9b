"""A workbook or Parquet conversion (model/inputs/workbook.py), or a compressed CSV's
decompression (model/inputs/compressed.py), in a child process.

The reader is native code: a file it cannot hold ends in an allocation failure that aborts the
whole process, whatever Python does.  So the conversion runs in a child started with the same
interpreter (`python -m model.inputs.isolated`), which limits its own address space
(RLIMIT_AS) before it imports a reader; the request goes in as JSON on stdin and the
Conversion comes back as JSON on stdout.  A child that dies (out of memory, a crash) or runs
past its time becomes a Conversion with a problem naming the file: the caller's process, the
web server, never holds the grid.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model.inputs.compressed import decompress_csv
from model.inputs.report import Problem
from model.inputs.workbook import Conversion, Limits, convert, input_kind
from model.schema import FeatureSpec, feature_specs

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("beyond.conversion")
TIMEOUT_SECONDS = 900


def _spec(values: dict[str, Any]) -> FeatureSpec:
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return FeatureSpec(**fields)


def convert_isolated(path: str | os.PathLike[str], out_csv: str | os.PathLike[str], filename: str,
                     features: Sequence[str | FeatureSpec], limits: Limits, memory_mb: int,
                     timeout: float = TIMEOUT_SECONDS) -> Conversion:
    """`convert` in a child process of at most `memory_mb` MB of address space (0: no limit)."""
    request = {"path": os.fspath(path), "out": os.fspath(out_csv), "filename": filename,
               "features": [dataclasses.asdict(s) for s in feature_specs(features)],
               "limits": dataclasses.asdict(limits), "memory_mb": memory_mb}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    fmt = Path(filename).suffix.lower().lstrip(".")
    try:
        done = subprocess.run([sys.executable, "-m", "model.inputs.isolated"], input=json.dumps(request),
                              capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        log.warning("conversion of %r stopped after %s s", filename, timeout)
        return Conversion(fmt, [Problem(f"Converting '{filename}' took more than {timeout:,.0f} seconds, so it "
                                        "was stopped. Save it as CSV, or split it, and upload that.")])
    if done.returncode != 0 or not done.stdout.strip():
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
        lines = done.stderr.strip().splitlines()
        log.warning("conversion of %r ended by %s: %s", filename, how, lines[0][:300] if lines else "no message")
        memory = f" of {memory_mb:,} MB (CONVERSION_MEMORY_MB)" if memory_mb else ""
        return Conversion(fmt, [Problem(
            f"'{filename}' could not be converted: reading it needed more than the memory{memory} a conversion "
            f"may use, or it stopped the reader ({how}). Save it as CSV, or split it, and upload that.")])
    answer = json.loads(done.stdout)
    answer["problems"] = [Problem(p["message"], p["row"], p["column"]) for p in answer["problems"]]
    return Conversion(**answer)


def main() -> None:
    request = json.loads(sys.stdin.read())
    if request["memory_mb"]:
        limit = request["memory_mb"] * 1024**2
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    limits = Limits(**request["limits"])
    if input_kind(request["filename"]) == "compressed":
        conversion = decompress_csv(request["path"], request["out"], request["filename"], limits)
    else:
        conversion = convert(request["path"], request["out"], request["filename"],
                             [_spec(s) for s in request["features"]], limits=limits)
    answer = dataclasses.asdict(conversion)
    answer["problems"] = [p.as_dict() for p in conversion.problems]
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
