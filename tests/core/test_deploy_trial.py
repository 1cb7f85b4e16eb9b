"""Every deploy tries the model first (issue 23, item 5): a child process loads it and predicts
a few rows as a worker would (app/core/registry/trial.py, model/trial.py); a model that
cannot predict them, answers the wrong shape or labels that are not its classes, whose
schema.json does not fit it, or that crashes the interpreter is refused with its own message
and nothing is registered; the deploy answer (CLI, API, Models page) says what runs it."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from pathlib import Path

import httpx2 as httpx
import pytest

from app.core.errors import InvalidRequest
from app.core.registry.models import Registry
from model.schema import SCHEMA_FILE
from tests.conftest import run_cli
from tests.panel_helpers import flashes_of, login
from tests.support.models import (
    AbortingModel,
    FailingModel,
    StrangeLabelsModel,
    WrongShapeModel,
    wrapped_model_dir,
)

SKLEARN = importlib.metadata.version("scikit-learn")
RUNS_WITH = f"scikit-learn {SKLEARN} (LogisticRegression, model.joblib)"


def refused(settings, db, directory: Path) -> str:  # type: ignore[no-untyped-def]
    registry = Registry(db, settings)
    with pytest.raises(InvalidRequest) as caught:
        registry.deploy(directory, "trial", version="v1", activate=True, label="“bad.zip”")
    assert registry.list() == [] and not list(settings.models_dir.glob("trial/*"))  # nothing registered
    message = caught.value.message
    assert message.startswith("“bad.zip” was refused: ")
    assert str(directory.parent) not in message and "Traceback" not in message  # no server paths
    return message


@pytest.mark.parametrize(("wrapper", "words"), [
    (FailingModel, "was refused: it cannot predict 2 example rows: ValueError: could not convert string to "
                   "float: 'Adelie'"),
    (WrongShapeModel, "was refused: it cannot predict 2 example rows: ValueError: The model's predict_proba "
                      "returned an array of shape (1, 2) for 2 rows"),
    (StrangeLabelsModel, "was refused: it cannot predict 2 example rows: ValueError: The model predicted "
                         "'class-benign', which is not among its classes (benign, malignant)"),
])
def test_a_model_that_cannot_score_is_refused_with_its_own_message(  # type: ignore[no-untyped-def]
        make_settings, db, model_dir, tmp_path, wrapper, words) -> None:
    directory = wrapped_model_dir(model_dir, tmp_path / "bad", wrapper, "bad-1")
    assert words in refused(make_settings(), db, directory)


def test_a_schema_that_does_not_fit_the_model_is_refused_naming_the_columns(  # type: ignore[no-untyped-def]
        make_settings, db, model_dir, tmp_path) -> None:
    directory = tmp_path / "misfit"
    shutil.copytree(model_dir, directory)
    schema = json.loads((directory / SCHEMA_FILE).read_text(encoding="utf-8"))
    schema["features"][0]["name"] = "radius"  # the model was fitted on "mean radius"
    (directory / SCHEMA_FILE).write_text(json.dumps(schema), encoding="utf-8")
    message = refused(make_settings(), db, directory)
    assert ("schema.json does not fit the model: the model needs 'mean radius', which the schema lacks; "
            "the schema names 'radius', which the model does not take") in message


def test_a_sample_that_the_model_fails_on_is_refused(make_settings, db, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The rows tried are the deploy's sample when it has one (a real Pipeline whose
    transformer raises on large tumours passes the template rows, not these)."""
    import joblib

    from tests.conftest import breast_cancer_frame
    from tests.support.models import partly_failing_pipeline

    directory = tmp_path / "pipeline"
    shutil.copytree(model_dir, directory)
    joblib.dump(partly_failing_pipeline(model_dir), directory / "model.joblib")
    sample = tmp_path / "sample.csv"
    frame = breast_cancer_frame(40)
    frame[frame["mean radius"] > 20].to_csv(sample, index=False)
    registry = Registry(db, make_settings())
    with pytest.raises(InvalidRequest, match=r"it cannot predict \d example rows: ValueError: this transformer cannot "
                                             "take a first feature over 20"):
        registry.deploy(directory, "trial", version="v1", sample=sample)
    record = registry.deploy(directory, "trial", version="v2")  # the template rows it takes
    assert record.runtime is not None and record.runtime["rows_from"] == "template"


