"""The panel's data-quality views: the badge on each job row (status, reason on hover), the
job's report page with an SVG chart per column, the model's page over time.  Both engines."""

from __future__ import annotations

import html
import re

import numpy as np

from app.core.jobs.submissions import submit_path
from model.loading import load_model
from scheduler.worker import Worker
from tests.conftest import breast_cancer_frame
from tests.panel_helpers import login


def run_job(settings, db, jobs, user, path, **kwargs):  # type: ignore[no-untyped-def]
    job = submit_path(settings, jobs, user.id, path, **kwargs)
    worker = Worker(settings, db)
    return worker.run_claim(worker.claim(job.id))


def test_badge_report_page_and_model_page(client, settings, db, jobs, alice, users, tmp_path, model_dir):  # type: ignore[no-untyped-def]
    features = load_model(model_dir).features
    clean = breast_cancer_frame(300, seed=1)
    clean_path = tmp_path / "clean.csv"
    clean.to_csv(clean_path, index=False)
    shifted = breast_cancer_frame(800, seed=2)
    shifted["mean area"] *= 1.8
    shifted.loc[0, features] = np.nan
    shifted_path = tmp_path / "shifted.csv"
    shifted.to_csv(shifted_path, index=False)
    first = run_job(settings, db, jobs, alice, clean_path)
    second = run_job(settings, db, jobs, alice, shifted_path)
    assert first.status.value == second.status.value == "PROCESS OK"

    login(client, "alice", "alice-password-1")
    page = client.get("/jobs").text
    badge = re.search(rf'<tr id="job-{second.id}".*?<a class="badge quality-badge quality-(\w+)"[^>]*'
                      rf'href="/jobs/{second.id}/quality"\s+title="([^"]*)"', page, re.S)
    assert badge, "no quality badge on the shifted job's row"
    assert badge.group(1) == "alert" and "mean area: PSI" in html.unescape(badge.group(2))
    assert "1 of 800 rows not scored" in html.unescape(badge.group(2))

    report = client.get(f"/jobs/{second.id}/quality")
    assert report.status_code == 200
    body = report.text
    assert 'data-feature="mean area" data-status="alert"' in body
    assert 'data-feature="mean radius" data-status="ok"' in body
    assert body.count('<svg class="chart"') == len(features) + 1  # one per column, one for the predictions
    assert "<script" not in body.split("<main", 1)[-1].split("</main>", 1)[0]  # drawn server-side
    assert "cdn" not in body.lower()

    model_page = client.get(f"/models/{settings.default_model}/quality")
    assert model_page.status_code == 200
    assert f'href="/jobs/{first.id}/quality"' in model_page.text and f'href="/jobs/{second.id}/quality"' in model_page.text
    assert model_page.text.count('data-feature="') == len(features)
    assert client.get("/models/no-such-model/quality").status_code == 404

    # another user sees neither the report nor the job on the model's page
    users.create("bob", "bob-password-1")
    client.post("/logout", data={"csrf_token": login(client, "alice", "alice-password-1")})
    login(client, "bob", "bob-password-1")
    assert client.get(f"/jobs/{second.id}/quality").status_code == 404
    assert f"/jobs/{second.id}/quality" not in client.get(f"/models/{settings.default_model}/quality").text


def test_an_optional_column_left_out_shows_not_sent(client, settings, db, jobs, alice, tmp_path):  # type: ignore[no-untyped-def]
    """The report page's Missing cell of an optional column the file does not have says "not
    sent", not 100%; the column is ok and the job's badge too."""
    from app.core.registry.models import Registry
    from model.artifact import build_schema, save_model
    from tests.model.test_typed_inputs import FEATURES, churn_frame, churn_pipeline

    train = churn_frame(300, seed=1)
    X = train[FEATURES]
    pipeline = churn_pipeline().fit(X, np.where(X["plan"].eq("gold"), "stays", "churns"))
    directory = save_model(pipeline, build_schema(pipeline, X, "churn-1", optional=["discount"]), tmp_path / "m")
    Registry(db, settings).deploy(directory, "churn", activate=True)
    source = tmp_path / "customers.csv"
    train.drop(columns=["discount"]).to_csv(source, index=False)
    job = run_job(settings, db, jobs, alice, source, model="churn")
    assert job.status.value == "PROCESS OK"

    login(client, "alice", "alice-password-1")
    body = client.get(f"/jobs/{job.id}/quality").text
    row = re.search(r'<tr id="feature-\d+" data-feature="discount" data-status="ok">(.*?)</tr>', body, re.S)
    assert row, "no ok row for the discount column"
    assert "not sent (an optional column the file does not have)" in row.group(1)
    assert '<td class="num">not sent</td>' in row.group(1) and "100.0%" not in row.group(1)
    assert 'data-field="quality-status">ok<' in body
