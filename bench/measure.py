"""Run a command as a child process and measure it: wall time and peak resident memory (from
the kernel's accounting of that child, via wait4: exact, no polling)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    wall: float  # seconds, process start to exit (interpreter start, imports and model load included)
    peak_rss_mb: float
    job: float  # seconds the process reports for the job itself (after imports and model load)
    output: dict
    stderr: str = ""  # what the child logged (a worker's logfmt events go there)
    cpu: float = 0.0  # CPU seconds (user + system) of the child and the children it waited for


def run_measured(args: list[str], timeout: float = 1800, env: dict[str, str] | None = None,
                 json_line: bool = True) -> Run:
    """Run `python <args>` from the project root; it must print one JSON line last (unless
    ``json_line`` is false: a program that prints none, such as the cron worker, whose job
    time is then its wall time). ``env``: the child's whole environment (default: ours)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=out, stderr=err,
                                env={**(os.environ if env is None else env), "PYTHONPATH": str(ROOT)})
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        lines = out.read().strip().splitlines()
        logged = err.read()
        if proc.returncode != 0 or (json_line and not lines):
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {logged[-2000:]}")
    result = json.loads(lines[-1]) if json_line else {}
    return Run(wall=wall, peak_rss_mb=usage.ru_maxrss / 1024, job=float(result.get("seconds", wall)), output=result,
               cpu=usage.ru_utime + usage.ru_stime,
               stderr=logged)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        ram = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        ram = "unknown"
    packages = []
    for name in ("numpy", "pandas", "scikit-learn", "openpyxl", "orjson", "starlette", "uvicorn"):
        try:
            packages.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            packages.append(f"{name} (not installed)")
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "packages": ", ".join(packages),
    }