def test_the_deploy_answer_says_what_runs_the_model(  # type: ignore[no-untyped-def]
        settings, db, admin, bearer, api_client, app, model_dir, tmp_path) -> None:
    archive = shutil.make_archive(str(tmp_path / "good"), "zip", root_dir=model_dir.parent, base_dir=model_dir.name)
    data = Path(archive).read_bytes()
    response = api_client.post("/api/models", headers=bearer(admin), data={"name": "good", "version": "v1"},
                               files={"archive": ("good.zip", data, "application/zip")})
    assert response.status_code == 201, response.text
    runtime = response.json()["runtime"]
    assert (runtime["library"], runtime["library_version"], runtime["estimator"], runtime["format"]) == (
        "scikit-learn", SKLEARN, "LogisticRegression", "model.joblib")
    assert runtime["rows_from"] == "template" and runtime["seconds"] >= 0
    assert Registry(db, settings).get("good", "v1").runtime_text == RUNS_WITH  # kept with the version

    from starlette.testclient import TestClient

    with TestClient(app) as boss:
        csrf = login(boss, "admin", "admin-password-1")
        done = boss.post("/models/deploy", data={"csrf_token": csrf, "name": "good", "version": "v2"},
                         files={"archive": ("good.zip", data, "application/zip")}, follow_redirects=False)
        assert done.status_code == 303
        page = boss.get("/models").text
        [flash] = flashes_of(page)
        assert flash.endswith(f"It runs with {RUNS_WITH}.")
        # Each version in the list says what runs it.
        assert page.count(f'<span class="muted small" data-field="runtime">runs with {RUNS_WITH}</span>') == 2


@pytest.mark.slow
def test_a_model_that_crashes_the_interpreter_is_refused_and_the_server_keeps_serving(  # type: ignore[no-untyped-def]
        live_server, engine, model_dir, tmp_path) -> None:
    base, config, settings = live_server(engine)
    done = run_cli(config, "-m", "app", "create-user", "boss", "--admin", "--password-stdin", stdin="boss-password-1\n")
    assert done.returncode == 0, done.stderr
    token = run_cli(config, "-m", "app", "create-token", "t", "--user", "boss").stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    crashing = wrapped_model_dir(model_dir, tmp_path / "crash" / "m", AbortingModel, "crash-1")
    archive = shutil.make_archive(str(tmp_path / "crash"), "zip", root_dir=crashing.parent, base_dir="m")
    with open(archive, "rb") as fh:
        response = httpx.post(f"{base}/api/models", headers=headers, data={"name": "crash"},
                              files={"archive": ("crash.zip", fh, "application/zip")}, timeout=120)
    assert response.status_code == 422, response.text
    message = response.json()["error"]
    assert "was refused: trying the model stopped the process that loaded it (signal 6" in message
    assert str(tmp_path) not in message
    # The server is still there, and nothing was registered.
    assert httpx.get(f"{base}/", timeout=10).status_code == 200
    listed = httpx.get(f"{base}/api/models", headers=headers, timeout=10).json()["models"]
    assert "crash" not in [m["name"] for m in listed] and not list(settings.models_dir.glob("crash/*"))

    # The CLI refuses it the same way, and says what runs a good one.
    cli = run_cli(config, "-m", "app", "deploy-model", str(crashing), "--name", "crash")
    assert cli.returncode == 2 and "signal 6" in cli.stderr and "Traceback" not in cli.stderr
    good = run_cli(config, "-m", "app", "deploy-model", str(model_dir), "--name", "good", "--activate")
    assert good.returncode == 0, good.stderr
    assert f"runs with {RUNS_WITH}" in good.stdout


@pytest.mark.slow
def test_a_model_that_hangs_is_stopped_and_refused(make_settings, db, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.models import make_model_dir

    hanging = make_model_dir(model_dir, tmp_path / "hangs", seconds_per_row=600)  # 2 rows: 20 minutes
    settings = make_settings(MODEL_TRIAL_SECONDS="8")
    registry = Registry(db, settings)
    with pytest.raises(InvalidRequest, match="took more than 8 seconds \\(MODEL_TRIAL_SECONDS\\)"):
        registry.deploy(hanging, "hangs", version="v1")
    assert registry.list() == []
