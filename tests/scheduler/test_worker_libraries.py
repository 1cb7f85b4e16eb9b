"""Issue 23: a model in a library's own format, deployed with the CLI (`deploy-model`) and scored
by a real worker process (`scheduler/process_pending.py`), answers what the library answers on
the same file read with the training dtypes (XGBoost on a pandas category column, its encoded
classes named by the schema's labels map)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.core.db import open_database
from app.core.jobs.listing import JobFilter, JobList
from app.core.jobs.records import Status
from tests.conftest import run_cli
from tests.model.test_conformance import resample, wine, write_schema


@pytest.mark.procs
def test_an_xgboost_json_model_deployed_with_the_cli_scores_like_xgboost(make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import xgboost

    X, y = wine()
    names = sorted(y.unique())
    model = xgboost.XGBClassifier(n_estimators=15, max_depth=3, enable_categorical=True, tree_method="hist",
                                  n_jobs=1).fit(X, y.map({n: k for k, n in enumerate(names)}))
    directory = write_schema(tmp_path / "xgb", model, X, "wine-xgb-cli",
                             labels={str(k): n for k, n in enumerate(names)})
    model.save_model(directory / "model.json")

    config, settings = make_config("sqlite")
    assert run_cli(config, "-m", "app", "setup").returncode == 0
    deployed = run_cli(config, "-m", "app", "deploy-model", str(directory), "--name", "wine", "--activate")
    assert deployed.returncode == 0, deployed.stderr
    source = resample(X, tmp_path / "wine.csv", rows=300)
    submitted = run_cli(config, "-m", "app", "submit", "admin", str(source), "--model", "wine")
    assert submitted.returncode == 0, submitted.stderr
    processed = run_cli(config, "scheduler/process_pending.py")
    assert processed.returncode == 0, processed.stderr

    db = open_database(settings)
    job = JobList(db).page(JobFilter())[0]
    db.close()
    assert job.status is Status.PROCESS_OK, job.error_message
    result = pd.read_csv(settings.output_dir / job.path_result_csv, dtype=str, keep_default_na=False,
                         encoding="utf-8-sig")
    frame = pd.read_csv(source).astype(X.dtypes.to_dict())
    codes = model.predict(frame)
    assert result["prediction"].tolist() == [names[k] for k in codes]
    proba = model.predict_proba(frame)[np.arange(len(codes)), codes]
    np.testing.assert_allclose(result["probability"].astype(float), proba, rtol=0, atol=1e-9)
    assert (result["row_status"] == "").all()
