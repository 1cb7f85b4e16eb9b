"""HTTP Basic floods from one address against a real `python -m app serve` (docs/security.md).

    python -m bench.basic_flood [--root DIR] [--mode wrong|own] [--seconds 25] [--clients 40]

A fresh SQLite installation with 10 administrators, a ``flooder`` and a ``prober`` (API token).
``--clients`` asyncio clients send ``GET /api/jobs`` with HTTP Basic from 127.0.0.9 for
``--seconds``: ``wrong`` with a wrong password for admin0, ``own`` with the flooder's own
correct password. Meanwhile, from other loopback addresses, the prober times 60 token calls
(one every 50 ms) and then each of the 10 administrators makes one Basic call: printed are the
median and p95 of the prober's calls, how many administrators got a 200, and the flood's own
answers (by status, median and p95). ``--root`` runs another checkout's server with this
client side. Requests go to 127.0.0.1 only; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

from bench.service import free_port, write_config

ROOT = Path(__file__).resolve().parent.parent
ADMINS = [(f"admin{i}", f"admin-password-{i}") for i in range(10)]
FLOODER = ("flooder", "flooder-password")
FLOOD_ADDRESS = "127.0.0.9"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def client(address: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.AsyncHTTPTransport(local_address=address), timeout=60)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def flood(base: str, headers: dict[str, str], seconds: float, clients: int) -> None:
    stop_at = time.monotonic() + seconds
    counts: dict[str, int] = {}
    latencies: list[float] = []
    async with client(FLOOD_ADDRESS) as http:
        async def one() -> None:
            while time.monotonic() < stop_at:
                started = time.monotonic()
                try:
                    answer = await http.get(base + "/api/jobs", headers=headers)
                    key = str(answer.status_code)
                except httpx2.HTTPError as exc:
                    key = type(exc).__name__
                latencies.append((time.monotonic() - started) * 1000)
                counts[key] = counts.get(key, 0) + 1

        await asyncio.gather(*[one() for _ in range(clients)])
    print(f"flood: {dict(sorted(counts.items()))}; its answers median {statistics.median(latencies):.0f} ms, "
          f"p95 {percentile(latencies, 0.95):.0f} ms", flush=True)


def flood_process(base: str, headers: dict[str, str], seconds: float, clients: int) -> None:
    asyncio.run(flood(base, headers, seconds, clients))


async def probe(base: str, token: str, admins: list[tuple[str, str]]) -> tuple[float, float, list[int]]:
    latencies = []
    async with client("127.0.0.2") as http:
        for _ in range(60):
            started = time.monotonic()
            answer = await http.get(base + "/api/jobs", headers={"Authorization": f"Bearer {token}"})
            latencies.append((time.monotonic() - started) * 1000)
            assert answer.status_code == 200, answer.text
            await asyncio.sleep(0.05)
    codes = []
    for i, (name, password) in enumerate(admins):
        async with client(f"127.0.1.{i + 1}") as http:
            codes.append((await http.get(base + "/api/jobs", headers=basic(name, password))).status_code)
    return statistics.median(latencies), percentile(latencies, 0.95), codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose server runs (default: this one)")
    parser.add_argument("--mode", choices=["wrong", "own"], default="wrong")
    parser.add_argument("--seconds", type=float, default=25)
    parser.add_argument("--clients", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="beyond-basic-flood-") as tmp:
        directory = Path(tmp)
        _, env = write_config(directory, args.root, EMBEDDED_WORKER="false")

        def cli(*words: str, stdin: str | None = None) -> str:
            done = subprocess.run([sys.executable, "-m", "app", *words], cwd=args.root, env=env, input=stdin,
                                  text=True, capture_output=True, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"{words} failed: {done.stderr[-2000:]}")
            return done.stdout

        cli("init-db")
        for name, password in [*ADMINS, FLOODER, ("prober", "prober-password")]:
            cli("create-user", name, *(["--admin"] if name.startswith("admin") else []), "--password-stdin",
                stdin=password + "\n")
        token = cli("create-token", "probe", "--user", "prober").strip().splitlines()[0]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with open(directory / "server.log", "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                      cwd=args.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if httpx2.get(base + "/", timeout=2).status_code == 200:
                            break
                    except httpx2.TransportError:
                        pass
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("server did not start: " + (directory / "server.log").read_text()[-2000:])
                    time.sleep(0.2)
                median, p95, _ = asyncio.run(probe(base, token, []))
                print(f"idle: token calls median {median:.0f} ms, p95 {p95:.0f} ms", flush=True)
                headers = basic("admin0", "wrong-password") if args.mode == "wrong" else basic(*FLOODER)
                flooding = multiprocessing.Process(target=flood_process,
                                                   args=(base, headers, args.seconds, args.clients))
                flooding.start()
                time.sleep(3)
                median, p95, codes = asyncio.run(probe(base, token, ADMINS))
                print(f"during the {args.mode} flood: token calls median {median:.0f} ms, p95 {p95:.0f} ms; "
                      f"administrators' Basic calls answered 200: {codes.count(200)} of {len(codes)} {codes}",
                      flush=True)
                flooding.join()
            finally:
                server.terminate()
                try:
                    server.wait(60)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


if __name__ == "__main__":
    main()
