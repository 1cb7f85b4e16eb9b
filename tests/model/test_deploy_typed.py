"""Issue 10's "done when": a typed pipeline (every column type) deployed with `deploy-model`
beside the default model scores a CSV through the API exactly as the pipeline itself scores
`pd.read_csv` of that file, and the default model still scores its own files."""

from __future__ import annotations

import pandas as pd

from app.core.jobs.records import Status
from scheduler.worker import Worker
from tests.conftest import run_cli
from tests.model.test_typed_inputs import FEATURES, assert_same_answers, churn, churn_frame, expected  # noqa: F401


def test_a_deployed_typed_pipeline_scores_through_the_api_like_itself(
        make_config, engine, churn, tmp_path, make_csv) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 - the fixture
    from starlette.testclient import TestClient

    from app.core.accounts.tokens import Tokens
    from app.core.accounts.users import Users
    from app.core.db import open_database
    from app.web import create_app

    pipeline, directory = churn
    config, settings = make_config(engine)
    assert run_cli(config, "-m", "app", "setup").returncode == 0
    deployed = run_cli(config, "-m", "app", "deploy-model", str(directory), "--name", "churn", "--activate")
    assert deployed.returncode == 0, deployed.stderr
    db = open_database(settings)
    alice = Users(db).create("alice", "alice-password-1")
    source = tmp_path / "customers.csv"
    frame = churn_frame(300, seed=7, gaps=True)
    frame.to_csv(source, index=False)
    with TestClient(create_app(settings, db)) as client:
        headers = {"Authorization": f"Bearer {Tokens(db).create(alice.id, 'test')[0]}"}
        typed = client.post("/api/jobs", headers=headers, data={"model": "churn"},
                            files={"file": ("customers.csv", source.read_bytes(), "text/csv")})
        assert typed.status_code == 201, typed.text
        assert (typed.json()["model"], typed.json()["model_version"]) == ("churn", "churn-typed-1")
        plain = client.post("/api/jobs", headers=headers,
                            files={"file": ("patients.csv", make_csv(40).read_bytes(), "text/csv")})
        assert plain.status_code == 201 and plain.json()["model"] == "breast-cancer"
        worker = Worker(settings, db)
        assert worker.drain() and len(worker.jobs.pending_ids()) == 0
        for job_id in (typed.json()["id"], plain.json()["id"]):
            assert client.get(f"/api/jobs/{job_id}", headers=headers).json()["status"] == Status.PROCESS_OK.value
        result = client.get(f"/api/jobs/{typed.json()['id']}/result", headers=headers)
        assert result.status_code == 200
    (tmp_path / "result.xlsx").write_bytes(result.content)
    csv_name = worker.jobs.get(typed.json()["id"]).path_result_csv
    (tmp_path / "result.csv").write_bytes((settings.output_dir / csv_name).read_bytes())
    labels, probability = expected(pipeline, pd.read_csv(source, parse_dates=["signup"]))
    assert_same_answers(tmp_path / "result.xlsx", labels, probability, unscored=[0])  # row 0: every feature empty
    db.close()
