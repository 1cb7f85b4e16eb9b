"""The real service, end to end: a fresh SQLite configuration, `python -m app serve` on a free
127.0.0.1 port with the embedded worker, a user and an API token made with the CLI; then one
upload through `POST /api/jobs`, polled to PROCESS OK and downloaded, and the request rate of
`GET /api/jobs` and `GET /api/jobs/{id}` under a load tool (wrk when installed, else a bounded
httpx2 loop). Also the queue's throughput with one and with two worker processes.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

from bench.measure import ROOT

PASSWORD = "bench-password-" + secrets.token_hex(8)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Instance:
    directory: Path
    config: Path
    env: dict[str, str]

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 600) -> str:
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, input=stdin, text=True,
                              capture_output=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout


def write_config(directory: Path, root: Path = ROOT, **overrides: str) -> tuple[Path, dict[str, str]]:
    """config.properties for a throwaway installation in ``directory`` (SQLite and data
    directories of its own, so nothing touches the project's data/), and the environment a
    process of the code at ``root`` needs to use it."""
    values = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "SQLITE_PATH": str(directory / "beyond.sqlite3"),
        "INPUT_DIR": str(directory / "in"),
        "OUTPUT_DIR": str(directory / "out"),
        "MODELS_DIR": str(directory / "models"),
        "LOG_LEVEL": "WARNING",
        **overrides,
    }
    config = directory / "config.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEYOND_")}
    env.update(APP_CONFIG=str(config), PYTHONPATH=str(root))
    return config, env


@contextmanager
def instance(**overrides: str) -> Iterator[Instance]:
    """A throwaway configuration (SQLite, own data directories) with a user "bench"."""
    with tempfile.TemporaryDirectory(prefix="beyond-bench-") as tmp:
        directory = Path(tmp)
        config, env = write_config(directory, **{"SCHEDULER_INTERVAL": "1", **overrides})
        inst = Instance(directory, config, env)
        inst.cli("-m", "app", "init-db")
        inst.cli("-m", "app", "create-user", "bench", "--password-stdin", stdin=PASSWORD + "\n")
        yield inst


@contextmanager
def server(inst: Instance, threads: bool = False) -> Iterator[str]:
    """`python -m app serve` (embedded workers are processes), or with threads=True the
    pre-issue-6 server whose embedded workers were threads (bench/threaded_server.py)."""
    port = free_port()
    log = open(inst.directory / "server.log", "wb")
    command = ["-m", "bench.threaded_server", str(port)] if threads else [
        "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=inst.env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError("server exited: " + (inst.directory / "server.log").read_text()[-2000:])
            try:
                if httpx2.get(base + "/", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_done(client: httpx2.Client, base: str, job_id: int, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"{base}/api/jobs/{job_id}").json()
        if job["status"] == "PROCESS OK":
            return job
        if job["status"] == "ERROR":
            raise RuntimeError(f"job {job_id} failed: {job['error']}")
        time.sleep(0.05)
    raise RuntimeError(f"job {job_id} did not finish in {timeout} s")


# The result's row sheets: "predictions", then "predictions_2", ... past a sheet's row limit.
# The others ("summary", "quality") are the job's, not its rows.
_ROW_SHEET = re.compile(r"predictions(_\d+)?")


def xlsx_data_rows(path: Path) -> int:
    """Data rows over all prediction sheets, counted in the XML (the file may be large)."""
    rows = 0
    with zipfile.ZipFile(path) as zf:
        names = re.findall(r'<sheet name="([^"]+)"', zf.read("xl/workbook.xml").decode())
        for i, name in enumerate(names, 1):
            if not _ROW_SHEET.fullmatch(name):
                continue
            with zf.open(f"xl/worksheets/sheet{i}.xml") as f:
                tail = b""
                while block := f.read(1 << 22):
                    rows += (tail + block).count(b"<row ")
                    tail = block[-4:]
            rows -= 1  # the header
    return rows


def check_output(xlsx: Path, rows: int) -> str:
    """Every row is in the workbook and in the CSV twin; returns a description."""
    with zipfile.ZipFile(xlsx) as zf:
        sheets = re.findall(r'<sheet name="([^"]+)"', zf.read("xl/workbook.xml").decode())
    in_xlsx = xlsx_data_rows(xlsx)
    with open(xlsx.with_suffix(".csv"), "rb") as f:
        in_csv = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 22), b"")) - 1
    if in_xlsx != rows or in_csv != rows:
        raise SystemExit(f"{xlsx.name}: {in_xlsx:,} rows in the workbook, {in_csv:,} in the CSV, expected {rows:,}")
    return f"{rows:,} rows in sheets {', '.join(sheets)}; CSV twin {in_csv:,} rows"


def one_job(source: Path) -> dict[str, float]:
    """Upload -> PROCESS OK -> both results downloaded, through the real server."""
    with instance(EMBEDDED_WORKER="true") as inst:
        token = inst.cli("-m", "app", "create-token", "bench", "--user", "bench").strip().splitlines()[0]
        with server(inst) as base, httpx2.Client(headers={"Authorization": f"Bearer {token}"}, timeout=600) as client:
            started = time.perf_counter()
            with open(source, "rb") as f:
                created = client.post(f"{base}/api/jobs", files={"file": (source.name, f, "text/csv")})
            created.raise_for_status()
            uploaded = time.perf_counter()
            job = wait_done(client, base, created.json()["id"])
            processed = time.perf_counter()
            xlsx = inst.directory / "result.xlsx"
            xlsx.write_bytes(client.get(f"{base}/api/jobs/{job['id']}/result").raise_for_status().content)
            csv_bytes = client.get(f"{base}/api/jobs/{job['id']}/result?format=csv").raise_for_status().content
            downloaded = time.perf_counter()
            rows = xlsx_data_rows(xlsx)
            csv_rows = csv_bytes.count(b"\n") - 1
            if rows != job["rows_total"] or csv_rows != job["rows_total"]:
                raise RuntimeError(f"result has {rows} xlsx / {csv_rows} csv rows, expected {job['rows_total']}")
            return {
                "rows": job["rows_total"],
                "upload_s": uploaded - started,
                "processing_s": processed - uploaded,
                "worker_s": float(job["duration_seconds"] or 0),
                "download_s": downloaded - processed,
                "total_s": downloaded - started,
                "xlsx_mb": xlsx.stat().st_size / 1e6,
                "csv_mb": len(csv_bytes) / 1e6,
            }


def http_rate(url: str, headers: dict[str, str], seconds: int = 10, connections: int = 8) -> dict[str, object]:
    """Requests per second against one URL: wrk if installed, else a bounded httpx2 loop."""
    if shutil.which("wrk"):
        args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
        for k, v in headers.items():
            args += ["-H", f"{k}: {v}"]
        out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        p50 = re.search(r"\s50%\s+([\d.]+\w+)", out)
        p99 = re.search(r"\s99%\s+([\d.]+\w+)", out)
        return {"tool": f"wrk, {connections} connections, {seconds} s", "rps": rate,
                "errors": int(bad.group(1)) if bad else 0,
                "p50": p50.group(1) if p50 else "?", "p99": p99.group(1) if p99 else "?"}
    # Fallback: `connections` threads, each a keep-alive client, at most 20,000 requests in all.
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def loop() -> None:
        nonlocal errors
        with httpx2.Client(headers=headers, timeout=10) as client:
            while time.monotonic() < stop_at:
                t = time.perf_counter()
                ok = client.get(url).status_code == 200
                with lock:
                    latencies.append(time.perf_counter() - t)
                    errors += not ok
                    if len(latencies) >= 20_000:
                        return

    started = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    pick = lambda q: f"{latencies[int(q * (len(latencies) - 1))] * 1000:.2f}ms" if latencies else "?"  # noqa: E731
    return {"tool": f"httpx2 loop, {connections} threads, {seconds} s", "rps": len(latencies) / elapsed,
            "errors": errors, "p50": pick(0.5), "p99": pick(0.99)}


def api_rates(small_csv: Path, jobs: int = 20, seconds: int = 10) -> dict[str, dict[str, object]]:
    """GET /api/jobs (a list of `jobs` jobs) and GET /api/jobs/{id}, with nothing processing."""
    with instance(EMBEDDED_WORKER="true") as inst:
        token = inst.cli("-m", "app", "create-token", "bench", "--user", "bench").strip().splitlines()[0]
        headers = {"Authorization": f"Bearer {token}"}
        with server(inst) as base, httpx2.Client(headers=headers, timeout=60) as client:
            ids = []
            for _ in range(jobs):
                with open(small_csv, "rb") as f:
                    ids.append(client.post(f"{base}/api/jobs", files={"file": (small_csv.name, f, "text/csv")})
                               .raise_for_status().json()["id"])
            for job_id in ids:
                wait_done(client, base, job_id)
            return {
                "GET /api/jobs": http_rate(f"{base}/api/jobs", headers, seconds),
                "GET /api/jobs/{id}": http_rate(f"{base}/api/jobs/{ids[-1]}", headers, seconds),
            }


def worker_throughput(source: Path, jobs: int, processes: int) -> dict[str, float]:
    """`jobs` queued jobs drained by `processes` cron-style worker processes (--all) at once."""
    with instance(EMBEDDED_WORKER="false", MAX_CONCURRENT_JOBS=str(max(2, processes))) as inst:
        for _ in range(jobs):
            inst.cli("-m", "app", "submit", "bench", str(source))
        started = time.perf_counter()
        workers = [subprocess.Popen([sys.executable, "scheduler/process_pending.py", "--all"], cwd=ROOT, env=inst.env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(processes)]
        for w in workers:
            if w.wait(3600) != 0:
                raise RuntimeError(f"worker exited with {w.returncode}")
        seconds = time.perf_counter() - started
        from app.core.db import open_database
        from app.core.jobs.queue import Jobs
        from app.core.settings import load_settings

        db = open_database(load_settings(config_path=inst.config, environ={}))
        try:
            counts = Jobs(db).status_counts()
        finally:
            db.close()
        done = int(counts.get("PROCESS OK", 0)) if isinstance(counts, dict) else 0
        if done != jobs:
            raise RuntimeError(f"{done} of {jobs} jobs ended PROCESS OK: {counts}")
        return {"jobs": jobs, "processes": processes, "seconds": seconds, "jobs_per_min": jobs * 60 / seconds}


def embedded_workers(source: Path, threads: bool, jobs: int = 2) -> dict[str, float]:
    """`jobs` uploads processed by the server's embedded workers (MAX_CONCURRENT_JOBS=jobs),
    as threads of the server process or as worker processes; meanwhile GET /api/jobs/{id} is
    asked in a loop, so the table shows how the API answers while jobs run."""
    with instance(EMBEDDED_WORKER="true", MAX_CONCURRENT_JOBS=str(jobs)) as inst:
        token = inst.cli("-m", "app", "create-token", "bench", "--user", "bench").strip().splitlines()[0]
        with server(inst, threads=threads) as base, \
                httpx2.Client(headers={"Authorization": f"Bearer {token}"}, timeout=600) as client:
            client.get(f"{base}/api/jobs").raise_for_status()
            time.sleep(3)  # let the worker processes finish importing: a job's time, not a start's
            started = time.perf_counter()
            ids = []
            for _ in range(jobs):
                with open(source, "rb") as f:
                    ids.append(client.post(f"{base}/api/jobs", files={"file": (source.name, f, "text/csv")})
                               .raise_for_status().json()["id"])
            uploaded = time.perf_counter()
            latencies: list[float] = []
            pending = set(ids)
            while pending:
                for job_id in list(pending):
                    t = time.perf_counter()
                    job = client.get(f"{base}/api/jobs/{job_id}").raise_for_status().json()
                    latencies.append(time.perf_counter() - t)
                    if job["status"] == "ERROR":
                        raise RuntimeError(f"job {job_id} failed: {job['error']}")
                    if job["status"] == "PROCESS OK":
                        pending.discard(job_id)
                if time.perf_counter() - started > 900:
                    raise RuntimeError("jobs did not finish in 900 s")
                time.sleep(0.02)
            done = time.perf_counter()
            worker = [float(client.get(f"{base}/api/jobs/{i}").json()["duration_seconds"] or 0) for i in ids]
    latencies.sort()
    return {
        "jobs": jobs,
        "upload_s": uploaded - started,
        "until_done_s": done - uploaded,
        "longest_job_s": max(worker),
        "polls": len(latencies),
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "max_ms": latencies[-1] * 1000,
    }
