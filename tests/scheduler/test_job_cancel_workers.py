"""Cancel with real worker processes (`scheduler/process_pending.py`) on SQLite and MariaDB: a
400,000-row job cancelled while it runs stops within 5 s and leaves no file; cancels racing
the completion of many short jobs end each job exactly one way, consistently in the row, the
history, the worker's log and the output directory."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.accounts.users import User, Users
from app.core.db import Database, open_database
from app.core.errors import Conflict
from app.core.events.audit import Actor
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Status
from app.core.settings import Settings
from tests.conftest import breast_cancer_frame, fast_csv
from tests.support.procs import Procs, output_files, seed_jobs, wait_until

EMPTY = {"xlsx": [], "csv": [], "part": [], "other": []}


@pytest.fixture
def queue(make_config, engine: str) -> Iterator[Callable[..., tuple[Path, Settings, Database, User, Jobs]]]:  # type: ignore[no-untyped-def]
    opened: list[Database] = []

    def make(**overrides: str) -> tuple[Path, Settings, Database, User, Jobs]:
        config, settings = make_config(engine, **overrides)
        db = open_database(settings)
        db.init_schema()
        opened.append(db)
        owner = Users(db).create("canceller", "canceller-password")
        return config, settings, db, owner, Jobs(db)

    yield make
    for db in opened:
        db.close()


@pytest.fixture
def procs(tmp_path: Path, make_config) -> Iterator[Procs]:  # type: ignore[no-untyped-def]
    group = Procs(tmp_path / "logs")  # after make_config: killed before the database is dropped
    yield group
    group.close()


@pytest.mark.timing
@pytest.mark.slow
def test_a_400000_row_job_cancelled_while_running_stops_within_5_s(queue, procs, tmp_path, engine) -> None:  # type: ignore[no-untyped-def]
    # The default HEARTBEAT_SECONDS (10): the cancel must be seen by the claim check, not a beat.
    config, settings, db, owner, jobs = queue(HEARTBEAT_SECONDS="10", LEASE_SECONDS="120")
    source = tmp_path / "big.csv"
    fast_csv(source, 400_000)
    (job,) = seed_jobs(settings, db, owner.id, source, count=1, rows=400_000)
    worker = procs.worker(config, "--all", name="big")

    def moving() -> bool:
        current = jobs.get(job.id)
        return current is not None and current.status is Status.IN_PROCESS and current.rows_done > 0

    wait_until(moving, 90, "the 400,000-row job to make progress")
    running = jobs.get(job.id)
    assert running is not None and running.rows_done < 400_000
    sent = time.monotonic()
    cancelled = jobs.cancel(job.id, Actor("canceller"))
    assert cancelled.status is Status.CANCELLED
    wait_until(lambda: worker.events("job.cancel_seen"), 5, "the worker to stop the cancelled job")
    wait_until(lambda: output_files(settings) == EMPTY, 5 - (time.monotonic() - sent), "no files left")
    stopped_in = time.monotonic() - sent
    assert stopped_in < 5.0
    assert worker.wait(30) == 0
    final = jobs.get(job.id)
    assert final is not None and final.status is Status.CANCELLED and final.path_result is None
    assert output_files(settings) == EMPTY
    (seen,) = worker.events("job.cancel_seen")
    assert seen["job"] == str(job.id) and seen["action"] == "output discarded"
    assert not worker.events("job.done") and not worker.events("job.lease_lost")
    assert [e.event for e in jobs.events(job.id)] == ["queued", "claimed", "cancelled"]
    print(f"\ncancel ({engine}): 400,000 rows, cancelled at {running.rows_done:,} rows done; worker stopped and "
          f"files gone {stopped_in:.2f} s later")

    # A cancelled job can be retried: back in the queue, with its attempts reset.
    assert jobs.retry(job.id, Actor("canceller"))
    again = jobs.get(job.id)
    assert again is not None and again.status is Status.PENDING and again.attempts == 0


@pytest.mark.slow
def test_cancel_racing_completion_ends_each_job_exactly_one_way(queue, procs, tmp_path, engine) -> None:  # type: ignore[no-untyped-def]
    config, settings, db, owner, jobs = queue()
    source = tmp_path / "short.csv"
    breast_cancer_frame(3_000).to_csv(source, index=False)
    seeded = seed_jobs(settings, db, owner.id, source, count=12, rows=3_000)
    worker = procs.worker(config, "--all", name="racer")
    answers: dict[int, str] = {}
    rng = random.Random(13)

    # The first job runs to the end: its run time spreads the cancels of the others over
    # before, during and just after their ends.
    first = wait_until(lambda: (j := jobs.get(seeded[0].id)) is not None and j.finished and j, 60, "the first job")
    run_time = first.duration_seconds or 0.5
    answers[first.id] = first.status.value

    def canceller() -> None:
        for job in seeded[1:]:
            wait_until(lambda job=job: jobs.get(job.id).status is not Status.PENDING,  # type: ignore[union-attr]
                       60, f"job {job.id} to be claimed", every=0.005)
            time.sleep(rng.uniform(0.3, 1.3) * run_time)
            try:
                answers[job.id] = jobs.cancel(job.id, Actor("canceller")).status.value
            except Conflict as exc:
                answers[job.id] = str(exc.extra["job_status"])

    thread = threading.Thread(target=canceller)
    thread.start()
    thread.join(120)
    assert worker.wait(60) == 0
    files = output_files(settings)
    assert files["part"] == [] and files["other"] == []
    outcomes = {"CANCELLED": 0, "PROCESS OK": 0}
    for job in seeded:
        final = jobs.get(job.id)
        assert final is not None
        history = [e.event for e in jobs.events(job.id)]
        results = [n for n in files["xlsx"] + files["csv"] if n.startswith(f"job-{job.id}-")]
        assert answers[job.id] == final.status.value  # what the canceller was told is what stayed
        if final.status is Status.CANCELLED:
            assert history == ["queued", "claimed", "cancelled"], history
            assert results == [] and final.path_result is None
        else:
            assert final.status is Status.PROCESS_OK
            assert history == ["queued", "claimed", "finished_ok"], history
            assert sorted(results) == sorted([final.path_result, final.path_result_csv])
        outcomes[final.status.value] += 1
    done = {e["job"] for e in worker.events("job.done")}
    seen = {e["job"] for e in worker.events("job.cancel_seen")}
    assert done.isdisjoint(seen)
    assert done == {str(j.id) for j in seeded if answers[j.id] == "PROCESS OK"}
    # A job cancelled after its last step but before the worker saw it is also "seen" (its
    # complete() lost the race): every CANCELLED job that was running is in the worker's log.
    assert seen <= {str(j.id) for j in seeded if answers[j.id] == "CANCELLED"}
    print(f"\ncancel race ({engine}): jobs of {run_time:.2f} s, {outcomes}; worker saw {len(seen)} cancels, "
          f"completed {len(done)}")
