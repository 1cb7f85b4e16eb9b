"""Real worker and server processes for the reliability tests: start them with their output in a
log file, signal them, read their logfmt lines back, wait for database states."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from app.core.db import Database
from app.core.jobs.listing import JobFilter, JobList
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Job
from app.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
T = TypeVar("T")

_LOGFMT_PAIR = re.compile(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line: str) -> dict[str, str]:
    """key=value pairs of one logfmt line; quoted values unescaped. A token that is not a
    key=value pair (text outside the format) raises ValueError, so a test notices."""
    fields: dict[str, str] = {}
    position = 0
    text = line.strip()
    while position < len(text):
        if text[position] == " ":
            position += 1
            continue
        match = _LOGFMT_PAIR.match(text, position)
        if not match or (match.end() < len(text) and text[match.end()] != " "):
            raise ValueError(f"not logfmt at column {position}: {line!r}")
        key, value = match.group(1), match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), value[1:-1])
        fields[key] = value
        position = match.end()
    return fields


def events(text: str, prefix: str = "") -> list[dict[str, str]]:
    """Every log line of ``text`` that carries ``event=<prefix>...``, parsed."""
    found = []
    for line in text.splitlines():
        if re.search(rf"(^| )event={re.escape(prefix)}", line):
            found.append(parse_logfmt(line))
    return found


def child_env(config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEYOND_")}
    env.update(APP_CONFIG=str(config), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **extra)
    return env


class Proc:
    """One child process; stdout and stderr go to ``log_path`` (a pipe could fill and block it)."""

    def __init__(self, args: list[str], config: Path, log_path: Path, **env: str) -> None:
        self.args, self.log_path = args, log_path
        self._log = open(log_path, "wb")
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=child_env(config, **env),
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        self.pid = self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self, prefix: str = "") -> list[dict[str, str]]:
        return events(self.log(), prefix)

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.args} still running after {timeout} s; its log:\n{self.log()[-4000:]}") from None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()  # our own child, by its pid
            self.popen.wait(10)
        self._log.close()


class Procs:
    """The processes a test started; ``close`` kills whatever is still running."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.started: list[Proc] = []

    def start(self, config: Path, *args: str, name: str | None = None, **env: str) -> Proc:
        label = name or f"proc{len(self.started)}"
        proc = Proc(list(args), config, self.log_dir / f"{label}.log", **env)
        self.started.append(proc)
        return proc

    def worker(self, config: Path, *args: str, name: str | None = None) -> Proc:
        return self.start(config, "scheduler/process_pending.py", *args, name=name)

    def all_logs(self) -> str:
        return "\n".join(p.log() for p in self.started)

    def close(self) -> None:
        for proc in self.started:
            proc.stop()


def wait_until(check: Callable[[], T], timeout: float, what: str, every: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def seed_jobs(settings: Settings, db: Database, owner_id: int, source: Path, count: int, rows: int) -> list[Job]:
    """``count`` PENDING jobs, each with its own copy of ``source`` in INPUT_DIR, inserted
    directly (the upload path is tested elsewhere; here only the queue matters)."""
    settings.input_dir.mkdir(parents=True, exist_ok=True)
    jobs = Jobs(db)
    created = []
    for i in range(count):
        stored = settings.input_dir / f"upload-seed-{uuid.uuid4().hex}.csv"
        shutil.copyfile(source, stored)
        created.append(jobs.create(owner_id, f"batch-{i:05d}.csv", stored.name, stored.stat().st_size, rows))
    return created


def output_files(settings: Settings) -> dict[str, list[str]]:
    """OUTPUT_DIR by kind: published .xlsx and .csv results, hidden .part temp files."""
    names = sorted(p.name for p in settings.output_dir.iterdir()) if settings.output_dir.is_dir() else []
    return {
        "xlsx": [n for n in names if n.endswith(".xlsx") and not n.startswith(".")],
        "csv": [n for n in names if n.endswith(".csv") and not n.startswith(".")],
        "part": [n for n in names if n.endswith(".part")],
        "other": [n for n in names if not (n.endswith((".xlsx", ".csv", ".part")))],
    }


def job_rows(db: Database) -> Iterator[Job]:
    yield from JobList(db).page(JobFilter(archived=None), limit=100_000)


# Log lines for a job's state changes, and the fields each must carry (duration: seconds spent
# in the state being left - waiting for job.claimed, running for the others).
STATE_EVENTS = ("job.claimed", "job.done", "job.failed", "job.released", "job.requeued")
STATE_FIELDS = ("job", "user", "worker", "duration", "status")


def state_changes(text: str) -> list[dict[str, str]]:
    """Every job state change line of ``text``, checked: valid logfmt with job id, user,
    worker, duration and the new status."""
    statuses = {"PENDING", "IN PROCESS", "PROCESS OK", "ERROR"}
    lines = [e for e in events(text, "job.") if e["event"] in STATE_EVENTS]
    for line in lines:
        missing = [k for k in STATE_FIELDS if not line.get(k)]
        assert not missing, f"{line['event']} without {missing}: {line}"
        int(line["job"])
        assert float(line["duration"]) >= 0, line
        assert line["status"] in statuses, line
        assert line["time"].endswith("Z") and line["level"] and line["logger"].startswith("beyond."), line
    return lines
