"""The embedded workers are child processes (issue 6): they get the server's exact settings,
process jobs, are started again when they die, stop on shutdown and die with the server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from app.core.db import Database
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Status
from app.core.jobs.submissions import submit_path
from app.core.settings import Settings, load_settings
from app.web.supervisor import EmbeddedWorkers, worker_environment
from tests.conftest import breast_cancer_frame


def wait_for(condition, timeout: float = 60, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_children_get_exactly_the_servers_settings(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings("sqlite", PASSWORD="  odd pass=word ", MAX_CONCURRENT_JOBS="3",
                                       EMBEDDED_WORKER="true", UPLOAD_LIMIT="7M", HTTPS="true")
    env = worker_environment(settings)
    assert load_settings(environ=env) == settings
    assert env["APP_CONFIG"] == os.devnull


@pytest.mark.procs
def test_worker_processes_run_jobs_restart_and_stop(settings: Settings, db: Database, users, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = settings.replace(max_concurrent_jobs=2, scheduler_interval=1, embedded_worker=True)
    jobs = Jobs(db)
    owner = users.create("carol", "carol-password-1")
    sources = []
    for i in range(3):
        sources.append(tmp_path / f"in{i}.csv")
        breast_cancer_frame(300, seed=i).to_csv(sources[-1], index=False)
    created = [submit_path(settings, jobs, owner.id, s) for s in sources]

    workers = EmbeddedWorkers(settings)
    workers.start()
    try:
        pids = [p.pid for p in workers.procs if p]
        assert len(pids) == 2 and all(psutil.pid_exists(pid) for pid in pids)
        done = wait_for(lambda: all(jobs.get(j.id).status is Status.PROCESS_OK for j in created), what="3 jobs done")
        assert done
        for job in created:
            final = jobs.get(job.id)
            assert final.rows_done == 300 and (settings.output_dir / final.path_result).is_file()

        os.kill(pids[0], signal.SIGKILL)  # a worker dies: the server starts another
        wait_for(lambda: workers.procs[0] is not None and workers.procs[0].pid != pids[0]
                 and workers.procs[0].poll() is None, timeout=30, what="a restarted worker")
        late = tmp_path / "late.csv"
        breast_cancer_frame(50, seed=9).to_csv(late, index=False)
        job = submit_path(settings, jobs, owner.id, late)
        wait_for(lambda: jobs.get(job.id).status is Status.PROCESS_OK, what="a job after the restart")
    finally:
        running = [p for p in workers.procs if p]
        workers.stop(timeout=30)
    assert all(p.poll() is not None for p in running)
    assert not workers.monitor.is_alive()


def test_worker_processes_die_with_a_killed_server(live_server) -> None:  # type: ignore[no-untyped-def]
    base, config, settings = live_server("sqlite", EMBEDDED_WORKER="true", MAX_CONCURRENT_JOBS="2")
    server = next(p for p in psutil.process_iter(["cmdline"])
                  if p.info["cmdline"] and "serve" in p.info["cmdline"] and base.rsplit(":", 1)[1] in p.info["cmdline"])
    children = wait_for(lambda: [c for c in server.children() if "process_pending.py" in " ".join(c.cmdline())]
                        if len(server.children()) >= 2 else None, timeout=30, what="two worker processes")
    assert len(children) == 2
    server.kill()  # no shutdown at all: the kernel tells the children (PR_SET_PDEATHSIG)
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive
