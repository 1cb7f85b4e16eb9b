"""The queue under stress, with real worker processes: races, kill -9, a stale (SIGSTOPped)
worker, a poison file, SIGTERM, polling visibility and the per-host concurrency cap.

Each test starts `scheduler/process_pending.py` processes against its own throwaway database
and reads their logfmt output and the wp_records rows back. The slow and poison models are
real model directories (tests/support/models.py) that the processes load through MODEL_PATH.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.accounts.users import User, Users
from app.core.db import Database, open_database
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Job, Status
from app.core.settings import Settings
from tests.conftest import breast_cancer_frame
from tests.support.models import make_model_dir
from tests.support.procs import Procs, job_rows, output_files, seed_jobs, state_changes, wait_until

LEASE = 5  # seconds; HEARTBEAT_SECONDS is 1 (make_config's default)


@dataclass
class Queue:
    config: Path
    settings: Settings
    db: Database
    owner: User
    jobs: Jobs

    def job(self, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        assert job is not None
        return job


@pytest.fixture
def make_queue(make_config, tmp_path: Path) -> Iterator[Callable[..., Queue]]:  # type: ignore[no-untyped-def]
    opened: list[Database] = []

    def make(engine: str, **overrides: str) -> Queue:
        config, settings = make_config(engine, **overrides)
        db = open_database(settings)
        db.init_schema()
        opened.append(db)
        owner = Users(db).create("worker-test", "worker-test-password")
        return Queue(config, settings, db, owner, Jobs(db))

    yield make
    for db in opened:
        db.close()


@pytest.fixture
def procs(tmp_path: Path, make_config) -> Iterator[Procs]:  # type: ignore[no-untyped-def]
    # Depends on make_config so the processes are killed before their database is dropped.
    group = Procs(tmp_path / "logs")
    yield group
    group.close()


@pytest.fixture
def slow_model(tmp_path: Path, model_dir: Path) -> Callable[..., Path]:
    def make(seconds_per_row: float = 0.0, poison: float | None = None) -> Path:
        name = f"slow-{seconds_per_row}-{poison}".replace(".", "_")
        return make_model_dir(model_dir, tmp_path / name, seconds_per_row=seconds_per_row, poison=poison)

    return make


def write_csv(tmp_path: Path, rows: int, name: str = "source.csv", seed: int = 0) -> Path:
    path = tmp_path / name
    breast_cancer_frame(rows, seed).to_csv(path, index=False)
    return path


# -- 8 processes, 400 jobs -------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.mysql
def test_eight_workers_race_over_400_jobs_on_mariadb(make_queue, procs, tmp_path) -> None:
    # Lease well above the run time of a 5-row job: this test is about claiming, not reaping.
    q = make_queue("mysql", MAX_CONCURRENT_JOBS="16", LEASE_SECONDS="60")
    seed_jobs(q.settings, q.db, q.owner.id, write_csv(tmp_path, 5), count=400, rows=5)

    started = time.monotonic()
    workers = [procs.worker(q.config, "--all", name=f"racer{i}") for i in range(8)]
    codes = [w.wait(timeout=150) for w in workers]
    elapsed = time.monotonic() - started
    assert codes == [0] * 8, [w.log()[-2000:] for w in workers]

    final = list(job_rows(q.db))
    assert len(final) == 400
    assert Counter(j.status for j in final) == {Status.PROCESS_OK: 400}
    assert {j.attempts for j in final} == {1}
    claimed = [e["job"] for w in workers for e in w.events("job.claimed")]
    done = [e["job"] for w in workers for e in w.events("job.done")]
    assert len(claimed) == len(set(claimed)) == 400  # every job claimed exactly once ...
    assert len(done) == len(set(done)) == 400  # ... and completed exactly once
    files = output_files(q.settings)
    assert len(files["xlsx"]) == 400 and len(files["csv"]) == 400
    assert files["part"] == [] and files["other"] == []
    assert {j.path_result for j in final} == set(files["xlsx"])
    assert {j.path_result_csv for j in final} == set(files["csv"])
    changes = Counter(e["event"] for e in state_changes(procs.all_logs()))
    assert changes == {"job.claimed": 400, "job.done": 400}
    per_worker = [len(w.events("job.done")) for w in workers]
    print(f"\nrace: 8 workers, 400 jobs in {elapsed:.1f} s; PROCESS OK {len(final)}, attempts=1 for all, "
          f"xlsx {len(files['xlsx'])}, csv {len(files['csv'])}, .part {len(files['part'])}; "
          f"jobs per worker {per_worker}")


def both_engines() -> pytest.MarkDecorator:
    return pytest.mark.parametrize("engine", ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)


def in_process(q: Queue) -> list[Job]:
    return [j for j in job_rows(q.db) if j.status is Status.IN_PROCESS]


def worker_of(proc) -> str:  # type: ignore[no-untyped-def]
    """The worker id a process logs (host:pid:random)."""
    started = wait_until(lambda: [e for e in proc.events("job.claimed") + proc.events("worker.started")], 30,
                         f"{proc.args} to log its worker id")
    return started[0]["worker"]


# -- kill -9 mid-job ---------------------------------------------------------------------------------
@pytest.mark.slow
@both_engines()
def test_kill_9_mid_job_is_recovered_by_another_worker(engine, make_queue, procs, slow_model, tmp_path) -> None:
    q = make_queue(engine, LEASE_SECONDS=str(LEASE), CHUNK_ROWS="100",
                   MODEL_PATH=str(slow_model(seconds_per_row=0.004)))
    (job,) = seed_jobs(q.settings, q.db, q.owner.id, write_csv(tmp_path, 1200), count=1, rows=1200)

    victim = procs.worker(q.config, name="victim")
    wait_until(lambda: q.job(job.id).rows_done >= 200, 30, "the victim to make progress")
    leftovers = output_files(q.settings)["part"]
    assert leftovers, "the victim should be writing its hidden .part files now"
    victim.signal(signal.SIGKILL)
    assert victim.wait(10) == -signal.SIGKILL
    killed_at = time.monotonic()
    rows_at_kill = q.job(job.id).rows_done
    assert q.job(job.id).status is Status.IN_PROCESS  # nobody can tell yet

    rescuer = procs.worker(q.config, "--loop", "--interval", "1", name="rescuer")
    final = wait_until(lambda: (j := q.job(job.id)).finished and j, 60, "the job to finish")
    recovered_in = time.monotonic() - killed_at
    rescuer.signal(signal.SIGTERM)
    assert rescuer.wait(15) == 0

    assert final.status is Status.PROCESS_OK and final.attempts == 2 and final.rows_done == 1200
    (requeued,) = rescuer.events("job.requeued")
    assert requeued["job"] == str(job.id) and requeued["worker"].split(":")[1] == str(victim.pid)
    assert int(requeued["files_removed"]) == len(leftovers)  # the victim's .part files
    files = output_files(q.settings)
    assert files["xlsx"] == [final.path_result] and files["csv"] == [final.path_result_csv]
    assert files["part"] == [] and files["other"] == []
    assert [e["event"] for e in state_changes(procs.all_logs())] == ["job.claimed", "job.requeued", "job.claimed",
                                                                     "job.done"]
    print(f"\nkill -9 ({engine}): killed at {rows_at_kill} of 1200 rows; re-claimed and finished "
          f"{recovered_in:.1f} s later (lease {LEASE} s); attempts={final.attempts}, "
          f"xlsx {len(files['xlsx'])}, csv {len(files['csv'])}, .part removed {requeued['files_removed']}")


# -- a stale worker cannot overwrite the new owner's result ------------------------------------------
@pytest.mark.slow
@both_engines()
def test_stopped_worker_past_its_lease_cannot_overwrite_the_new_owner(engine, make_queue, procs, slow_model,
                                                                       tmp_path) -> None:
    q = make_queue(engine, LEASE_SECONDS=str(LEASE), CHUNK_ROWS="100",
                   MODEL_PATH=str(slow_model(seconds_per_row=0.003)))
    (job,) = seed_jobs(q.settings, q.db, q.owner.id, write_csv(tmp_path, 1000), count=1, rows=1000)

    stale = procs.worker(q.config, name="stale")
    wait_until(lambda: q.job(job.id).rows_done >= 100, 30, "the first worker to make progress")
    stale.signal(signal.SIGSTOP)
    stale_id = q.job(job.id).claimed_by

    owner = procs.worker(q.config, "--loop", "--interval", "1", name="owner")
    final = wait_until(lambda: (j := q.job(job.id)).finished and j, 60, "the new owner to finish")
    assert final.status is Status.PROCESS_OK and final.attempts == 2
    assert final.claimed_by != stale_id and final.claimed_by == worker_of(owner)
    owner.signal(signal.SIGTERM)
    assert owner.wait(15) == 0

    stale.signal(signal.SIGCONT)
    assert stale.wait(60) == 0
    (lost,) = stale.events("job.lease_lost")
    assert lost["job"] == str(job.id) and lost["worker"] == stale_id and lost["action"] == "output discarded"
    assert not stale.events("job.done") and not stale.events("job.failed")
    after = q.job(job.id)
    assert (after.status, after.path_result, after.path_result_csv, after.date_result) == (
        Status.PROCESS_OK, final.path_result, final.path_result_csv, final.date_result)
    files = output_files(q.settings)
    assert files["xlsx"] == [final.path_result] and files["csv"] == [final.path_result_csv]
    assert files["part"] == []


@both_engines()
def test_takeover_just_before_the_final_write_discards_the_stale_result(engine, make_queue, monkeypatch,
                                                                        tmp_path, caplog) -> None:
    """The narrowest window, made deterministic in-process: the first worker's prediction has
    finished and published its files when its lease is taken over and the new owner completes;
    its fenced complete() then matches nothing, and it deletes only its own files."""
    import scheduler.worker as worker_module
    from scheduler.worker import Worker

    q = make_queue(engine)
    (job,) = seed_jobs(q.settings, q.db, q.owner.id, write_csv(tmp_path, 30), count=1, rows=30)
    real_prediction = worker_module.prediction
    second_result: list[Job] = []
    taken_over: list[bool] = []

    def prediction_then_takeover(*args, **kwargs):  # type: ignore[no-untyped-def]
        path = real_prediction(*args, **kwargs)
        if not taken_over:
            taken_over.append(True)  # once: the second worker's own run goes through here too
            time.sleep(0.05)
            # The first worker's lease expires (lease 0 here) and another worker takes over.
            assert Jobs(q.db).reap(lease_seconds=0, max_attempts=3) == ([job.id], [])
            second = Worker(q.settings, q.db, worker_id="second")
            second_result.append(second.run_claim(second.claim_next()))
        return path

    monkeypatch.setattr(worker_module, "prediction", prediction_then_takeover)
    first = Worker(q.settings, q.db, worker_id="first")
    caplog.set_level("INFO", logger="beyond.worker")
    returned = first.run_claim(first.claim_next())

    winner = second_result[0]
    assert winner.status is Status.PROCESS_OK and winner.claimed_by == "second" and winner.attempts == 2
    assert returned.path_result == winner.path_result  # the row still names the second's files
    files = output_files(q.settings)
    assert files["xlsx"] == [winner.path_result] and files["csv"] == [winner.path_result_csv]
    assert files["part"] == []
    assert any("event=job.lease_lost" in r.message and "worker=first" in r.message for r in caplog.records)


# -- a file that kills its worker every time ---------------------------------------------------------
POISON = 66.6  # "mean radius" of the first row of the poison file


@pytest.mark.slow
@both_engines()
def test_poison_job_ends_in_error_after_max_attempts_and_others_finish(engine, make_queue, procs, slow_model,
                                                                      tmp_path) -> None:
    q = make_queue(engine, LEASE_SECONDS=str(LEASE), MAX_ATTEMPTS="3", MODEL_PATH=str(slow_model(poison=POISON)))
    frame = breast_cancer_frame(50, seed=3)
    frame.loc[0, "mean radius"] = POISON
    poison_csv = tmp_path / "poison.csv"
    frame.to_csv(poison_csv, index=False)
    (poison,) = seed_jobs(q.settings, q.db, q.owner.id, poison_csv, count=1, rows=50)  # oldest: claimed first
    good = seed_jobs(q.settings, q.db, q.owner.id, write_csv(tmp_path, 40, "good.csv"), count=3, rows=40)

    started = time.monotonic()
    runs = []  # cron, run back to back: every run reaps, then drains what it can
    while not all(q.job(j.id).finished for j in [poison, *good]):
        assert time.monotonic() - started < 90, "the poison job never ended"
        run = procs.worker(q.config, "--all", name=f"cron{len(runs)}")
        runs.append(run.wait(60))
        time.sleep(0.3)
    elapsed = time.monotonic() - started

    ended = q.job(poison.id)
    assert ended.status is Status.ERROR and ended.attempts == 3
    assert "Worker lost" in ended.error_message and "gave up after 3 attempts" in ended.error_message
    assert runs.count(-signal.SIGKILL) == 3, runs  # it killed its worker on every attempt
    for j in good:
        finished = q.job(j.id)
        assert finished.status is Status.PROCESS_OK and finished.attempts == 1
    files = output_files(q.settings)
    assert len(files["xlsx"]) == len(files["csv"]) == 3 and files["part"] == []
    assert not any(name.startswith(f"job-{poison.id}-") for name in files["xlsx"] + files["csv"])
    lines = [e for e in state_changes(procs.all_logs()) if e["job"] == str(poison.id)]
    assert [e["event"] for e in lines] == ["job.claimed", "job.requeued"] * 2 + ["job.claimed", "job.failed"]
    assert lines[-1]["reason"] == "worker lost, attempts exhausted" and lines[-1]["status"] == "ERROR"
    print(f"\npoison ({engine}): ERROR after {ended.attempts} attempts in {elapsed:.1f} s, {len(runs)} cron runs "
          f"({runs.count(-signal.SIGKILL)} killed); the 3 good jobs PROCESS OK")


# -- SIGTERM --------------------------------------------------------------------------------------
@pytest.mark.slow
@both_engines()
def test_sigterm_returns_the_running_job_and_exits_promptly(engine, make_queue, procs, slow_model, tmp_path) -> None:
    q = make_queue(engine, LEASE_SECONDS=str(LEASE), CHUNK_ROWS="100",
                   MODEL_PATH=str(slow_model(seconds_per_row=0.004)))
    (job,) = seed_jobs(q.settings, q.db, q.owner.id, write_csv(tmp_path, 1000), count=1, rows=1000)

    looping = procs.worker(q.config, "--loop", "--interval", "1", name="looping")
    wait_until(lambda: q.job(job.id).rows_done >= 200, 30, "the worker to make progress")
    sent = time.monotonic()
    looping.signal(signal.SIGTERM)
    assert looping.wait(10) == 0
    exited_in = time.monotonic() - sent
    assert exited_in < 3.0  # one chunk is 0.4 s

    back = q.job(job.id)
    assert back.status is Status.PENDING and back.attempts == 0 and back.claimed_by is None
    (released,) = looping.events("job.released")
    assert released["job"] == str(job.id) and released["status"] == "PENDING" and released["reason"] == "shutdown"
    assert looping.events("worker.stopped")
    assert output_files(q.settings) == {"xlsx": [], "csv": [], "part": [], "other": []}

    assert procs.worker(q.config, "--all", name="next").wait(60) == 0
    final = q.job(job.id)
    assert final.status is Status.PROCESS_OK and final.attempts == 1 and final.rows_done == 1000
    assert [(e["event"], e["status"]) for e in state_changes(procs.all_logs())] == [
        ("job.claimed", "IN PROCESS"), ("job.released", "PENDING"), ("job.claimed", "IN PROCESS"),
        ("job.done", "PROCESS OK")]
    print(f"\nSIGTERM ({engine}): exited 0 in {exited_in:.2f} s, job back to PENDING with attempts 0, "
          "then finished by the next run with attempts 1")


# -- visibility of new rows ---------------------------------------------------------------------------
@pytest.mark.timing
@pytest.mark.slow
@both_engines()
def test_polling_worker_sees_jobs_inserted_by_other_connections_within_one_interval(engine, make_queue, procs,
                                                                                   tmp_path) -> None:
    q = make_queue(engine)
    source = write_csv(tmp_path, 10)
    looping = procs.worker(q.config, "--loop", "--interval", "1", name="poller")
    wait_until(lambda: looping.events("worker.started"), 30, "the worker to start")
    time.sleep(2.5)  # it has polled (and found nothing) a few times: any snapshot would be old now
    waits = []
    for _ in range(3):
        (job,) = seed_jobs(q.settings, q.db, q.owner.id, source, count=1, rows=10)
        job_id = job.id
        claimed = wait_until(lambda: (j := q.job(job_id)).date_init and j, 10, f"job {job_id} to be claimed")  # noqa: B023
        waits.append((claimed.date_init - claimed.date_up).total_seconds())
        wait_until(lambda: q.job(job_id).finished, 30, f"job {job_id} to finish")  # noqa: B023
        time.sleep(1.3)  # let it go back to sleep between polls
    looping.signal(signal.SIGTERM)
    assert looping.wait(15) == 0
    # interval 1 s, plus a little for the claim itself on a busy machine
    assert max(waits) < 2.0, waits
    print(f"\npolling ({engine}): inserted jobs claimed after {', '.join(f'{w:.2f}' for w in waits)} s (interval 1 s)")


# -- the per-host concurrency cap -------------------------------------------------------------------
@pytest.mark.slow
@both_engines()
def test_overlapping_cron_runs_respect_max_concurrent_jobs(engine, make_queue, procs, slow_model, tmp_path) -> None:
    q = make_queue(engine, MAX_CONCURRENT_JOBS="1", CHUNK_ROWS="100", MODEL_PATH=str(slow_model(seconds_per_row=0.004)))
    # 1500 rows at 4 ms: 6 s per job, longer than the second run needs to start and give up
    first_job, second_job = seed_jobs(q.settings, q.db, q.owner.id, write_csv(tmp_path, 1500), count=2, rows=1500)

    first = procs.worker(q.config, name="cron-a")
    wait_until(lambda: in_process(q), 30, "the first run to claim a job")
    second = procs.worker(q.config, "--all", name="cron-b")
    most, first_job_when_second_ended = 0, None
    while second.poll() is None or first.poll() is None:
        most = max(most, len(in_process(q)))
        if second.poll() is not None and first_job_when_second_ended is None:
            first_job_when_second_ended = q.job(first_job.id).status
        time.sleep(0.05)
    assert first.wait(5) == 0 and second.wait(5) == 0
    busy = second.events("worker.host_busy")
    assert busy and busy[0]["limit"] == "1"
    assert not second.events("job.claimed")
    assert most == 1
    assert first_job_when_second_ended is Status.IN_PROCESS  # it gave up while the first one ran
    assert q.job(first_job.id).status is Status.PROCESS_OK
    assert q.job(second_job.id).status is Status.PENDING  # left for the next run, not run beside the first
