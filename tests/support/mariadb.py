"""A private MariaDB server for tests that stop and restart their database: the shared server
at 127.0.0.1:3306 serves everyone else's tests and must never be stopped.

    server = PrivateMariaDB(directory); server.install(); server.start()  ... server.stop(); server.start()

The server runs as this test's own child process (``--no-defaults``: no system option files),
on a free port of 127.0.0.1, with its data directory kept across stop/start so nothing is lost.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MARIADBD = shutil.which("mariadbd", path="/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin")
INSTALL_DB = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def available() -> str | None:
    """None if a private server can be run here, else the reason."""
    if not MARIADBD or not INSTALL_DB:
        return "mariadbd / mariadb-install-db not installed"
    return None


class PrivateMariaDB:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.datadir = directory / "data"
        # Unix socket paths are limited to ~107 bytes; pytest's tmp paths can be longer.
        self._sockdir = Path(tempfile.mkdtemp(prefix="mdb-"))
        self.socket = self._sockdir / "sock"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.error_log = directory / "mariadbd.err"
        self.root = "root" if os.geteuid() == 0 else None  # mariadbd refuses to run as root without --user

    def _user_args(self) -> list[str]:
        return [f"--user={self.root}"] if self.root else []

    def install(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        assert INSTALL_DB, "mariadb-install-db is not installed"
        result = subprocess.run(
            [INSTALL_DB, "--no-defaults", f"--datadir={self.datadir}", "--auth-root-authentication-method=normal",
             "--skip-test-db", *self._user_args()],
            capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{result.stdout}\n{result.stderr}")

    def start(self, timeout: float = 30) -> None:
        assert MARIADBD and self.process is None
        self.process = subprocess.Popen(
            [MARIADBD, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.socket}", f"--pid-file={self.directory / 'mariadbd.pid'}",
             f"--log-error={self.error_log}", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
             *self._user_args()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.error_log.read_text(errors="replace")[-3000:] if self.error_log.exists() else ""
                self.stop()
                raise RuntimeError(f"private mariadbd did not start:\n{log}")
            time.sleep(0.2)

    def answers(self) -> bool:
        try:
            self.sql("SELECT 1")
            return True
        except Exception:
            return False

    def sql(self, statement: str) -> None:
        """Run one statement as root (no password, over TCP like the application)."""
        import mysql.connector

        conn = mysql.connector.connect(host="127.0.0.1", port=self.port, user="root", password="",
                                       use_pure=True, connection_timeout=3)
        try:
            cursor = conn.cursor()
            cursor.execute(statement)
            if cursor.with_rows:
                cursor.fetchall()
            cursor.close()
            conn.commit()
        finally:
            conn.close()

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM: the server's normal shutdown (it closes every client connection)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._sockdir, ignore_errors=True)
        shutil.rmtree(self.datadir, ignore_errors=True)
