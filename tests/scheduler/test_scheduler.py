"""The CLI and the cron scheduler as real processes, on SQLite and MariaDB."""

from __future__ import annotations

import subprocess
import sys

import openpyxl
import pytest

from app.core.db import open_database
from app.core.jobs.listing import JobFilter, JobList
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Status
from tests.conftest import ROOT, breast_cancer_frame, run_cli


@pytest.fixture(params=["sqlite", "mysql"])
def config(request, make_config):  # type: ignore[no-untyped-def]
    return make_config(request.param)


def test_submit_then_process_pending_makes_a_correct_xlsx(config, tmp_path) -> None:
    path, settings = config
    created = run_cli(path, "-m", "app", "create-user", "admin", "--admin", "--password-stdin", stdin="s3cret-pass\n")
    assert created.returncode == 0, created.stderr
    frame = breast_cancer_frame(200, seed=7)
    source = tmp_path / "patients.csv"
    frame.to_csv(source, index=False)
    submitted = run_cli(path, "-m", "app", "submit", "admin", str(source))
    assert submitted.returncode == 0, submitted.stderr
    assert "PENDING" in submitted.stdout

    processed = run_cli(path, "scheduler/process_pending.py")
    assert processed.returncode == 0, processed.stderr
    assert "event=job.claimed" in processed.stderr and "event=job.done" in processed.stderr

    db = open_database(settings)
    job = JobList(db).page(JobFilter())[0]
    db.close()
    assert job.status is Status.PROCESS_OK and job.path_result and job.date_result
    assert job.rows_done == job.rows_total == 200
    assert job.path_up != "patients.csv"  # stored under a generated name
    book = openpyxl.load_workbook(settings.output_dir / job.path_result, read_only=True)
    rows = list(book["predictions"].iter_rows(values_only=True))
    book.close()
    header = list(rows[0])
    label, predicted = header.index("diagnosis"), header.index("prediction")
    accuracy = sum(r[label] == r[predicted] for r in rows[1:]) / (len(rows) - 1)
    assert accuracy >= 0.9

    idle = run_cli(path, "scheduler/process_pending.py")
    assert idle.returncode == 0 and "event=worker.idle" in idle.stderr


def test_submit_rejects_a_bad_csv_and_stores_nothing(config, tmp_path) -> None:
    path, settings = config
    run_cli(path, "-m", "app", "create-user", "bob", "--password-stdin", stdin="bob-password\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,x\n", encoding="utf-8")
    result = run_cli(path, "-m", "app", "submit", "bob", str(bad))
    assert result.returncode == 1
    assert "Missing column 'mean radius'" in result.stderr
    assert not settings.input_dir.exists() or list(settings.input_dir.iterdir()) == []


def test_one_bad_job_does_not_stop_the_others(config, tmp_path) -> None:
    path, settings = config
    run_cli(path, "-m", "app", "init-db")
    db = open_database(settings)
    from app.core.accounts.users import Users

    owner = Users(db).create("carol", "carol-password")
    jobs = Jobs(db)
    settings.input_dir.mkdir(parents=True)
    good = settings.input_dir / "good.csv"
    breast_cancer_frame(20).to_csv(good, index=False)
    jobs.create(owner.id, "missing.csv", "gone.csv", 1, 1)  # its file vanished from storage
    jobs.create(owner.id, "good.csv", "good.csv", good.stat().st_size, 20)
    result = run_cli(path, "scheduler/process_pending.py", "--all")
    assert result.returncode == 0, result.stderr
    statuses = {j.file_name: j for j in JobList(jobs.db).page(JobFilter())}
    db.close()
    assert statuses["missing.csv"].status is Status.ERROR
    assert "missing from storage" in statuses["missing.csv"].error_message
    assert statuses["good.csv"].status is Status.PROCESS_OK


@pytest.mark.mysql
def test_two_schedulers_race_over_50_jobs_on_mariadb(make_config, tmp_path) -> None:
    path, settings = make_config("mysql", MAX_CONCURRENT_JOBS="4")
    run_cli(path, "-m", "app", "init-db")
    db = open_database(settings)
    from app.core.accounts.users import Users

    owner = Users(db).create("racer", "racer-password")
    jobs = Jobs(db)
    settings.input_dir.mkdir(parents=True)
    for i in range(50):
        source = settings.input_dir / f"job{i}.csv"
        breast_cancer_frame(30, seed=i).to_csv(source, index=False)
        jobs.create(owner.id, source.name, source.name, source.stat().st_size, 30)

    env_cmd = [sys.executable, "scheduler/process_pending.py", "--all"]
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("BEYOND_")}
    env["APP_CONFIG"] = str(path)
    procs = [subprocess.Popen(env_cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    claims = [line for _, err in outputs for line in err.splitlines() if "event=job.claimed" in line]
    per_process = [sum("event=job.claimed" in line for line in err.splitlines()) for _, err in outputs]
    final = JobList(jobs.db).page(JobFilter(), limit=100)
    db.close()
    assert len(final) == 50
    assert all(j.status is Status.PROCESS_OK and j.attempts == 1 for j in final)
    assert len(claims) == 50 and all(n > 0 for n in per_process), per_process
    results = sorted(p.name for p in settings.output_dir.glob("*.xlsx"))
    assert len(results) == 50 and len({j.path_result for j in final}) == 50
    print(f"race: 50 jobs, claims per process {per_process}, result files {len(results)}")
