"""A full upload disk (INPUT_DIR) answers 507 with a message and keeps nothing of the upload
(issue 22: it answered 400). The disk is really full: the server runs with a small tmpfs over
INPUT_DIR (tests/support/disk.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from app.core.accounts.tokens import Tokens
from app.core.accounts.users import Users
from app.core.db import open_database
from tests.conftest import ROOT, assert_json_error, fast_csv, free_port
from tests.support.disk import on_small_disk
from tests.support.procs import child_env


@pytest.mark.procs
@pytest.mark.slow
def test_an_upload_to_a_full_disk_is_a_507_and_leaves_nothing(make_config, tmp_path: Path) -> None:
    config, settings = make_config("sqlite")
    db = open_database(settings)
    db.init_schema()
    alice = Users(db).create("alice", "alice-password-1")
    api = {"Authorization": f"Bearer {Tokens(db).create(alice.id, 't')[0]}"}
    db.close()
    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    fast_csv(big, 3000)    # about 670 KB: more than the disk holds
    fast_csv(small, 1000)  # about 225 KB: fits twice, but not beside a half-written big one
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen(
        on_small_disk(settings.input_dir, 512,
                      [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)]),
        cwd=ROOT, env=child_env(config), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx2.Client(base_url=base, timeout=60) as http:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                try:
                    if http.get("/").status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
            full = http.post("/api/jobs", headers=api, files={"file": ("big.csv", big.read_bytes(), "text/csv")})
            body = assert_json_error(full, 507, "no room left", "big.csv", "INPUT_DIR", "nothing of it was kept")
            assert body["directory"] == "INPUT_DIR"
            # The half-written file was removed: two smaller uploads fit where it was.
            for name in ("one.csv", "two.csv"):
                done = http.post("/api/jobs", headers=api, files={"file": (name, small.read_bytes(), "text/csv")})
                assert done.status_code == 201, done.text
            assert http.get("/").status_code == 200  # and the service keeps running
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
