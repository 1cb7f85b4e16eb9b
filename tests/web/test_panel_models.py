"""The panel's Models page (active models, columns, template CSVs; administrators: every
version and activation) and the upload form's model selector, on SQLite and MariaDB."""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from app.core.jobs.listing import JobFilter, JobList
from app.core.registry.models import ModelRecord, Registry
from app.core.registry.template import template_csv, template_rows
from model.artifact import build_schema, save_model
from model.inputs.scan import inspect_csv
from tests.model.test_typed_inputs import FEATURES, churn_frame, churn_pipeline
from tests.panel_helpers import flashes_of, job_rows, login

DEFAULT = "breast-cancer"


@pytest.fixture(scope="module")
def churn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A typed model (category, integer, number, boolean, datetime, text; discount optional)."""
    train = churn_frame(300, seed=1)
    X = train[FEATURES]
    y = np.where(X["plan"].eq("gold"), "stays", "churns")
    pipeline = churn_pipeline().fit(X, y)
    directory = tmp_path_factory.mktemp("churn") / "model"
    save_model(pipeline, build_schema(pipeline, X, "churn-typed-1", optional=["discount"]), directory)
    return directory


@pytest.fixture
def registry(settings, db) -> Registry:  # type: ignore[no-untyped-def]
    registry = Registry(db, settings)
    registry.default()  # the default model, registered as on first use
    return registry


@pytest.fixture
def as_alice(client, alice):  # type: ignore[no-untyped-def]
    return client, login(client, "alice", "alice-password-1")


@pytest.fixture
def as_admin(app, admin):  # type: ignore[no-untyped-def]
    with TestClient(app) as boss:
        yield boss, login(boss, "admin", "admin-password-1")


def panel_upload(client: TestClient, csrf: str, content: bytes, name: str = "p.csv", **fields: str):  # type: ignore[no-untyped-def]
    return client.post("/jobs/upload", data={"csrf_token": csrf, **fields},
                       files={"file": (name, content, "text/csv")}, follow_redirects=False)


def template_of(client: TestClient, name: str) -> bytes:
    response = client.get(f"/models/{name}/template.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="{name}-template.csv"' in response.headers["content-disposition"]
    return response.content


def parsed(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


# -- the page ------------------------------------------------------------------------------------
def test_every_user_sees_the_active_models_with_their_columns(as_alice, registry, churn_dir) -> None:  # type: ignore[no-untyped-def]
    registry.deploy(churn_dir, "churn", version="v1", activate=True, deployed_by="admin")
    registry.deploy(churn_dir, "churn", version="v2")  # not active: not shown to users
    registry.deploy(churn_dir, "idle", version="v1")  # no active version at all
    client, _ = as_alice
    page = client.get("/models")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert '<a href="/models" aria-current="page">Models</a>' in page.text  # the nav link
    churn, default = registry.active("churn"), registry.active(DEFAULT)
    assert churn is not None and default is not None
    for record in (churn, default):
        assert f'id="model-{record.name}"' in page.text and f"<code>{record.version}</code>" in text
        assert record.sha256[:12] in text and f'href="/models/{record.name}/template.csv"' in page.text
    assert "by admin" in text and "by the command line" in text
    rows = re.findall(r"<tr><td class=\"num\">\d+</td><td><code>(.*?)</code></td>\s*<td>(\w+).*?</td>\s*<td>(\w+)</td></tr>",
                      page.text, re.S)
    churn_rows = [r for r in rows if r[0] in FEATURES]
    assert churn_rows == [("plan", "category", "required"), ("seats", "integer", "required"),
                          ("charges", "number", "required"), ("autopay", "boolean", "required"),
                          ("signup", "datetime", "required"), ("note", "text", "required"),
                          ("discount", "number", "optional")]
    assert len(rows) == len(FEATURES) + len(default.features)
    # Users see neither the other versions nor anything to activate.
    assert "v2" not in text and "idle" not in text and "/activate" not in page.text and "All versions" not in text


def test_administrators_see_every_version_and_activate_with_a_confirmation(as_admin, registry, churn_dir) -> None:  # type: ignore[no-untyped-def]
    registry.deploy(churn_dir, "churn", version="v1", activate=True)
    registry.deploy(churn_dir, "churn", version="v2")
    registry.deploy(churn_dir, "idle", version="v1")
    boss, csrf = as_admin
    page = boss.get("/models").text
    assert 'id="version-churn-v1"' in page and 'id="version-churn-v2"' in page and 'id="version-idle-v1"' in page
    forms = re.findall(r'<form method="post" action="(/models/[^"]+/activate)"\s+data-confirm="([^"]+)">', page)
    # Inactive versions only, each asking before it acts (app.js handles data-confirm).
    assert sorted(a for a, _ in forms) == ["/models/churn/v2/activate", "/models/idle/v1/activate"]
    assert all("New uploads" in html.unescape(q) for _, q in forms)
    done = boss.post("/models/churn/v2/activate", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/models#model-churn"
    assert registry.active("churn").version == "v2"  # type: ignore[union-attr]
    after = boss.get("/models").text
    assert any("churn version v2 is now active (was v1)" in f for f in flashes_of(after))
    assert "/models/churn/v1/activate" in after and "/models/churn/v2/activate" not in after  # a roll back is offered
    back = boss.post("/models/churn/v1/activate", data={"csrf_token": csrf}, follow_redirects=True)
    assert any("churn version v1 is now active (was v2)" in f for f in flashes_of(back.text))
    assert registry.active("churn").version == "v1"  # type: ignore[union-attr]


def test_activation_refused_to_users_unknown_is_404_csrf_checked(as_alice, as_admin, registry, churn_dir) -> None:  # type: ignore[no-untyped-def]
    registry.deploy(churn_dir, "churn", version="v1", activate=True)
    registry.deploy(churn_dir, "churn", version="v2")
    client, csrf = as_alice
    refused = client.post("/models/churn/v2/activate", data={"csrf_token": csrf}, follow_redirects=False)
    assert refused.status_code == 403 and "administrator" in refused.text
    boss, boss_csrf = as_admin
    for path in ("/models/churn/v9/activate", "/models/nope/v1/activate", "/models/churn/..%2F..%2Fx/activate",
                 "/models/%20/v1/activate", "/models/churn/%F0%9F%98%80/activate"):
        assert boss.post(path, data={"csrf_token": boss_csrf}, follow_redirects=False).status_code == 404, path
    assert boss.post("/models/churn/v2/activate", data={}, follow_redirects=False).status_code == 403
    assert registry.active("churn").version == "v1"  # type: ignore[union-attr]
    assert client.get("/models/nope/template.csv").status_code == 404
    assert client.get("/models/%F0%9F%98%80/template.csv").status_code == 404


def test_the_models_page_needs_a_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/models", f"/models/{DEFAULT}/template.csv"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")


# -- template CSVs ---------------------------------------------------------------------------------
def test_the_template_has_the_header_and_two_typed_example_rows(as_alice, registry, churn_dir) -> None:  # type: ignore[no-untyped-def]
    registry.deploy(churn_dir, "churn", version="v1", activate=True)
    client, _ = as_alice
    header, first, second = parsed(template_of(client, "churn"))
    assert header == FEATURES
    row = dict(zip(header, first, strict=True))
    record = registry.active("churn")
    assert record is not None
    schema = {f["name"]: f for f in record.schema["features"]}
    assert row["plan"] == schema["plan"]["categories"][0] and dict(zip(header, second))["plan"] == schema["plan"]["categories"][1]
    assert re.fullmatch(r"-?\d+", row["seats"]) and schema["seats"]["min"] <= int(row["seats"]) <= schema["seats"]["max"]
    assert schema["charges"]["min"] <= float(row["charges"]) <= schema["charges"]["max"]
    assert (row["autopay"], dict(zip(header, second))["autopay"]) == ("true", "false")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["signup"])  # the schema's format: dates only
    assert row["note"]
    default = parsed(template_of(client, DEFAULT))
    assert default[0] == registry.active(DEFAULT).features and len(default) == 3  # type: ignore[union-attr]


def test_the_template_uploads_through_the_panel_and_the_api(as_alice, registry, churn_dir, jobs, alice, bearer) -> None:  # type: ignore[no-untyped-def]
    registry.deploy(churn_dir, "churn", version="v1", activate=True)
    client, csrf = as_alice
    for name in ("churn", DEFAULT):
        content = template_of(client, name)
        response = panel_upload(client, csrf, content, name=f"{name}.csv", model=name)
        assert response.status_code == 303, html.unescape(response.text)[-2000:]
        api = client.post("/api/jobs", headers=bearer(alice), data={"model": name},
                          files={"file": (f"{name}.csv", content, "text/csv")})
        assert api.status_code == 201, api.text
        assert api.json()["model"] == name and api.json()["rows_total"] == 2
    assert sorted((j.model_name, j.rows_total) for j in JobList(jobs.db).page(JobFilter(owner_id=alice.id))) == [
        ("breast-cancer", 2), ("breast-cancer", 2), ("churn", 2), ("churn", 2)]


@pytest.mark.parametrize("entries", [
    [{"name": "x", "dtype": "float64"}],  # format 1 without statistics
    [{"name": "x", "type": "number", "min": 0.5, "max": 0.5, "mean": 0.5}],
    [{"name": "big", "type": "number", "min": -1e12, "max": 3e15, "mean": 1.23456789e9},
     {"name": "tiny", "type": "number", "min": 1e-9, "max": 2e-9, "mean": 1.5e-9}],
    [{"name": "n", "type": "integer", "min": -3, "max": 3, "mean": 0.4}, {"name": "b", "type": "boolean"}],
    [{"name": "c", "type": "category", "categories": ["=HYPERLINK()", "NA", "a, \"quoted\"", "b"]},
     {"name": "e", "type": "category", "categories": []}, {"name": "one", "type": "category", "categories": ["only"]}],
    [{"name": "t", "type": "datetime", "format": "%Y-%m-%d %H:%M:%S.%f"},
     {"name": "d", "type": "datetime", "format": "%d/%m/%Y"}, {"name": "note", "type": "text"}],
    [{"name": "ñandú déjà", "type": "text", "required": False}, {"name": "1 2", "type": "number"}],
])
def test_every_kind_of_schema_makes_a_template_its_check_accepts(tmp_path: Path, entries: list[dict]) -> None:
    record = ModelRecord(1, "m", "v1", "0" * 64, {"features": entries}, None, None, True)
    rows = template_rows(record)
    assert rows[0] == [e["name"] for e in entries] and len(rows) == 3
    path = tmp_path / "t.csv"
    path.write_bytes(template_csv(record))
    report = inspect_csv(path, record.feature_specs)
    assert report.ok and report.rows == 2 and report.total_problems == 0, [p.message for p in report.problems]
    cells = dict(zip(rows[0], rows[1], strict=True))
    if "c" in cells:  # formula-looking and missing-word categories are skipped
        assert (cells["c"], rows[2][0]) == ('a, "quoted"', "b")
    if "big" in cells:
        assert "e" not in cells["big"].lower() and "e" not in rows[2][0].lower()
    if "n" in cells:
        assert (cells["n"], rows[2][0]) == ("0", "-3")


# -- the upload form -------------------------------------------------------------------------------
def test_one_active_model_means_no_selector(as_alice, registry) -> None:  # type: ignore[no-untyped-def]
    client, _ = as_alice
    page = client.get("/jobs").text
    # the upload form (the job list's filters have a model select of their own)
    found = re.search(r'<form method="post" action="/jobs/upload".*?</form>', page, re.S)
    assert found
    form = found.group(0)
    assert 'name="model"' not in form and "<select" not in form
    assert '<a href="/models">' in form


def test_the_selector_lists_the_active_models_default_first_chosen_before_the_file(as_alice, registry, churn_dir) -> None:  # type: ignore[no-untyped-def]
    registry.deploy(churn_dir, "churn", version="v1", activate=True)
    registry.deploy(churn_dir, "alpha", version="a1", activate=True)  # before the default, by name
    registry.deploy(churn_dir, "idle", version="v1")
    client, csrf = as_alice

    def upload_form(page: str) -> str:
        form = re.search(r'<form method="post" action="/jobs/upload".*?</form>', page, re.S)
        assert form
        return form.group(0)

    body = upload_form(client.get("/jobs").text)
    options = re.findall(r'<option value="([^"]+)"( selected)? data-columns=', body)
    assert options == [("alpha", ""), (DEFAULT, " selected"), ("churn", "")]
    assert "breast-cancer · breast-cancer-logreg-1 (default)" in html.unescape(body)
    # The CSRF token and the model come before the file: the server reads them as the file begins.
    assert body.index('name="csrf_token"') < body.index('name="model"') < body.index('name="file"')
    # A rejected upload re-renders the form with the model that was chosen.
    rejected = panel_upload(client, csrf, b"a,b\n1,2\n", model="churn")
    assert rejected.status_code == 422
    assert re.findall(r'<option value="([^"]+)" selected data-columns=', upload_form(rejected.text)) == ["churn"]


def test_the_panel_uploads_for_the_chosen_model_and_shows_it_in_the_list(as_alice, registry, churn_dir, jobs, alice) -> None:  # type: ignore[no-untyped-def]
    registry.deploy(churn_dir, "churn", version="v1", activate=True)
    client, csrf = as_alice
    content = template_of(client, "churn")
    # The default model's check refuses the churn columns; churn's accepts them.
    refused = panel_upload(client, csrf, content)
    assert refused.status_code == 422
    accepted = panel_upload(client, csrf, content, name="churn.csv", model="churn")
    assert accepted.status_code == 303
    [job] = JobList(jobs.db).page(JobFilter(owner_id=alice.id))
    assert (job.model_name, job.model_version) == ("churn", "v1")
    page = client.get("/jobs").text
    assert job_rows(page) == [job.id]
    assert "model churn · v1" in html.unescape(page)
    assert any("accepted (2 rows) for model churn version v1" in f for f in flashes_of(page))
    updates = client.get("/jobs/updates").json()
    assert "model churn · v1" in html.unescape(updates["jobs"][0]["row_html"])


def test_an_unknown_model_rerenders_the_panel_with_422_and_stores_nothing(  # type: ignore[no-untyped-def]
        as_alice, registry, churn_dir, settings, jobs, alice) -> None:
    registry.deploy(churn_dir, "churn", version="v1", activate=True)
    registry.deploy(churn_dir, "idle", version="v1")
    client, csrf = as_alice
    content = template_of(client, "churn")
    for name in ("nope", "idle"):
        response = panel_upload(client, csrf, content, name="x.csv", model=name)
        assert response.status_code == 422
        text = html.unescape(response.text)
        assert f"There is no active model named '{name}'. Active models: breast-cancer, churn." in text
        assert 'id="upload-form"' in response.text  # the panel, with its form, not an error page
    assert JobList(jobs.db).page(JobFilter(owner_id=alice.id)) == [] and list(settings.input_dir.iterdir()) == []


def test_an_activation_changes_the_next_upload_not_an_accepted_job(as_alice, as_admin, registry, churn_dir, jobs, alice) -> None:  # type: ignore[no-untyped-def]
    v1 = registry.deploy(churn_dir, "churn", version="v1", activate=True)
    registry.deploy(churn_dir, "churn", version="v2")
    client, csrf = as_alice
    content = template_of(client, "churn")
    assert panel_upload(client, csrf, content, name="before.csv", model="churn").status_code == 303
    boss, boss_csrf = as_admin
    assert boss.post("/models/churn/v2/activate", data={"csrf_token": boss_csrf},
                     follow_redirects=False).status_code == 303
    assert panel_upload(client, csrf, content, name="after.csv", model="churn").status_code == 303
    by_name = {j.file_name: j for j in JobList(jobs.db).page(JobFilter(owner_id=alice.id))}
    assert (by_name["before.csv"].model_version, by_name["before.csv"].model_sha256) == ("v1", v1.sha256)
    assert by_name["after.csv"].model_version == "v2"
    page = html.unescape(client.get("/jobs").text)
    assert "model churn · v1" in page and "model churn · v2" in page
    assert "<code>v2</code>" in html.unescape(client.get("/models").text)


def test_an_mlflow_models_requirement_of_another_major_version_is_a_warning_on_the_page(
        as_admin, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 23: MLflow's requirements.txt is read at deploy; a major version that differs from
    the service's is shown beside the version (it still deploys)."""
    from sklearn.linear_model import LogisticRegression

    from tests.model.test_conformance import cancer, mlflow_save

    X, y = cancer()
    directory = mlflow_save("sklearn", LogisticRegression(max_iter=500).fit(X, y), tmp_path / "mlflow", X)
    (directory / "requirements.txt").write_text("scikit-learn==0.24.2\n")
    registry.deploy(directory, "old-sklearn", version="v1", activate=True)
    boss, _ = as_admin
    page = html.unescape(boss.get("/models").text)
    assert "requirement-warning" in page
    assert "scikit-learn 0.24.2 trained the model; this service has scikit-learn " in page
