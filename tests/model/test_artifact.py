"""model/artifact.py: what a model directory must hold, and the version every result records."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.accounts.users import Users
from app.core.db import SQLiteDatabase
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Status
from app.core.settings import Settings
from model.artifact import build_schema, save_model
from model.loading import load_model
from model.schema import MAX_VERSION_CHARS, SCHEMA_FILE, ModelError
from model.train import train
from scheduler.worker import Worker
from tests.conftest import breast_cancer_frame


def model_copy(model_dir: Path, target: Path, **schema_changes: object) -> Path:
    """A copy of the trained model directory with some schema.json entries replaced."""
    shutil.copytree(model_dir, target)
    schema = json.loads((target / SCHEMA_FILE).read_text(encoding="utf-8"))
    schema.update(schema_changes)
    (target / SCHEMA_FILE).write_text(json.dumps(schema), encoding="utf-8")
    return target


def test_the_column_limit_is_the_mysql_one() -> None:
    sql = "\n".join(p.read_text(encoding="utf-8") for p in sorted((Path(__file__).parents[2] / "sql" / "mysql").glob("*.sql")))
    # Every table that keeps a model version (wp_records, job_quality) sizes it the same.
    found = re.findall(r"\bmodel_version\s+VARCHAR\((\d+)\)", sql, re.IGNORECASE)
    assert found and set(found) == {str(MAX_VERSION_CHARS)}


def test_a_version_longer_than_the_column_is_refused_on_load(tmp_path: Path, model_dir: Path) -> None:
    version = "v" * 65
    directory = model_copy(model_dir, tmp_path / "long", version=version)
    with pytest.raises(ModelError) as info:
        load_model(directory)
    message = str(info.value)
    assert version in message and "65 characters" in message and "at most 64" in message
    assert str(directory / SCHEMA_FILE) in message


def test_a_version_of_exactly_64_characters_loads(tmp_path: Path, model_dir: Path) -> None:
    version = "é" * 64  # characters, as MySQL's utf8mb4 VARCHAR counts them, not bytes
    assert load_model(model_copy(model_dir, tmp_path / "ok", version=version)).version == version


def test_a_very_long_version_is_shortened_in_the_message(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(ModelError, match=r"x\.\.\.' is 10,000 characters long; at most 64") as info:
        load_model(model_copy(model_dir, tmp_path / "huge", version="x" * 10_000))
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("version", ["", "   ", 7, None, ["v1"]])
def test_a_version_must_be_non_empty_text(tmp_path: Path, model_dir: Path, version: object) -> None:
    with pytest.raises(ModelError, match="must be a non-empty text"):
        load_model(model_copy(model_dir, tmp_path / "m", version=version))


def test_a_schema_that_is_not_an_object_is_refused(tmp_path: Path, model_dir: Path) -> None:
    directory = model_copy(model_dir, tmp_path / "list")
    (directory / SCHEMA_FILE).write_text('["version", "features"]', encoding="utf-8")
    with pytest.raises(ModelError, match="must hold a JSON object, not list"):
        load_model(directory)


def test_build_and_save_refuse_a_long_version_up_front(tmp_path: Path) -> None:
    frame = breast_cancer_frame(5)
    with pytest.raises(ModelError, match="is 65 characters long; at most 64"):
        build_schema(object(), frame, "v" * 65)
    with pytest.raises(ModelError, match="is 65 characters long; at most 64"):
        save_model(object(), {"version": "v" * 65, "features": [{"name": "a"}]}, tmp_path / "m")
    assert not (tmp_path / "m").exists()
    with pytest.raises(ModelError, match="must be a non-empty text"):
        build_schema(object(), frame, "")


def test_the_default_model_version_fits(tmp_path: Path) -> None:
    schema = train(tmp_path / "m")
    assert 0 < len(schema["version"]) <= MAX_VERSION_CHARS


def test_a_worker_with_such_a_model_claims_nothing(
    tmp_path: Path, model_dir: Path, make_settings: Callable[..., Settings]
) -> None:
    """The job stays PENDING (and is processed once the model is fixed) instead of being
    claimed, predicted and then failing to record its result, lease after lease."""
    directory = model_copy(model_dir, tmp_path / "long", version="v" * 65)
    settings = make_settings("sqlite", MODEL_PATH=str(directory))
    db = SQLiteDatabase(settings.sqlite_path)
    db.init_schema()
    try:
        owner = Users(db).create("dora", "dora-password-1")
        settings.input_dir.mkdir(parents=True, exist_ok=True)
        breast_cancer_frame(10).to_csv(settings.input_dir / "in.csv", index=False)
        job = Jobs(db).create(owner.id, "in.csv", "in.csv", 1, 10)
        with pytest.raises(ModelError, match="at most 64"):
            Worker(settings, db).run_once()
        waiting = Jobs(db).get(job.id)
        assert waiting is not None and waiting.status is Status.PENDING and waiting.attempts == 0
    finally:
        db.drop_database()
