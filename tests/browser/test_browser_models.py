"""The Models page and the upload form's model hint in real headless Chromium, against a real
`python -m app serve`: an administrator deploys a model from a .zip with the page's form, then
a user picks a file whose header fits only that model and the form says so and selects it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from model.artifact import build_schema, save_model
from tests.browser import test_browser as harness
from tests.browser.test_browser import new_page, shoot, sign_in
from tests.model.test_typed_inputs import FEATURES, churn_frame, churn_pipeline

pytestmark = pytest.mark.browser
browser, server = harness.browser, harness.server  # the Chromium and live-server fixtures


def churn_zip(tmp_path: Path) -> Path:
    train = churn_frame(200, seed=1)
    X = train[FEATURES]
    pipeline = churn_pipeline().fit(X, np.where(X["plan"].eq("gold"), "stays", "churns"))
    directory = tmp_path / "churn-model"
    save_model(pipeline, build_schema(pipeline, X, "churn-typed-1", optional=["discount"]), directory)
    archive = tmp_path / "churn-model.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(directory.iterdir()):
            bundle.write(path, f"churn-model/{path.name}")
    archive.write_bytes(buffer.getvalue())
    return archive


@pytest.mark.parametrize("engine", ["sqlite", "mysql"])
def test_deploy_a_zip_then_the_upload_form_picks_the_model_the_file_fits(  # type: ignore[no-untyped-def]
        browser, server, engine, tmp_path: Path) -> None:
    base, settings = server(engine)
    archive = churn_zip(tmp_path)
    context, page = new_page(browser, base, width=1366, height=768)
    try:
        sign_in(page, base, "admin", "admin-password-1")
        page.goto(base + "/models")
        page.get_by_text("Deploy a model version from a .zip").click()
        page.get_by_label("Model name").fill("churn")
        page.get_by_label("Archive (.zip)").set_input_files(str(archive))
        page.get_by_label("Make it active: new uploads use it").check()
        shoot(page, "models-deploy.png", engine)
        page.get_by_role("button", name="Deploy").click()
        page.wait_for_url(base + "/models#model-churn")
        assert "Model churn version churn-typed-1" in page.locator(".flash-success").inner_text()
        assert page.locator("#model-churn h2").inner_text().startswith("churn")

        # A churn file while the default model is selected: the form switches to churn.
        source = tmp_path / "customers.csv"
        churn_frame(30, seed=5).to_csv(source, index=False)
        page.goto(base + "/jobs")
        assert page.locator("#model-select").input_value() == "breast-cancer"
        page.set_input_files("#file-input", str(source))
        hint = page.locator("#model-hint")
        hint.wait_for(state="visible")
        page.wait_for_function("document.querySelector('#model-hint').textContent.length > 0")
        assert hint.inner_text() == "This file’s header fits only model churn: it is selected now."
        assert page.locator("#model-select").input_value() == "churn"
        page.get_by_role("button", name="Upload and check").click()
        page.wait_for_url(base + "/jobs#job-*")
        flash = page.locator(".flash-success").inner_text()
        assert "“customers.csv” accepted (30 rows) for model churn version churn-typed-1" in flash
    finally:
        context.close()
