"""Worker processes started by the web server: the embedded workers that make cron optional,
and the one-off worker behind the API's /process_file and /process_all.

Processes, not threads: a job is CPU-bound and most of it (rendering the .xlsx XML and the
CSV) holds the GIL, so two jobs in two threads of one process run mostly one after the other,
while two processes use both cores (bench/RESULTS.md, "Several jobs at once"), and the web
server's own answers stay fast. Every child is ``scheduler/process_pending.py``, the same
code cron runs, given exactly the server's settings through BEYOND_* variables, so the claim,
the MAX_CONCURRENT_JOBS host cap, the reaper and the fenced final write are the same for all.

This module imports neither the worker nor the model: the web server only starts processes.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

from app.core.logfmt import log_event
from app.core.settings import ENV_PREFIX, KEYS, ROOT, Settings, value_text

log = logging.getLogger("beyond.supervisor")

SCRIPT = ROOT / "scheduler" / "process_pending.py"
# Runs in the child before the worker: ask the kernel for SIGTERM when the parent dies, and
# quit at once if it died already (then our parent is no longer the server).
BOOT = (
    "import ctypes, os, runpy, signal, sys; "
    "getattr(ctypes.CDLL(None), 'prctl', lambda *a: 0)(1, signal.SIGTERM); "  # PR_SET_PDEATHSIG (Linux)
    "os.getppid() == int(sys.argv[1]) or sys.exit(0); "
    "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def worker_environment(settings: Settings) -> dict[str, str]:
    """This process's environment with every setting as BEYOND_<KEY>, so the child's
    load_settings() returns the same Settings whatever files it finds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    for key in KEYS:
        env[ENV_PREFIX + key.name] = value_text(getattr(settings, key.name.lower()))
    env["APP_CONFIG"] = os.devnull  # exists and is empty: nothing but the variables counts
    return env


def worker_command(*args: str) -> list[str]:
    return [sys.executable, "-c", BOOT, str(os.getpid()), str(SCRIPT), *args]


@dataclass(frozen=True)
class ChildRun:
    exit_code: int
    stderr: str  # the child's log lines, for the server's log when it failed


# process_pending.py exit codes the API tells apart (documented in that script).
EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, EXIT_NOT_CLAIMED = 0, 1, 2, 3


def run_worker(settings: Settings, *args: str) -> ChildRun:
    """Run ``process_pending.py ARGS`` to its end (blocking: call it from a thread pool).

    The child's log lines are passed on to this process's standard error as they come, so the
    server's log tells the whole story of a job it ran; the last ones are kept for the answer.
    If the wait is interrupted, the child gets SIGTERM and hands its job back to the queue, as
    on any shutdown."""
    proc = subprocess.Popen(worker_command(*args), cwd=ROOT, env=worker_environment(settings),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
    log_event(log, "web.worker_run", pid=proc.pid, args=" ".join(args))
    last: deque[str] = deque(maxlen=20)
    with proc:  # closes the pipe and reaps the child whatever happens
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                sys.stderr.write(line)
                last.append(line)
            proc.wait()
        except BaseException:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
    if proc.returncode not in (EXIT_OK, EXIT_NOT_CLAIMED):
        log_event(log, "web.worker_run_failed", logging.WARNING, pid=proc.pid, exit_code=proc.returncode)
    return ChildRun(proc.returncode, "".join(last))


class EmbeddedWorkers:
    """MAX_CONCURRENT_JOBS ``process_pending.py --loop`` processes run by the server, so a
    newcomer needs no cron. A child that dies is started again; on shutdown each gets SIGTERM,
    hands its running job back to the queue and exits. Children also get SIGTERM from the
    kernel if the server dies without shutting down."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * settings.max_concurrent_jobs
        self.started_at = [0.0] * settings.max_concurrent_jobs
        self.stopping = threading.Event()
        self.monitor = threading.Thread(target=self._watch, name="embedded-workers", daemon=True)

    def _spawn(self, slot: int) -> None:
        command = worker_command("--loop", "--interval", str(self.settings.scheduler_interval))
        proc = subprocess.Popen(command, cwd=ROOT, env=worker_environment(self.settings))
        self.procs[slot] = proc
        self.started_at[slot] = time.monotonic()
        log_event(log, "web.worker_started", slot=slot, pid=proc.pid)

    def start(self) -> None:
        for slot in range(len(self.procs)):
            self._spawn(slot)
        self.monitor.start()

    def _watch(self) -> None:
        failures = [0] * len(self.procs)
        while not self.stopping.wait(1.0):
            for slot, proc in enumerate(self.procs):
                if proc is None or proc.poll() is None:
                    continue
                # Died on its own: start it again, waiting longer each time it dies young
                # (a broken configuration must not become a fork loop).
                young = time.monotonic() - self.started_at[slot] < 30
                failures[slot] = failures[slot] + 1 if young else 0
                delay = min(60.0, 2.0 ** failures[slot]) if young else 0.0
                log_event(log, "web.worker_died", logging.ERROR, slot=slot, pid=proc.pid,
                          exit_code=proc.returncode, restart_in=delay)
                self.procs[slot] = None
                if self.stopping.wait(delay):
                    return
                self._spawn(slot)

    def stop(self, timeout: float = 30) -> None:
        self.stopping.set()
        if self.monitor.is_alive():
            self.monitor.join(timeout)
        running = [p for p in self.procs if p is not None and p.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)  # the worker releases its job at the next chunk
        deadline = time.monotonic() + timeout
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


