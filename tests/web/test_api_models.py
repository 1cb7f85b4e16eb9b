"""Jobs record the model at upload (app/core/jobs/submissions.py), POST /api/jobs's `model` field
and GET /api/models. Both engines."""

from __future__ import annotations

import json
import shutil

from app.core.registry.models import Registry
from model.schema import SCHEMA_FILE
from tests.conftest import assert_json_error as assert_error


def upload(client, headers, content: bytes, **fields: str):  # type: ignore[no-untyped-def]
    return client.post("/api/jobs", headers=headers, files={"file": ("p.csv", content, "text/csv")}, data=fields)


def narrow_model(model_dir, target, keep: int = 3):  # type: ignore[no-untyped-def]
    """The default model's files with a schema that requires only the first `keep` columns
    (enough to tell the schemas apart in validation)."""
    shutil.copytree(model_dir, target)
    schema = json.loads((target / SCHEMA_FILE).read_text())
    for feature in schema["features"][keep:]:
        feature["required"] = False
    (target / SCHEMA_FILE).write_text(json.dumps(schema))
    return target


def test_a_job_records_the_version_active_at_upload(api_client, settings, db, alice, bearer, make_csv,
                                                    model_dir, tmp_path):  # type: ignore[no-untyped-def]
    registry = Registry(db, settings)
    registry.deploy(model_dir, "churn", version="v1", activate=True)
    headers = bearer(alice)
    first = upload(api_client, headers, make_csv(3).read_bytes(), model="churn")
    assert first.status_code == 201, first.text
    v1 = registry.get("churn", "v1")
    assert (first.json()["model"], first.json()["model_version"], first.json()["model_sha256"]) == ("churn", "v1", v1.sha256)

    registry.deploy(narrow_model(model_dir, tmp_path / "narrow"), "churn", version="v2", activate=True)
    second = upload(api_client, headers, make_csv(3).read_bytes(), model="churn").json()
    assert second["model_version"] == "v2" and second["model_sha256"] != v1.sha256
    again = api_client.get(f"/api/jobs/{first.json()['id']}", headers=headers).json()
    assert again["model_version"] == "v1" and again["model_sha256"] == v1.sha256  # unchanged by the activation


def test_no_model_field_is_the_default_model(api_client, alice, bearer, make_csv):  # type: ignore[no-untyped-def]
    body = upload(api_client, bearer(alice), make_csv(3).read_bytes()).json()
    assert body["model"] == "breast-cancer" and body["model_version"] == "breast-cancer-logreg-1"
    assert len(body["model_sha256"]) == 64
    assert upload(api_client, bearer(alice), make_csv(3).read_bytes(), model="").json()["model"] == "breast-cancer"


def test_an_unknown_model_is_422_listing_the_active_ones(api_client, settings, db, alice, bearer, make_csv,
                                                         model_dir):  # type: ignore[no-untyped-def]
    Registry(db, settings).deploy(model_dir, "churn", version="v1", activate=True)
    Registry(db, settings).deploy(model_dir, "idle", version="v1")
    body = assert_error(upload(api_client, bearer(alice), make_csv(3).read_bytes(), model="nope"), 422, "nope")
    assert body["models"] == ["breast-cancer", "churn"]
    assert_error(upload(api_client, bearer(alice), make_csv(3).read_bytes(), model="idle"), 422, "churn")
    assert [p.name for p in settings.input_dir.iterdir()] == []  # nothing stored


def test_the_upload_is_checked_against_the_named_model(api_client, settings, db, alice, bearer, model_dir,
                                                       tmp_path):  # type: ignore[no-untyped-def]
    from tests.conftest import breast_cancer_frame

    Registry(db, settings).deploy(narrow_model(model_dir, tmp_path / "narrow"), "narrow", version="v1", activate=True)
    few = breast_cancer_frame(3).iloc[:, :4].to_csv(index=False).encode()  # patient_id + 3 columns
    assert upload(api_client, bearer(alice), few, model="narrow").status_code == 201
    assert_error(upload(api_client, bearer(alice), few), 422)  # the default model needs all 30


def test_get_models_lists_the_active_versions(api_client, settings, db, alice, bearer, model_dir):  # type: ignore[no-untyped-def]
    Registry(db, settings).deploy(model_dir, "churn", version="v1")
    assert_error(api_client.get("/api/models"), 401)
    body = api_client.get("/api/models", headers=bearer(alice)).json()
    assert body["default"] == "breast-cancer"
    [model] = body["models"]  # churn has no active version; the default is registered on first use
    assert model["name"] == "breast-cancer" and model["version"] == "breast-cancer-logreg-1"
    assert len(model["sha256"]) == 64 and model["classes"] == ["benign", "malignant"]
    assert model["features"][0] == {"name": "mean radius", "type": "number", "required": True}
    assert len(model["features"]) == 30
