"""`python -m app deploy-model | activate-model | models` and `setup` registering the default
model, as real subprocesses."""

from __future__ import annotations

import json
import shutil

from model.schema import SCHEMA_FILE
from tests.conftest import run_cli


def test_deploy_activate_and_list(make_config, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config, settings = make_config("sqlite")
    done = run_cli(config, "-m", "app", "deploy-model", str(model_dir), "--name", "churn", "--version", "v1",
                   "--activate")
    assert done.returncode == 0, done.stderr
    assert "deployed model churn version v1" in done.stdout and "active" in done.stdout
    assert (settings.models_dir / "churn" / "v1" / "model.joblib").is_file()
    done = run_cli(config, "-m", "app", "deploy-model", str(model_dir), "--name", "churn", "--version", "v2")
    assert done.returncode == 0 and "not active" in done.stdout, done.stderr

    again = run_cli(config, "-m", "app", "deploy-model", str(model_dir), "--name", "churn", "--version", "v1")
    assert again.returncode == 2 and "deployed already" in again.stderr and "Traceback" not in again.stderr
    bad = run_cli(config, "-m", "app", "deploy-model", str(tmp_path / "nothing"), "--name", "a/b")
    assert bad.returncode == 2 and "not allowed" in bad.stderr

    done = run_cli(config, "-m", "app", "activate-model", "churn", "v2")
    assert done.returncode == 0 and "version v2 is active" in done.stdout, done.stderr
    missing = run_cli(config, "-m", "app", "activate-model", "churn", "v9")
    assert missing.returncode == 2 and "no model churn version v9" in missing.stderr

    listed = run_cli(config, "-m", "app", "models")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "ACTIVE", "SHA256", "DEPLOYED", "AT", "BY"]
    v2, v1 = lines[1].split(), lines[2].split()
    assert v2[:3] == ["churn", "v2", "yes"] and v2[-1] == "(cli)" and len(v2[3]) == 12
    assert v1[:2] == ["churn", "v1"] and v1[2] != "yes"


def test_a_broken_model_directory_is_exit_2(make_config, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config, _ = make_config("sqlite")
    broken = shutil.copytree(model_dir, tmp_path / "broken")
    (broken / SCHEMA_FILE).write_text(json.dumps({"version": "x"}))
    done = run_cli(config, "-m", "app", "deploy-model", str(broken), "--name", "m")
    assert done.returncode == 2 and "no 'features' entry" in done.stderr and "Traceback" not in done.stderr


def test_setup_registers_the_default_model(make_config, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config, _ = make_config("sqlite")
    done = run_cli(config, "-m", "app", "setup")
    assert done.returncode == 0, done.stderr
    assert "model breast-cancer version breast-cancer-logreg-1 is active" in done.stdout
    listed = run_cli(config, "-m", "app", "models")
    assert listed.stdout.splitlines()[1].split()[:3] == ["breast-cancer", "breast-cancer-logreg-1", "yes"]


def test_deploy_model_takes_a_zip_too(make_config, model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config, settings = make_config("sqlite")
    archive = shutil.make_archive(str(tmp_path / "breast"), "zip", root_dir=model_dir.parent, base_dir=model_dir.name)
    done = run_cli(config, "-m", "app", "deploy-model", archive, "--name", "zipped", "--activate")
    assert done.returncode == 0, done.stderr
    assert "deployed model zipped version breast-cancer-logreg-1" in done.stdout
    assert (settings.models_dir / "zipped" / "breast-cancer-logreg-1" / "model.joblib").is_file()
    bomb = tmp_path / "junk.zip"
    bomb.write_bytes(b"not a zip at all")
    refused = run_cli(config, "-m", "app", "deploy-model", str(bomb), "--name", "junk")
    assert refused.returncode == 2 and "not a .zip archive" in refused.stderr and "Traceback" not in refused.stderr
