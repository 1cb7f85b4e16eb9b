"""The model registry (app/core/registry/models.py) on both engines: deploy, activate, the default
model registered from MODEL_PATH, and migration 005."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from app.core.errors import Conflict, InvalidRequest, NotFound, UnknownModel
from app.core.registry.models import Registry, artifact_sha256
from model.schema import SCHEMA_FILE, ModelError


def model_version_copy(model_dir: Path, target: Path, version: str) -> Path:
    shutil.copytree(model_dir, target)
    schema = json.loads((target / SCHEMA_FILE).read_text(encoding="utf-8"))
    schema["version"] = version
    (target / SCHEMA_FILE).write_text(json.dumps(schema), encoding="utf-8")
    return target


@pytest.fixture
def registry(db, settings) -> Registry:  # type: ignore[no-untyped-def]
    return Registry(db, settings)


def test_deploy_copies_read_only_and_records_the_hash(registry, settings, model_dir) -> None:  # type: ignore[no-untyped-def]
    record = registry.deploy(model_dir, "churn", version="v1", deployed_by="boss")
    target = settings.models_dir / "churn" / "v1"
    assert record.directory(settings.models_dir) == target
    assert sorted(p.name for p in target.iterdir()) == ["model.joblib", "schema.json"]
    assert record.sha256 == artifact_sha256(target) == artifact_sha256(model_dir) and len(record.sha256) == 64
    assert not (target / "model.joblib").stat().st_mode & 0o222  # read-only
    assert record.deployed_by == "boss" and record.deployed_at is not None and not record.active
    assert record.features[:2] == ["mean radius", "mean texture"] and record.classes == ["benign", "malignant"]
    assert [p.name for p in target.parent.iterdir()] == ["v1"]  # no temporary directory left
    assert registry.get("churn", "v1") == record and registry.active("churn") is None


def test_the_version_defaults_to_the_schemas(registry, model_dir) -> None:  # type: ignore[no-untyped-def]
    record = registry.deploy(model_dir, "bc", activate=True)
    assert record.version == json.loads((model_dir / SCHEMA_FILE).read_text())["version"] and record.active


def test_the_hash_covers_names_and_contents(tmp_path: Path, model_dir: Path) -> None:
    copy = shutil.copytree(model_dir, tmp_path / "copy")
    before = artifact_sha256(copy)
    (copy / "notes.txt").write_text("x")
    assert artifact_sha256(copy) != before
    (copy / "notes.txt").unlink()
    assert artifact_sha256(copy) == before
    (copy / "schema.json").write_text((copy / "schema.json").read_text() + " ")
    assert artifact_sha256(copy) != before


@pytest.mark.parametrize("name", ["", "a/b", "..", ".hidden", "x" * 65, "with space", "é"])
def test_bad_names_are_refused(registry, model_dir, name) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest, match="not allowed"):
        registry.deploy(model_dir, name, version="v1")


def test_bad_versions_are_refused(registry, model_dir) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest, match="at most 64"):
        registry.deploy(model_dir, "m", version="v" * 65)
    with pytest.raises(InvalidRequest, match="not allowed"):
        registry.deploy(model_dir, "m", version="../escape")


def test_a_duplicate_version_is_refused_and_the_files_kept(registry, settings, model_dir) -> None:  # type: ignore[no-untyped-def]
    first = registry.deploy(model_dir, "m", version="v1")
    with pytest.raises(Conflict, match="deployed already"):
        registry.deploy(model_dir, "m", version="v1")
    assert artifact_sha256(settings.models_dir / "m" / "v1") == first.sha256
    assert [r.version for r in registry.list()] == ["v1"]


def test_a_broken_directory_is_refused_with_the_model_error(registry, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "schema.json").write_text("{}")
    with pytest.raises(InvalidRequest, match=r"model.joblib \(or model.skops, model.onnx, .*, or an MLflow MLmodel\) is missing"):
        registry.deploy(broken, "m", version="v1")
    with pytest.raises(InvalidRequest, match="not a directory"):
        registry.deploy(tmp_path / "nothing", "m", version="v1")
    assert registry.list() == [] and not (settings.models_dir / "m" / "v1").exists()


def test_activate_promotes_and_rolls_back_one_active_per_name(registry, db, model_dir) -> None:  # type: ignore[no-untyped-def]
    registry.deploy(model_dir, "m", version="v1", activate=True)
    registry.deploy(model_dir, "m", version="v2")
    registry.deploy(model_dir, "other", version="v1", activate=True)
    assert registry.active("m").version == "v1"
    registry.activate("m", "v2")
    assert registry.active("m").version == "v2"
    registry.activate("m", "v1")  # roll back
    assert registry.active("m").version == "v1"
    assert registry.deploy(model_dir, "m", version="v3", activate=True).active
    assert [(r.name, r.version) for r in registry.active_models()] == [("m", "v3"), ("other", "v1")]
    assert [(r.version, r.active) for r in registry.list() if r.name == "m"] == [("v3", True), ("v2", False), ("v1", False)]
    with pytest.raises(NotFound):
        registry.activate("m", "v9")
    assert registry.active("m").version == "v3"  # the failed activation changed nothing


def test_concurrent_activations_leave_one_active(registry, db, settings, model_dir) -> None:  # type: ignore[no-untyped-def]
    for version in ("v1", "v2", "v3", "v4"):
        registry.deploy(model_dir, "m", version=version)
    errors: list[BaseException] = []

    def flip(version: str) -> None:
        try:
            for _ in range(5):
                Registry(db, settings).activate("m", version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=flip, args=(v,)) for v in ("v1", "v2", "v3", "v4")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.active for r in registry.list()) == 1


def test_the_default_model_is_registered_from_model_path_on_first_use(registry, settings, model_dir) -> None:  # type: ignore[no-untyped-def]
    assert settings.default_model == "breast-cancer"
    record = registry.default()
    assert record.name == "breast-cancer" and record.active and record.sha256 == artifact_sha256(model_dir)
    assert registry.default() == record and len(registry.list()) == 1  # once
    assert registry.resolve(None) == record and registry.resolve("") == record


def test_no_default_model_is_a_model_error(db, make_settings, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(engine, MODEL_PATH=str(tmp_path / "nothing"))
    with pytest.raises(ModelError, match="nothing"):
        Registry(db, settings).default()


def test_resolve_names_the_active_models(registry, model_dir) -> None:  # type: ignore[no-untyped-def]
    registry.deploy(model_dir, "churn", version="v1", activate=True)
    registry.deploy(model_dir, "idle", version="v1")  # never activated
    assert registry.resolve("churn").version == "v1"
    with pytest.raises(UnknownModel) as caught:
        registry.resolve("idle")
    assert caught.value.extra["models"] == ["breast-cancer", "churn"]


def test_load_checks_the_files(registry, settings, model_dir) -> None:  # type: ignore[no-untyped-def]
    record = registry.deploy(model_dir, "m", version="v1")
    assert registry.load(record).version == record.schema["version"]
    schema = record.directory(settings.models_dir) / SCHEMA_FILE
    schema.chmod(0o644)
    schema.write_text(schema.read_text() + "\n")
    with pytest.raises(ModelError, match="m version v1 changed"):
        registry.load(record)
    shutil.rmtree(record.directory(settings.models_dir))
    with pytest.raises(ModelError, match="m version v1 are missing"):
        registry.load(record)


def test_old_jobs_keep_null_model_columns(db, jobs, alice) -> None:  # type: ignore[no-untyped-def]
    job = jobs.create(alice.id, "a.csv", "upload-a.csv", 1, 1)
    assert job.model_name is None and job.model_sha256 is None and job.model_version is None
    recorded = jobs.create(alice.id, "b.csv", "upload-b.csv", 1, 1, "m", "v1", "a" * 64)
    assert (recorded.model_name, recorded.model_version, recorded.model_sha256) == ("m", "v1", "a" * 64)


@pytest.mark.mysql
def test_migration_005_can_be_re_run_on_mysql(make_settings) -> None:  # type: ignore[no-untyped-def]
    from app.core.db import SQL_DIR, MySQLDatabase, split_statements
    from tests.conftest import require_mysql

    require_mysql()
    settings = make_settings("mysql")
    database = MySQLDatabase(settings.host, settings.port, settings.user, settings.password, settings.dbname)
    try:
        database.init_schema()
        conn = database._conn()
        for stmt in split_statements((SQL_DIR / "mysql" / "005_model_registry.sql").read_text()):
            database._apply(conn, "005_model_registry.sql", stmt)
        conn.commit()
    finally:
        database.drop_database()
