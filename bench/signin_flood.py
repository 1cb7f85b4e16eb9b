"""Sign-in floods against a real `python -m app serve` on 127.0.0.1 (docs/security.md).

    python -m bench.signin_flood [--root DIR] [--engine sqlite|mysql] [--seconds 20] [--clients 40]

Three measurements, each on a fresh server (SQLite file or a throwaway MariaDB database):

* flood: ``--clients`` threads post random user names to /login (or send them as HTTP Basic to
  /api/jobs) for ``--seconds``, from 127.0.0.1 (``one address``) or each from its own loopback
  address 127.0.0.2.. (``spread``: what the per-client limit cannot stop); meanwhile one client
  times an authenticated ``GET /api/jobs`` (Bearer token) every 50 ms and the server's RSS is
  sampled from /proc (VmHWM: the peak).
* burst: ``--clients`` parallel wrong-password sign-ins for one user from one address, released
  together: how many were judged (answered 400, "wrong password") rather than refused (429).

``--root`` runs another checkout's server (e.g. the commit before the throttle, unpacked with
`git archive`) with this script's own client side. Every request goes to 127.0.0.1 only, each
loop is bounded in time and count, and the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

from bench.service import free_port, write_config

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-" + secrets.token_hex(8)
MAX_REQUESTS = 20_000  # per flood, whatever the duration


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else 0


class Server:
    def __init__(self, base: str, pid: int, token: str, log: Path) -> None:
        self.base, self.pid, self.token, self.log = base, pid, token, log

    def judged(self) -> int | None:
        """Password checks that failed, from the server's auth.failed lines (None: a server
        that writes no such line, where every 400/401 was a check)."""
        text = self.log.read_text(errors="replace")
        return text.count("event=auth.failed") if "event=auth." in text else None


@contextmanager
def server(root: Path, engine: str) -> Iterator[Server]:
    """A fresh configuration and `python -m app serve` from ``root``."""
    with tempfile.TemporaryDirectory(prefix="beyond-flood-") as tmp:
        directory = Path(tmp)
        dbname = f"beyond_flood_{uuid.uuid4().hex[:10]}"
        mysql = {"HOST": "127.0.0.1", "PORT": "3306", "USER": "root", "PASSWORD": "", "DBNAME": dbname}
        _, env = write_config(directory, root, EMBEDDED_WORKER="false", **(mysql if engine == "mysql" else {}))

        def cli(*args: str, stdin: str | None = None) -> str:
            done = subprocess.run([sys.executable, "-m", "app", *args], cwd=root, env=env, input=stdin, text=True,
                                  capture_output=True, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"{args} failed: {done.stderr[-2000:]}")
            return done.stdout

        cli("init-db")
        cli("create-user", "alice", "--password-stdin", stdin=PASSWORD + "\n")
        token = cli("create-token", "bench", "--user", "alice").strip().splitlines()[0]
        port = free_port()
        log = open(directory / "server.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("server exited: " + (directory / "server.log").read_text()[-2000:])
                try:
                    if httpx2.get(base + "/", timeout=2).status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.2)
            yield Server(base, proc.pid, token, directory / "server.log")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
            if engine == "mysql":
                import mysql.connector

                conn = mysql.connector.connect(host="127.0.0.1", port=3306, user="root", password="", use_pure=True)
                conn.cursor().execute(f"DROP DATABASE IF EXISTS `{dbname}`")
                conn.close()


def client_for(base: str, address: str | None) -> httpx2.Client:
    transport = httpx2.HTTPTransport(local_address=address) if address else None
    return httpx2.Client(base_url=base, timeout=60, transport=transport)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def latency_probe(base: str, token: str, stop: threading.Event, out: list[float]) -> None:
    with httpx2.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        while not stop.is_set():
            started = time.perf_counter()
            response = http.get("/api/jobs")
            if response.status_code == 200:
                out.append((time.perf_counter() - started) * 1000)
            stop.wait(0.05)


def idle_latency(base: str, token: str, count: int = 40) -> float:
    times: list[float] = []
    with httpx2.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(count):
            started = time.perf_counter()
            http.get("/api/jobs").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def flood(root: Path, engine: str, seconds: float, clients: int, via: str, spread: bool) -> dict[str, Any]:
    with server(root, engine) as srv:
        base, pid, token = srv.base, srv.pid, srv.token
        idle = idle_latency(base, token)
        rss_start = rss_kib(pid)
        stop = threading.Event()
        statuses: Counter[int] = Counter()
        lock = threading.Lock()
        sent = [0]
        latencies: list[float] = []
        peak = [rss_start]

        def flooder(i: int) -> None:
            with client_for(base, f"127.0.0.{i + 2}" if spread else None) as http:
                token_ = csrf_of(http.get("/login").text) if via == "form" else ""
                while not stop.is_set():
                    with lock:
                        if sent[0] >= MAX_REQUESTS:
                            return
                        sent[0] += 1
                    name = "u" + secrets.token_hex(6)
                    if via == "form":
                        r = http.post("/login", data={"username": name, "password": "x" * 12, "csrf_token": token_})
                    else:
                        basic = base64.b64encode(f"{name}:{'x' * 12}".encode()).decode()
                        r = http.get("/api/jobs", headers={"Authorization": f"Basic {basic}"})
                    with lock:
                        statuses[r.status_code] += 1

        def sampler() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                stop.wait(0.1)

        threads = [threading.Thread(target=flooder, args=(i,)) for i in range(clients)]
        threads += [threading.Thread(target=latency_probe, args=(base, token, stop, latencies)),
                    threading.Thread(target=sampler)]
        started = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join(120)
        elapsed = time.monotonic() - started
        hwm = rss_kib(pid, "VmHWM")
        judged = srv.judged()
    if judged is None:
        judged = statuses.get(400, 0) + statuses.get(401, 0)
    return {
        "flood": via, "addresses": clients if spread else 1, "clients": clients, "seconds": round(elapsed, 1),
        "requests": sum(statuses.values()), "statuses": dict(sorted(statuses.items())), "hashed": judged,
        "rss_start_mb": round(rss_start / 1024), "rss_peak_mb": round(max(peak[0], hwm) / 1024),
        "api_idle_median_ms": round(idle, 1), "api_median_ms": round(statistics.median(latencies), 1) if latencies else None,
        "api_p95_ms": round(statistics.quantiles(latencies, n=20)[-1], 1) if len(latencies) > 20 else None,
        "api_samples": len(latencies),
    }


def burst(root: Path, engine: str, clients: int) -> dict[str, Any]:
    with server(root, engine) as srv:
        base = srv.base
        sessions = []
        for _ in range(clients):
            http = client_for(base, None)
            sessions.append((http, csrf_of(http.get("/login").text)))
        barrier = threading.Barrier(clients)
        statuses: list[int] = []
        lock = threading.Lock()

        def attempt(i: int) -> None:
            http, token = sessions[i]
            barrier.wait()
            r = http.post("/login", data={"username": "alice", "password": f"wrong-guess-{i}", "csrf_token": token})
            with lock:
                statuses.append(r.status_code)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        for http, _ in sessions:
            http.close()
    counts = Counter(statuses)
    return {"burst": clients, "judged": counts.get(400, 0), "refused": counts.get(429, 0),
            "statuses": dict(sorted(counts.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose server runs (default: this one)")
    parser.add_argument("--engine", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--only", choices=["form", "basic", "spread", "burst"], action="append",
                        help="run only these parts (repeatable)")
    args = parser.parse_args()
    parts = args.only or ["form", "basic", "spread", "burst"]
    label = {"root": str(args.root), "engine": args.engine}
    for part in parts:
        if part == "burst":
            result = burst(args.root, args.engine, args.clients)
        else:
            result = flood(args.root, args.engine, args.seconds, args.clients,
                           via="basic" if part == "basic" else "form", spread=part == "spread")
        print(json.dumps({**label, **result}), flush=True)


if __name__ == "__main__":
    main()
