"""Workers serve every registered model: each job runs with the version it was accepted for,
loaded through a small LRU cache; broken or changed files end that job, not the worker."""

from __future__ import annotations

import logging
import shutil

from app.core.jobs.records import Status
from app.core.jobs.submissions import submit_path
from app.core.registry.models import Registry
from scheduler.worker import Worker


def run(worker: Worker, job):  # type: ignore[no-untyped-def]
    return worker.run_claim(worker.claim(job.id))


def test_each_job_runs_with_its_own_version(settings, db, jobs, alice, make_csv, model_dir, caplog) -> None:  # type: ignore[no-untyped-def]
    registry = Registry(db, settings)
    registry.deploy(model_dir, "churn", version="v1", activate=True)
    old = submit_path(settings, jobs, alice.id, make_csv(5), model="churn")
    registry.deploy(model_dir, "churn", version="v2", activate=True)
    new = submit_path(settings, jobs, alice.id, make_csv(5, name="b.csv"), model="churn")
    default = submit_path(settings, jobs, alice.id, make_csv(5, name="c.csv"))
    worker = Worker(settings, db)
    with caplog.at_level(logging.INFO, logger="beyond.worker"):
        done = [run(worker, j) for j in (old, new, default)]
    assert [(j.status, j.model_name, j.model_version) for j in done] == [
        (Status.PROCESS_OK, "churn", "v1"), (Status.PROCESS_OK, "churn", "v2"),
        (Status.PROCESS_OK, "breast-cancer", "breast-cancer-logreg-1")]
    loaded = [r.getMessage() for r in caplog.records if "event=model.loaded" in r.getMessage()]
    # v1 and v2 are the same files (one sha256), the default model too: loaded once.
    assert len(loaded) == 1 and "rss_delta_bytes=" in loaded[0] and "model=churn" in loaded[0]


def test_a_job_from_before_the_registry_uses_the_default_model(settings, db, jobs, alice, make_csv) -> None:  # type: ignore[no-untyped-def]
    settings.input_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(make_csv(4), settings.input_dir / "upload-old.csv")
    old = jobs.create(alice.id, "old.csv", "upload-old.csv", 1, 4)  # model_name NULL
    done = run(Worker(settings, db), old)
    assert done.status is Status.PROCESS_OK and done.model_version == "breast-cancer-logreg-1"


def test_the_cache_keeps_the_most_recently_used(make_settings, engine, db, jobs, alice, make_csv, model_dir,
                                                tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    import json

    settings = make_settings(engine, MODEL_CACHE_SIZE="1")
    registry = Registry(db, settings)
    for name in ("a", "b"):  # different files: different sha256
        copy = shutil.copytree(model_dir, tmp_path / name)
        schema = json.loads((copy / "schema.json").read_text())
        schema["description"] = name
        (copy / "schema.json").write_text(json.dumps(schema))
        registry.deploy(copy, name, version="v1", activate=True)
    worker = Worker(settings, db)
    submitted = [submit_path(settings, jobs, alice.id, make_csv(3, name=f"{i}.csv"), model=m)
                 for i, m in enumerate(["a", "a", "b", "a"])]
    with caplog.at_level(logging.INFO, logger="beyond.worker"):
        assert all(run(worker, j).status is Status.PROCESS_OK for j in submitted)
    loaded = [r.getMessage() for r in caplog.records if "event=model.loaded" in r.getMessage()]
    assert [m.split("model=")[1].split()[0] for m in loaded] == ["a", "b", "a"]


def test_missing_or_changed_files_end_the_job_not_the_worker(settings, db, jobs, alice, make_csv, model_dir) -> None:  # type: ignore[no-untyped-def]
    registry = Registry(db, settings)
    gone = registry.deploy(model_dir, "gone", version="v1", activate=True)
    edited = registry.deploy(model_dir, "edited", version="v7", activate=True)
    jobs_gone = submit_path(settings, jobs, alice.id, make_csv(3), model="gone")
    job_edited = submit_path(settings, jobs, alice.id, make_csv(3, name="e.csv"), model="edited")
    fine = submit_path(settings, jobs, alice.id, make_csv(3, name="f.csv"))
    shutil.rmtree(gone.directory(settings.models_dir))
    schema = edited.directory(settings.models_dir) / "schema.json"
    schema.chmod(0o644)
    schema.write_text(schema.read_text() + "\n")

    worker = Worker(settings, db)
    worker.run_once()
    first = jobs.get(jobs_gone.id)
    assert first.status is Status.ERROR and "gone version v1" in first.error_message and "missing" in first.error_message
    worker.run_once()
    second = jobs.get(job_edited.id)
    assert second.status is Status.ERROR and "edited version v7" in second.error_message
    assert "changed" in second.error_message
    assert worker.run_once().status is Status.PROCESS_OK  # the worker goes on
    assert jobs.get(fine.id).status is Status.PROCESS_OK


def test_a_corrupt_artifact_ends_the_job(settings, db, jobs, alice, make_csv, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    copy = shutil.copytree(model_dir, tmp_path / "corrupt")
    registry = Registry(db, settings)
    record = registry.deploy(copy, "corrupt", version="v1", activate=True)
    job = submit_path(settings, jobs, alice.id, make_csv(3), model="corrupt")
    # The registry row says these bytes are the deployment (as if deployed corrupt on purpose):
    target = record.directory(settings.models_dir) / "model.joblib"
    target.chmod(0o644)
    target.write_bytes(b"not a joblib file")
    from app.core.registry.models import artifact_sha256

    sha = artifact_sha256(record.directory(settings.models_dir))  # hex digits only
    with db.transaction() as tx:
        tx.conn.cursor().execute(f"UPDATE models SET artifact_sha256 = '{sha}' WHERE name = 'corrupt'")
        tx.conn.cursor().execute(f"UPDATE wp_records SET model_sha256 = NULL WHERE id = {int(job.id)}")
    done = run(Worker(settings, db), job)
    assert done.status is Status.ERROR and "corrupt version v1 cannot be loaded" in done.error_message


def test_probability_columns_all_reaches_the_worker_results(settings, db, jobs, alice, make_csv) -> None:  # type: ignore[no-untyped-def]
    import openpyxl

    every = settings.replace(probability_columns="all")
    job = submit_path(every, jobs, alice.id, make_csv(6))
    done = run(Worker(every, db), job)
    assert done.status is Status.PROCESS_OK
    book = openpyxl.load_workbook(every.output_dir / done.path_result, read_only=True)
    header = next(book["predictions"].iter_rows(values_only=True))
    book.close()
    assert list(header)[-4:] == ["probability", "probability_benign", "probability_malignant", "row_status"]
    csv_header = (every.output_dir / done.path_result_csv).read_text(encoding="utf-8-sig").splitlines()[0]
    assert csv_header.endswith(",probability,probability_benign,probability_malignant,row_status")
    book = openpyxl.load_workbook(every.output_dir / done.path_result, read_only=True)
    summary = dict(book["summary"].iter_rows(values_only=True))
    book.close()
    assert summary["model"] == "breast-cancer" and summary["model version"] == done.model_version
    assert summary["model SHA-256"] == done.model_sha256 and len(done.model_sha256) == 64
