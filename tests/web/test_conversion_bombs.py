"""Issue 22, H1 and H2, against a real `python -m app serve` on both engines: a 1.6 KB .xlsx
with one cell at XFD1048576, an .ods of repeated rows and columns and a Parquet file of one
repeated value are refused with a message naming the sheet or the limit; the server still
answers, its memory stays near where it was, nothing is stored; a Parquet file whose CSV would
pass MAX_STORAGE_MB_PER_USER is refused by the quota. And a conversion over
MAX_CONCURRENT_CONVERSIONS waits, then gets 503 with Retry-After."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx2
import psutil
import pytest

from app.core.jobs.submissions import conversion_slots
from tests.conftest import assert_json_error
from tests.hostile_cases import FEATURES
from tests.support import bombs
from tests.web.test_api_server import create_users, token

MB = 1024**2


class PeakRss:
    """The highest resident memory of a process, sampled every 20 ms while in the block."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.start = self.peak = self.process.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample)

    def sample(self) -> None:
        while not self.done.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()


def server_pid(base: str) -> int:
    port = int(base.rsplit(":", 1)[1])
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    raise AssertionError(f"no process listens on {port}")


def stored(settings) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(p.name for p in settings.input_dir.iterdir()) if settings.input_dir.exists() else []


@pytest.mark.slow
def test_workbook_and_parquet_bombs_leave_the_server_standing(live_server, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, config, settings = live_server(engine, MAX_STORAGE_MB_PER_USER="5")
    create_users(config)
    headers = {"Authorization": f"Bearer {token(config, 'alice')}"}
    attacks = {
        "far.xlsx": (bombs.xlsx_far_cell(tmp_path / "far.xlsx"), 422, "Sheet 'Data' declares the range A1:XFD1048576"),
        "rep.ods": (bombs.ods_repeated(tmp_path / "rep.ods"), 422, "Sheet 'Data' repeats its rows and columns"),
        "rep.parquet": (bombs.parquet_repeated(tmp_path / "rep.parquet"), 413, "its conversion to CSV"),
        "accepted.parquet": (bombs.parquet_accepted(tmp_path / "ok.parquet", FEATURES, 30_000), 413,
                             "MAX_STORAGE_MB_PER_USER"),
    }
    with httpx2.Client(base_url=base, timeout=120, headers=headers) as http, PeakRss(server_pid(base)) as rss:
        for name, (path, status, words) in attacks.items():
            assert path.stat().st_size < 64 * 1024
            answer = http.post("/api/jobs", files={"file": (name, path.read_bytes())})
            body = assert_json_error(answer, status)
            messages = [body["error"]] + [p["message"] for p in body.get("errors", [])]
            assert any(words in m for m in messages), (name, messages)
            assert http.get("/").status_code == 200, name
            assert stored(settings) == [], name
        assert http.get("/api/jobs").json()["total"] == 0
    # The server never held a grid or a CSV: the conversions ran in their own processes.
    assert rss.peak - rss.start < 100 * MB, (rss.start / MB, rss.peak / MB)
    # Under the quota, the same kind of Parquet file is accepted (its CSV is about 3 MB).
    with httpx2.Client(base_url=base, timeout=120, headers=headers) as http:
        small = bombs.parquet_accepted(tmp_path / "small.parquet", FEATURES, 8_000)
        answer = http.post("/api/jobs", files={"file": ("small.parquet", small.read_bytes())})
        assert answer.status_code == 201, answer.text[:500]
        assert answer.json()["input"]["format"] == "parquet"


@pytest.mark.slow
def test_conversions_over_the_cap_get_503_with_retry_after(api_client, settings, bearer, alice) -> None:  # type: ignore[no-untyped-def]
    workbook = (Path(__file__).parent.parent / "data" / "workbooks" / "patients-libreoffice.xlsx").read_bytes()
    slots = conversion_slots(settings)
    taken = 0
    while slots.acquire(blocking=False):  # every slot busy, as with MAX_CONCURRENT_CONVERSIONS running
        taken += 1
    assert taken == settings.max_concurrent_conversions == 2
    try:
        started = time.monotonic()
        answer = api_client.post("/api/jobs", headers=bearer(alice), files={"file": ("p.xlsx", workbook)})
        waited = time.monotonic() - started
    finally:
        for _ in range(taken):
            slots.release()
    assert_json_error(answer, 503, "MAX_CONCURRENT_CONVERSIONS", "“p.xlsx”")
    assert answer.headers["Retry-After"] == "10" and 4 < waited < 30
    assert stored(settings) == []
    again = api_client.post("/api/jobs", headers=bearer(alice), files={"file": ("p.xlsx", workbook)})
    assert again.status_code == 201, again.text[:300]
